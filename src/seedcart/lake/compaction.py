"""Compaction: merging the small files of each lake partition into larger ones.

Intake and the flusher append many small files (one per flush per day); readers pay for each.
``compact(root, table)`` merges, in every ``date=`` partition holding at least ``min_files``
files smaller than ``target_bytes``, those files into merged files of about ``target_bytes``.

Crash safety (see ``seedcart.lake.journal``): for each merge, an intent journal naming the
inputs and the merged file is written first; the merged file is committed atomically under a
new name; then the inputs and the journal are deleted. A crash at any point is repaired by the
next run, which rolls each journal forward (merged file complete: delete the inputs) or back
(merged file absent: delete any partial output). Readers resolve journals the same way, so no
row is ever read twice or lost, before or after the repair. Compactions of a table are
serialised by the table lock; appends go on beside them (they only add files).

A merged file names its inputs in its Parquet metadata (:func:`compacted_from`), so a reader that
has already processed those inputs (the attribution service) can tell that it holds nothing new.
The server compacts the input tables on a schedule (:func:`compaction_service`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from seedcart.config import Settings
from seedcart.errors import ValidationError
from seedcart.lake import journal
from seedcart.lake.schemas import SCHEMAS, conform
from seedcart.lake.writer import write_parquet_atomic
from seedcart.tasks import cancel

logger = logging.getLogger(__name__)

#: Default size of a merged file, and the size under which a file counts as small.
TARGET_BYTES = 128 << 20
#: Default number of small files a partition needs before it is compacted.
MIN_FILES = 8
#: Parquet metadata key of a merged file: the JSON list of the file names it was merged from.
SOURCES_KEY = b"seedcart.compacted_from"
_PREFIX = "compact-"
#: The tables the server compacts: those intake appends to.
SCHEDULED_TABLES = ("touch", "backflow", "identity", "quarantine")


@dataclass
class CompactionReport:
    """What one ``compact`` call did."""

    table: str
    partitions_seen: int = 0
    partitions_compacted: int = 0
    files_in: int = 0
    files_out: int = 0
    rows: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    #: Journals left by an interrupted run and resolved at the start of this one.
    recovered: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _crash_point(step: str) -> None:
    """A named point between the steps of a merge; tests replace it to simulate a crash there."""


def _groups(files: list[Path], target_bytes: int) -> Iterator[list[Path]]:
    """Consecutive runs of files whose sizes add up to about ``target_bytes`` each."""
    group: list[Path] = []
    size = 0
    for path in files:
        file_size = path.stat().st_size
        if group and size + file_size > target_bytes:
            yield group
            group, size = [], 0
        group.append(path)
        size += file_size
    if group:
        yield group


def _read(table: str, path: Path) -> pa.Table:
    data = pq.read_table(path)
    return conform(table, data) if table in SCHEMAS else data


def _merge(table: str, partition: Path, inputs: list[Path], report: CompactionReport) -> None:
    data = pa.concat_tables([_read(table, path) for path in inputs], promote_options="default")
    sources = json.dumps([p.name for p in inputs]).encode()
    data = data.replace_schema_metadata({**(data.schema.metadata or {}), SOURCES_KEY: sources})
    output = partition / f"{_PREFIX}{uuid.uuid4().hex}.parquet"
    txn = journal.begin(partition, kind="compact", inputs=[p.name for p in inputs], outputs=[output.name],
                        rows=data.num_rows)
    _crash_point("journal_written")
    bytes_in = sum(p.stat().st_size for p in inputs)
    write_parquet_atomic(data, output)
    _crash_point("output_committed")
    journal.finish(txn, step=_crash_point)
    report.files_in += len(inputs)
    report.files_out += 1
    report.rows += data.num_rows
    report.bytes_in += bytes_in
    report.bytes_out += output.stat().st_size


def compacted_from(path: Path) -> tuple[Path, ...]:
    """The files a compaction merged into ``path`` (in the same partition); () for any other file."""
    if not path.name.startswith(_PREFIX):
        return ()
    metadata = pq.read_schema(path).metadata or {}
    names = json.loads(metadata.get(SOURCES_KEY, b"[]"))
    return tuple(path.parent / str(name) for name in names)


def merged_names(partition: Path) -> set[str]:
    """The names of the files merged into the partition's compacted files (read under the table lock)."""
    return {source.name for path in journal.visible_files(partition) for source in compacted_from(path)}


