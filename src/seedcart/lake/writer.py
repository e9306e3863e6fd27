"""Appending record batches to the lake as Parquet, hive-partitioned by table and UTC date.

Every file is committed atomically: written under a hidden temporary name, fsynced, renamed
into place, and the directory fsynced (and so is every directory created on the way). A reader
never sees a half-written file. Replacing a table swaps its files under intent journals
(``seedcart.lake.journal``), so a crash in the middle never shows a row twice.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seedcart.lake import journal
from seedcart.lake.journal import fsync_dir
from seedcart.lake.schemas import PARTITION_COLUMN, conform
from seedcart.types import Table

__all__ = ["ROW_GROUP_ROWS", "LakeWriter", "ensure_dir", "fsync_dir", "partition_dir", "split_by_date",
           "write_parquet_atomic"]

logger = logging.getLogger(__name__)

#: Row groups are kept this size so that readers can skip them by statistics.
ROW_GROUP_ROWS = 1 << 20


def partition_dir(root: str | Path, table: str, date: str) -> Path:
    """``<root>/<table>/date=<YYYY-MM-DD>``."""
    return Path(root) / table / f"date={date}"


def ensure_dir(path: Path) -> None:
    """Create ``path`` and its missing parents durably (each new entry fsynced in its parent)."""
    if path.is_dir():
        return
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        fsync_dir(directory.parent)


def write_parquet_atomic(data: pa.Table, path: Path, *, options: Mapping[str, Any] | None = None) -> None:
    """Write ``data`` to ``path`` through a hidden temp file, fsync, rename, fsync the directory.

    ``options`` are extra ``pyarrow.parquet.write_table`` keywords (e.g. ``use_dictionary``,
    ``write_statistics``), overriding the defaults (zstd, row groups of ``ROW_GROUP_ROWS``).
    """
    ensure_dir(path.parent)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    settings: dict[str, Any] = {"compression": "zstd", "row_group_size": ROW_GROUP_ROWS, **(options or {})}
    try:
        with open(tmp, "wb") as raw:
            pq.write_table(data, raw, **settings)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def split_by_date(table: str, data: pa.Table) -> Iterable[tuple[str, pa.Table]]:
    """Yield ``(YYYY-MM-DD, rows of that UTC date)`` for each date present in ``data``."""
    if data.num_rows == 0:
        return
    column = PARTITION_COLUMN[table]
    days = pc.strftime(data.column(column), format="%Y-%m-%d")
    if pc.min(days).as_py() == pc.max(days).as_py():
        yield str(days[0].as_py()), data
        return
    for day in pc.unique(days).to_pylist():
        yield str(day), data.filter(pc.equal(days, day))


class LakeWriter:
    """Appends rows to lake tables under ``root``.

    >>> writer = LakeWriter("/tmp/lake")
    >>> writer.append("touch", batch)          # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def append(self, table: Table | str, data: pa.Table | pa.RecordBatch, *,
               prefix: str = "part") -> list[Path]:
        """Conform ``data`` to the table's schema and commit it; returns the files written."""
        conformed = conform(table, data)
        written = []
        for day, rows in split_by_date(table, conformed):
            path = partition_dir(self.root, table, day) / f"{prefix}-{uuid.uuid4().hex}.parquet"
            write_parquet_atomic(rows, path)
            written.append(path)
        logger.debug("appended %d rows to %s in %d files", conformed.num_rows, table, len(written))
        return written

    def replace_table(self, table: Table | str, data: pa.Table | pa.RecordBatch, *,
                      prefix: str = "part") -> list[Path]:
        """Replace a derived table whole (e.g. a full credit rebuild): new files in, old ones out.

        Each partition switches from its old files to its new ones at one instant (when its new
        file is committed); a crash leaves it resolvable, and readers never see both.
        """
        conformed = conform(table, data)
        directory = self.root / table
        written: list[Path] = []
        with journal.table_lock(self.root, table):
            partitions = sorted(p for p in directory.glob("date=*") if p.is_dir())
            for partition in partitions:
                journal.recover(partition)
            old = {p.name: [f.name for f in journal.visible_files(p)] for p in partitions}
            txns = []
            for day, rows in split_by_date(table, conformed):
                partition = partition_dir(self.root, table, day)
                path = partition / f"{prefix}-{uuid.uuid4().hex}.parquet"
                txns.append(journal.begin(partition, kind="replace", inputs=old.pop(partition.name, []),
                                          outputs=[path.name]))
                write_parquet_atomic(rows, path)
                written.append(path)
            for name, files in old.items():  # partitions the new data no longer has
                if files:
                    txns.append(journal.begin(directory / name, kind="replace", inputs=files, outputs=[]))
            for txn in txns:
                journal.finish(txn)
        logger.debug("replaced %s with %d rows in %d files", table, conformed.num_rows, len(written))
        return written
