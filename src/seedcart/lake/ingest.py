"""From the durable intake log into the lake, exactly once, and the intake's lifecycle.

:class:`LakeFlusher` turns log entries into Parquet. Each step covers a log range ``(start, end]``
and writes, per table and UTC date, ``log-<node>-<start>-<end>.parquet``: the name is a function
of the range, so a step redone after a crash overwrites its own files instead of adding rows.
A step first saves the intent ``{"flushed": start, "pending": end}`` in the checkpoint file, then
writes the files, records the range's dedupe keys, and saves ``{"flushed": end}``; on start a
pending step is redone over exactly the same range, then everything up to the log's end is
flushed before the server answers a request.

:func:`open_intake` is the ``("intake", factory)`` service of the app (and what the CLI uses):
it opens the log, replays it into the lake, and flushes every ``flush_interval_s`` while serving,
in a process of its own (:mod:`seedcart.lake.flushworker`) unless ``intake.flush_process`` is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import ExitStack, asynccontextmanager
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from seedcart.catalog.db import Catalog
from seedcart.collect.dedupe import TOUCH, DedupeIndex, Retention, keys_by_family, touch_keys_of_table
from seedcart.collect.fields import now_us
from seedcart.collect.log import Cursor, DurableLog, iter_entries, iter_raw_entries
from seedcart.collect.service import IntakeService
from seedcart.config import Settings
from seedcart.errors import SchemaError
from seedcart.lake.compaction import merged_names
from seedcart.lake.flushworker import FlushWorker
from seedcart.lake.jsonrows import RecordsReader
from seedcart.lake.schemas import PARTITION_COLUMN, conform, schema_of
from seedcart.lake.writer import fsync_dir, partition_dir, split_by_date, write_parquet_atomic
from seedcart.tasks import cancel

logger = logging.getLogger(__name__)

CHECKPOINT = "lake-checkpoint.json"
_DAY_US = 86_400_000_000
#: Records converted to Arrow at a time (each slice holds the GIL for a few milliseconds at most).
_SLICE = 2048
_EPOCH_DATE = date(1970, 1, 1)
Entry = tuple[int, str, list[dict[str, Any]]]
#: A log entry with its records' JSON array undecoded (``seedcart.collect.log.iter_raw_entries``).
RawEntry = tuple[int, str, bytes]
#: Tables whose records a flush converts in C (``seedcart.lake.jsonrows``): the bulk of the log.
_READ_IN_C = frozenset({"touch"})


def _table_lock(root: str, table: str) -> contextlib.AbstractContextManager[None]:
    """The lake table lock compaction takes, when that module is present; a flush holds it per step."""
    try:
        from seedcart.lake.journal import table_lock
    except ImportError:  # pragma: no cover - older trees
        return contextlib.nullcontext()
    lock: contextlib.AbstractContextManager[None] = table_lock(root, table)
    return lock


def _from_json(schema: pa.Schema, records: list[dict[str, Any]]) -> pa.Table:
    """Records through Arrow's C++ JSON reader, the second way in when ``from_pylist`` refuses a batch;
    timestamps arrive as integer microseconds and are cast after reading."""
    as_ints = pa.schema([pa.field(f.name, pa.int64() if pa.types.is_timestamp(f.type) else f.type)
                         for f in schema])
    data = b"\n".join(orjson.dumps(r) for r in records)
    options = pa_json.ParseOptions(explicit_schema=as_ints, unexpected_field_behavior="ignore")
    read = pa_json.read_json(io.BytesIO(data), parse_options=options,
                             read_options=pa_json.ReadOptions(block_size=16 << 20))
    columns = [read.column(f.name).cast(f.type) if f.name in read.column_names else pa.nulls(read.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, names=schema.names)


def _from_pylist(schema: pa.Schema, records: list[dict[str, Any]]) -> pa.Table:
    """Records straight into Arrow arrays: about a third of the CPU time of the JSON round trip, which
    matters more than its wall time on a machine whose cores are busy taking requests. Converted in
    slices, so the event loop gets the GIL back between them (a flush step must not stall requests)."""
    if len(records) <= _SLICE:
        return pa.Table.from_pylist(records, schema=schema)
    return pa.concat_tables([pa.Table.from_pylist(records[i:i + _SLICE], schema=schema)
                             for i in range(0, len(records), _SLICE)])


def to_arrow(table: str, records: list[dict[str, Any]]) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Records as an Arrow table of the lake schema, plus quarantine rows for records that do not fit."""
    schema = schema_of(table)
    for convert in (_from_pylist, _from_json):  # then record by record, to find the ones that do not fit
        try:
            return conform(table, convert(schema, records)), []
        except (SchemaError, pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            continue
    good, bad = [], []
    for i, record in enumerate(records):
        try:
            conform(table, pa.Table.from_pylist([record], schema=schema))
            good.append(record)
        except (SchemaError, pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raw = orjson.dumps(record, default=str).decode()
            bad.append({"ts": record.get("received_at") if isinstance(record.get("received_at"), int) else 0,
                        "target": table, "endpoint": "log", "row": i, "reason": f"does not fit the schema: {exc}",
                        "raw": raw})
    logger.warning("log records refused by the %s schema: %d", table, len(bad))
    return conform(table, pa.Table.from_pylist(good, schema=schema)), bad


def _by_date(table: str, data: pa.Table) -> Iterable[tuple[str, pa.Table]]:
    """:func:`split_by_date`, answered from the column's min and max when every row has the same UTC
    date (the usual case for a flush step), which spares formatting a date per row."""
    if data.num_rows:
        bounds = pc.min_max(data.column(PARTITION_COLUMN[table]).cast(pa.int64()))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and high is not None and low // _DAY_US == high // _DAY_US:
            day = (_EPOCH_DATE + timedelta(days=low // _DAY_US)).isoformat()
            return [(day, data)]
    return split_by_date(table, data)


class LakeFlusher:
    """Moves log entries into lake Parquet files, idempotently, and keeps the dedupe index in step."""

    def __init__(self, log_dir: Path, lake_root: str, index: DedupeIndex, node_id: str, *,
                 max_records: int = 200_000) -> None:
        self.log_dir = Path(log_dir)
        self.lake_root = lake_root
        self.index = index
        self.node_id = node_id
        self.max_records = max_records
        self.path = self.log_dir / CHECKPOINT
        self.flushed, self.pending = self._load()
        self.rows_written = 0
        self.files_written = 0
        self.last_flush_at: float | None = None
        self.last_error: str | None = None
        self._cursor = Cursor()
        self._reader = RecordsReader()

    def _load(self) -> tuple[int, int | None]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0, None
        return int(data["flushed"]), data.get("pending")

    def _save(self, flushed: int, pending: int | None) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump({"flushed": flushed, "pending": pending, "node": self.node_id}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.log_dir)
        self.flushed, self.pending = flushed, pending

    def _entries(self, start: int, upto: int) -> Iterator[list[RawEntry]]:
        """Runs of whole entries after ``start`` up to ``upto``, each of about ``max_records`` records
        (an entry holds as many records as it moves the log position)."""
        run: list[RawEntry] = []
        count, before = 0, start
        for entry in iter_raw_entries(self.log_dir, start, upto, self._cursor):
            run.append(entry)
            count += entry[0] - before
            before = entry[0]
            if count >= self.max_records:
                yield run
                run, count = [], 0
        if run:
            yield run

    def recover(self, upto: int) -> int:
        """Bring the dedupe index up to the lake, then flush up to ``upto`` (redoing an interrupted step)."""
        if self.index.position < self.flushed:
            self.index.record(iter_entries(self.log_dir, self.index.position, self.flushed), self.flushed)
        return self.flush(upto)

    def flush(self, upto: int) -> int:
        """Write every log entry after the checkpoint up to position ``upto``; returns rows written.

        A step that failed or was cut short (its intent still in the checkpoint) is first redone
        over exactly its range, so its files are overwritten rather than added to."""
        try:
            written = 0
            if self.pending is not None:  # its rows are not counted again: they are (over)written in place
                logger.info("redoing the interrupted lake flush of log range (%d, %d]", self.flushed, self.pending)
                entries = list(iter_raw_entries(self.log_dir, self.flushed, self.pending))
                self._write(self.flushed, self.pending, entries, redo=True)
            for run in self._entries(self.flushed, upto):
                written += self._write(self.flushed, run[-1][0], run)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise
        self.last_error = None
        return written

    def _write(self, start: int, end: int, entries: list[RawEntry], *, redo: bool = False) -> int:
        """Write one step's files. ``redo``: the step was cut short, and a file it had written may since
        have been merged by compaction (which ran while no step held the locks): such a file is not
        written again, since its rows are in the merged file."""
        self._save(start, end)  # intent: a crash from here on redoes exactly (start, end]
        by_table: dict[str, list[bytes]] = defaultdict(list)
        for _end, table, array in entries:
            by_table[table].append(array)
        refused: list[dict[str, Any]] = []
        tables: dict[str, pa.Table] = {}
        keys: dict[str, list[str]] = {}
        for table, arrays in sorted(by_table.items()):
            data = self._reader.read(table, arrays) if table in _READ_IN_C else None
            if data is not None and table == "touch":
                keys[TOUCH] = touch_keys_of_table(data)
            else:  # record by record: finds and quarantines the records that do not fit
                records: list[dict[str, Any]] = [record for array in arrays for record in orjson.loads(array)]
                data, bad = to_arrow(table, records)
                refused.extend(bad)
                for family, found in keys_by_family([(0, table, records)]).items():
                    keys.setdefault(family, []).extend(found)
            tables[table] = data
        if refused:
            tables["quarantine"] = pa.concat_tables(
                [t for t in (tables.get("quarantine"), to_arrow("quarantine", refused)[0]) if t is not None])
        rows = 0
        name = f"log-{self.node_id}-{start:020d}-{end:020d}.parquet"
        with ExitStack() as stack:
            for table in sorted(tables):
                stack.enter_context(_table_lock(self.lake_root, table))
            for table, data in sorted(tables.items()):
                for day, part in _by_date(table, data):
                    partition = partition_dir(self.lake_root, table, day)
                    if redo and name in merged_names(partition):
                        continue
                    write_parquet_atomic(part, partition / name)
                    self.files_written += 1
                rows += data.num_rows
            self.index.record_keys(keys, end)
            self._save(end, None)
        self.rows_written += rows
        self.last_flush_at = time.time()
        logger.debug("flushed log range (%d, %d]: %d rows", start, end, rows)
        return rows

    def status(self) -> dict[str, Any]:
        """Checkpoint, rows and files written, and when the last flush ran."""
        return {"flushed": self.flushed, "pending": self.pending, "rows_written": self.rows_written,
                "files_written": self.files_written, "last_flush_at": self.last_flush_at,
                "last_error": self.last_error}


def _open(settings: Settings) -> tuple[DurableLog, DedupeIndex]:
    intake = settings.intake
    log = DurableLog(settings.log_dir, group_commit_ms=intake.group_commit_ms, queue_max=intake.queue_max,
                     segment_bytes=intake.segment_bytes)
    return log, DedupeIndex(settings.log_dir / "dedupe.sqlite", retention=Retention.from_settings(intake))


def warm_up() -> None:
    """Convert one record before serving: Arrow's first conversion from Python objects imports pandas
    (a second or more of CPU, holding the GIL), which must not land on the first flush under load."""
    us = now_us()
    to_arrow("touch", [{"event_id": "warm-up", "ts": us, "received_at": us, "kind": "impression",
                        "is_bot": False, "is_duplicate": False, "source": "api"}])


class Flusher(Protocol):
    """What the flush loop drives: a :class:`LakeFlusher` here, or one in a child process (FlushWorker)."""

    @property
    def flushed(self) -> int: ...

    def flush(self, upto: int) -> int: ...

    def status(self) -> dict[str, Any]: ...


async def _flush_loop(service: IntakeService, flusher: Flusher, interval_s: float) -> None:
    log = service.log
    while True:
        await asyncio.sleep(interval_s)
        await flush_now(service, flusher, log.fsynced_position)


async def flush_now(service: IntakeService, flusher: Flusher, upto: int) -> None:
    """One flush up to ``upto`` from a worker thread; errors are logged and retried on the next tick."""
    if upto <= flusher.flushed:
        return
    try:
        await asyncio.to_thread(flusher.flush, upto)
    except Exception:
        logger.exception("lake flush failed; retrying on the next tick")
        return
    service.dedupe.prune(flusher.flushed)
    service.log.delete_segments_before(min(flusher.flushed, service.dedupe.position))


@asynccontextmanager
async def open_intake(settings: Settings, catalog: Catalog, *, background: bool = True) -> AsyncIterator[IntakeService]:
    """The running intake: opens the log, replays it into the lake, flushes while open, drains on exit."""
    log, index = _open(settings)
    await log.start()
    try:
        new_flusher = partial(LakeFlusher, settings.log_dir, settings.resolved_lake_root, index, log.node_id,
                              max_records=settings.intake.flush_max_records)
        flusher = new_flusher()
        started = now_us()
        await asyncio.to_thread(warm_up)
        replayed = await asyncio.to_thread(flusher.recover, log.fsynced_position)
        if replayed:
            logger.info("replayed %d log records into the lake in %.1f s", replayed, (now_us() - started) / 1e6)
        index.load_filter(background=True)  # every key recorded so far, read while the server serves
        service = IntakeService(settings, catalog, log, index)
        runner: Flusher = flusher
        if background and settings.intake.flush_process:
            worker = FlushWorker(settings.log_dir, settings.resolved_lake_root, index.path, log.node_id,
                                 max_records=settings.intake.flush_max_records, status=flusher.status(),
                                 retention=index.retention)
            await asyncio.to_thread(worker.start)
            runner = worker
        service.flusher = runner
        task = asyncio.create_task(_flush_loop(service, runner, settings.intake.flush_interval_s)) \
            if background else None
        try:
            yield service
        finally:
            await cancel(task)
            await log.stop()
            if runner is not flusher:
                await asyncio.to_thread(worker.stop)
                flusher = new_flusher()  # the drain goes on here, from the checkpoint the worker left
                flusher.rows_written = worker.rows_written
                service.flusher = flusher
            await flush_now(service, flusher, log.fsynced_position)
    finally:
        await log.stop()
        index.close()


def load_backflow_file(settings: Settings, path: Path, *, partner: str, fmt: str | None = None,
                       declared_total: int | None = None) -> dict[str, Any]:
    """Load a backflow file without a server (``seedcart load backflow``): the same validation,
    quarantine, dedupe and reconciliation record as ``POST /v1/backflow/{partner}/files``, written
    through this data dir's log into the lake. Refused (Conflict) while a server holds the log."""
    from seedcart.catalog.db import open_catalog
    from seedcart.collect.files import load_file

    async def run() -> dict[str, Any]:
        catalog = open_catalog(settings)
        try:
            async with open_intake(settings, catalog, background=False) as service:
                return await load_file(service, Path(path), partner=partner, fmt=fmt, filename=Path(path).name,
                                       declared_total=declared_total, endpoint="seedcart load backflow")
        finally:
            catalog.close()

    return asyncio.run(run())
