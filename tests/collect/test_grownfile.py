"""GrownFile: appends land exactly where they should while zeros are added ahead of them, by the
grower thread or by the writer that catches up; close cuts the file back; a torn tail is zeroed."""

from __future__ import annotations

import os
import random
from pathlib import Path

from seedcart.collect.grownfile import GROW_MAX, GROW_MIN, GrownFile, zero_tail


def test_appends_read_back_exactly_while_the_file_grows_in_steps(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "seg"
    grown = GrownFile(path, 0)
    expected = bytearray()
    sizes = set()
    for i in range(3000):  # small and large writes: the grower and the writer both grow the file
        data = bytes([i % 251 + 1]) * rng.choice((1, 37, 900, 5000, 70_000))
        grown.write(data)
        expected += data
        sizes.add(os.stat(path).st_size)
        assert os.stat(path).st_size >= len(expected)
    assert max(sizes) > len(expected)  # zeros kept ahead while open
    assert len(sizes) > 3  # grown in steps, not once
    grown.close()
    assert path.read_bytes() == bytes(expected)  # cut back to what was written
    grown.close()  # idempotent


def test_reopening_appends_after_what_was_written_and_over_the_zeros(tmp_path: Path) -> None:
    path = tmp_path / "seg"
    path.write_bytes(b"abc" + bytes(GROW_MIN))  # a crash left zeros after three bytes
    grown = GrownFile(path, 3)
    grown.write(b"defg")
    grown.close()
    assert path.read_bytes() == b"abcdefg"


def test_the_zeros_ahead_grow_with_the_writer_and_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "seg"
    grown = GrownFile(path, 0)
    chunk = b"x" * (1 << 20)
    ahead = []
    for i in range(1, 41):
        grown.write(chunk)
        ahead.append(os.stat(path).st_size - i * len(chunk))
    grown.close()
    assert max(ahead) > 2 * GROW_MIN  # steps double as the writer keeps writing (whether or not the
    assert max(ahead) <= 2 * GROW_MAX  # grower thread got to run meanwhile), but never run far ahead


def test_zero_tail_zeroes_a_torn_write_and_counts_it(tmp_path: Path) -> None:
    path = tmp_path / "seg"
    path.write_bytes(b"good" + b"torn!" + bytes(100) + b"x" + bytes(50))
    assert zero_tail(path, 4) == 106  # up to the last non-zero byte
    assert path.read_bytes() == b"good" + bytes(156)
    assert zero_tail(path, 4) == 0
