"""Upload spools: encrypted on disk with an in-memory key, readable (and seekable) in clear."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from seedcart.collect.files import iter_rows, sniff_format
from seedcart.collect.spool import BLOCK, SpoolWriter, open_clear

PHONE = b"13912345678"


def spool(tmp_path: Path, data: bytes, chunk: int = 7777) -> tuple[Path, bytes]:
    writer = SpoolWriter(tmp_path / "upload")
    for i in range(0, len(data), chunk):
        writer.write(data[i:i + chunk])
    writer.close()
    return writer.path, writer.key


def test_raw_identifiers_are_not_on_disk_and_read_back_exactly(tmp_path: Path) -> None:
    data = (b"event_id,identifiers.phone\n" + b"".join(b"e%d,%s\n" % (i, PHONE) for i in range(200_000)))
    assert len(data) > 2 * BLOCK  # crosses keystream blocks
    path, key = spool(tmp_path, data)
    assert PHONE not in path.read_bytes()
    with open_clear(path, key) as fh:
        assert fh.read() == data
        fh.seek(BLOCK - 3)
        assert fh.read(10) == data[BLOCK - 3:BLOCK + 7]
    rows = list(iter_rows(path, sniff_format(path, None, key), key))
    assert len(rows) == 200_000 and rows[-1] == {"event_id": "e199999", "identifiers.phone": PHONE.decode()}


def test_parquet_spools_are_read_through_the_decrypting_reader(tmp_path: Path) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"event_id": ["a", "b"], "amount": [1, 2]}), sink)
    path, key = spool(tmp_path, sink.getvalue(), chunk=100)
    assert sniff_format(path, None, key) == "parquet"
    assert [r["event_id"] for r in iter_rows(path, "parquet", key)] == ["a", "b"]