def recover(root: str | Path, table: str) -> int:
    """Resolve what interrupted compactions or replacements left in ``table``; returns the count."""
    with journal.table_lock(root, table):
        return _recover(Path(root) / table)


def _recover(directory: Path) -> int:
    return sum(journal.recover(p) for p in sorted(directory.glob("date=*")) if p.is_dir())


def compact(root: str | Path, table: str, *, min_files: int = MIN_FILES,
            target_bytes: int = TARGET_BYTES) -> CompactionReport:
    """Merge the small files of each partition of ``table`` under ``root``; see the module docs."""
    if min_files < 2:
        raise ValidationError(f"min_files must be at least 2, got {min_files}", field="min_files")
    if target_bytes < 1:
        raise ValidationError(f"target_bytes must be positive, got {target_bytes}", field="target_bytes")
    report = CompactionReport(table=table)
    directory = Path(root) / table
    if not directory.is_dir():
        return report
    with journal.table_lock(root, table):
        report.recovered = _recover(directory)
        for partition in sorted(p for p in directory.glob("date=*") if p.is_dir()):
            report.partitions_seen += 1
            small = [f for f in journal.visible_files(partition) if f.stat().st_size < target_bytes]
            if len(small) < min_files:
                continue
            merged_any = False
            for group in _groups(small, target_bytes):
                if len(group) > 1:
                    _merge(table, partition, group, report)
                    merged_any = True
            report.partitions_compacted += merged_any
    logger.info("compacted %s: %d files into %d in %d partitions (%d journals recovered)", table,
                report.files_in, report.files_out, report.partitions_compacted, report.recovered)
    return report


def compact_lake(root: str | Path, *, tables: Iterable[str] | None = None, min_files: int = MIN_FILES,
                 target_bytes: int = TARGET_BYTES) -> list[CompactionReport]:
    """Compact every table under ``root`` (or only ``tables``); one report per table."""
    base = Path(root)
    names = sorted(p.name for p in base.iterdir() if p.is_dir()) if tables is None and base.is_dir() \
        else sorted(tables or ())
    return [compact(base, name, min_files=min_files, target_bytes=target_bytes) for name in names]


class Compactor:
    """The server's scheduled compaction of the input tables (``intake.compact_every``)."""

    def __init__(self, root: str | Path, every_s: float, min_files: int = MIN_FILES) -> None:
        self.root = Path(root)
        self.every_s = every_s
        self.min_files = min_files
        self.runs = 0
        self.files_in = 0
        self.files_out = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> list[CompactionReport]:
        """Compact every scheduled table once; failures are kept for ``status()``, never raised."""
        try:
            reports = compact_lake(self.root, tables=SCHEDULED_TABLES, min_files=self.min_files)
        except Exception as exc:  # keep serving: the next run tries again
            logger.exception("scheduled compaction failed")
            self.last_error = f"{type(exc).__name__}: {exc}"
            return []
        self.runs += 1
        self.last_error = None
        self.files_in += sum(r.files_in for r in reports)
        self.files_out += sum(r.files_out for r in reports)
        return reports

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await asyncio.to_thread(self.run_once)

    def start(self) -> None:
        """Compact every ``every_s`` in the running event loop (never when it is 0)."""
        if self.every_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the schedule (a run in progress finishes in its thread)."""
        await cancel(self._task)

    def status(self) -> dict[str, Any]:
        """Runs so far, files merged and written, the last error."""
        return {"every_s": self.every_s, "runs": self.runs, "files_in": self.files_in, "files_out": self.files_out,
                "last_error": self.last_error}


@asynccontextmanager
async def compaction_service(settings: Settings, catalog: Any) -> AsyncIterator[Compactor]:
    """The ``compaction`` service of the app: compacts the input tables every ``intake.compact_every``
    (never when it is 0)."""
    compactor = Compactor(settings.resolved_lake_root, settings.intake.compact_every.total_seconds(),
                          settings.intake.compact_min_files)
    compactor.start()
    try:
        yield compactor
    finally:
        await compactor.stop()
