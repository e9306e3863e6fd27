"""The vectorised id builders agree with plain Python formatting."""

from __future__ import annotations

import numpy as np
import pytest

from seedcart.sim.ids import hex_ids, hex_strings


def test_hex_strings_are_16_lower_case_hex_characters() -> None:
    values = np.array([0, 1, 0xFFFF, 0x10000, 0x0123456789ABCDEF, 2**64 - 1], dtype=np.uint64)
    values = np.concatenate([values, np.random.default_rng(3).integers(0, 2**63, size=1000).astype(np.uint64)])
    out = hex_strings(values)
    out.validate(full=True)
    assert out.to_pylist() == [f"{int(v):016x}" for v in values]


@pytest.mark.parametrize(("tag", "count", "first"), [(0, 0, 0), (0xDEADBEEF, 5, 0), (7, 70_000, 65_530),
                                                      (0xFFFFFFFF, 10, 2**32 - 5)])
def test_hex_ids_are_the_tag_then_the_row(tag: int, count: int, first: int) -> None:
    out = hex_ids(tag, count, first)
    out.validate(full=True)
    assert out.to_pylist() == [f"{tag:08x}{(first + i) & 0xFFFFFFFF:08x}" for i in range(count)]
