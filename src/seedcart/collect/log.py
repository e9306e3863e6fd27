"""The durable intake log: append-only segment files with group-commit fsync and a bounded queue.

Everything intake acknowledges goes through here first (DESIGN §4): a caller's ``append`` returns
only once its records are written and fsynced; many concurrent callers share one fsync.

On disk, ``<directory>/seg-<start>.log`` files, each a run of entries::

    header  = struct "<IIQ": payload length, CRC-32 of the payload, log position after the entry
    payload = orjson {"t": table, "r": [record, ...]}

The log position counts records: an entry holding ``n`` records moves it by ``n``; a segment is
named after the position before its first entry. ``<directory>/LOCK`` is held (flock) while a log
is open, so two processes never write the same directory.

The open segment is a :class:`~seedcart.collect.grownfile.GrownFile`: zeroed space is kept ahead
of its entries, so an append commits (an ``O_DSYNC`` write) without journaling a new file size. A header
of zeros ends a segment as the end of the file does (an entry is never empty); a segment is cut
back to its last entry when it is rolled or the log is closed. On start, a torn or corrupt tail of
the newest segment (a write cut short by a crash) is zeroed.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import logging
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from seedcart.collect.grownfile import GrownFile, zero_tail
from seedcart.errors import Backpressure, Conflict, StorageUnavailable

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<IIQ")
SEGMENT_GLOB = "seg-*.log"
#: Largest payload one entry may hold; a longer length in a header means a corrupt tail.
MAX_ENTRY_BYTES = 1 << 30


def segment_name(start: int) -> str:
    """The file name of a segment whose first entry follows position ``start``."""
    return f"seg-{start:020d}.log"


def segment_start(path: Path) -> int:
    """The position before the first entry of the segment at ``path``."""
    return int(path.stem.removeprefix("seg-"))


def list_segments(directory: Path) -> list[Path]:
    """The segment files of a log directory, oldest first."""
    return sorted(Path(directory).glob(SEGMENT_GLOB), key=segment_start)


def encode_entry(end: int, payload: bytes) -> bytes:
    """Header plus payload of one entry ending at position ``end``."""
    return HEADER.pack(len(payload), zlib.crc32(payload), end) + payload


def _scan(path: Path, offset: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """``(offset after the entry, end position, payload)`` for each whole, valid entry of a segment
    from byte ``offset`` (which must be an entry boundary)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            header = fh.read(HEADER.size)
            if len(header) < HEADER.size:
                return
            length, crc, end = HEADER.unpack(header)
            if length == 0 or length > MAX_ENTRY_BYTES:  # zeros: the space grown ahead of the entries
                return
            payload = fh.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return
            offset += HEADER.size + length
            yield offset, end, payload


@dataclass
class Cursor:
    """Where a reader stopped: the byte offset in a segment after the entry ending at ``position``.

    Pass the same cursor to successive :func:`iter_entries` calls so each resumes there instead of
    rescanning the segment from its start.
    """

    segment: str = ""
    offset: int = 0
    position: int = 0


def iter_entries(directory: Path, from_position: int = 0, to_position: int | None = None,
                 cursor: Cursor | None = None) -> Iterator[tuple[int, str, list[dict[str, Any]]]]:
    """Yield ``(end position, table, records)`` for each entry ending after ``from_position``.

    Stops after the entry ending at ``to_position`` (when given; pass the fsynced position to read
    only what was acknowledged) and at the first torn or corrupt entry.
    """
    segments = list_segments(directory)
    for i, path in enumerate(segments):
        if i + 1 < len(segments) and segment_start(segments[i + 1]) <= from_position:
            continue  # every entry of this segment ends at or before from_position
        start = 0
        if cursor is not None and cursor.segment == path.name and cursor.position <= from_position:
            start = cursor.offset
        for offset, end, payload in _scan(path, start):
            if to_position is not None and end > to_position:
                return
            if cursor is not None and end <= from_position:
                cursor.segment, cursor.offset, cursor.position = path.name, offset, end
            if end <= from_position:
                continue
            entry = orjson.loads(payload)
            if cursor is not None:
                cursor.segment, cursor.offset, cursor.position = path.name, offset, end
            yield end, entry["t"], entry["r"]


#: Told the outcome of an append, in the log's committer thread: ``(end position, None)`` once its
#: records are fsynced, ``(0, error)`` when they could not be written.
Done = Callable[[int, BaseException | None], None]


def _resolving(future: Future[int]) -> Done:
    """A :data:`Done` that settles ``future``."""

    def done(end: int, error: BaseException | None) -> None:
        if error is None:
            future.set_result(end)
        else:
            future.set_exception(error)

    return done


@dataclass
class _Pending:
    table: str
    payload: bytes
    count: int
    done: Done


class DurableLog:
    """Append-only segment files under a directory; group-commit fsync; bounded queue.

    >>> log = DurableLog(Path("/tmp/log"))     # doctest: +SKIP
    >>> await log.start()                      # doctest: +SKIP
    >>> await log.append("touch", [record])    # doctest: +SKIP
    """

    def __init__(self, directory: Path, *, group_commit_ms: float = 2.0, queue_max: int = 200_000,
                 segment_bytes: int = 64 << 20) -> None:
        self.directory = Path(directory)
        self.group_commit_s = max(0.0, group_commit_ms / 1000.0)
        self.queue_max = queue_max
        self.segment_bytes = segment_bytes
        self.node_id = ""
        self._lock = threading.Condition()
        self._pending: list[_Pending] = []
        self._eager = False  # a pending entry asked to be written without gathering
        self._queued = 0  # records waiting or being written
        self._position = 0  # after the last entry handed to the file
        self._fsynced = 0  # after the last entry known durable
        self._entries = 0
        self._fsyncs = 0
        self._file: GrownFile | None = None  # the open segment
        self._segment_start = 0
        self._lock_fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failed: BaseException | None = None
        self._oldest = 0.0  # time.monotonic() when the oldest pending entry was queued

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open or create the current segment (truncating a torn tail) and start the committer."""
        await asyncio.to_thread(self.start_sync)

    def start_sync(self) -> None:
        """``start`` for callers without an event loop (the CLI, tests)."""
        if self._thread is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise Conflict(f"the intake log at {self.directory} is open in another process "
                           "(is a seedcart server running on this data dir?)", directory=str(self.directory)) from None
        self.node_id = self._load_node_id()
        self._recover()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="seedcart-log-committer", daemon=True)
        self._thread.start()
        logger.info("log %s open at position %d", self.directory, self._position)

    async def stop(self) -> None:
        """Drain pending appends, fsync, close."""
        await asyncio.to_thread(self.stop_sync)

    def stop_sync(self) -> None:
        """``stop`` for callers without an event loop."""
        thread = self._thread
        if thread is None:
            return
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        thread.join()
        self._thread = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        logger.info("log %s closed at position %d", self.directory, self._fsynced)

    # -- appending -------------------------------------------------------------------------------

    def _enqueue(self, table: str, records: list[dict[str, Any]], done: Done, *, eager: bool = False) -> None:
        payload = orjson.dumps({"t": table, "r": records})
        item = _Pending(table=table, payload=payload, count=len(records), done=done)
        with self._lock:
            if self._failed is not None:
                raise StorageUnavailable(f"the intake log cannot write: {self._failed}",
                                         directory=str(self.directory))
            if self._thread is None or self._stopping:
                raise StorageUnavailable("the intake log is not running", directory=str(self.directory))
            if self._queued and self._queued + item.count > self.queue_max:
                raise Backpressure(f"the intake log queue is full ({self._queued} records waiting)",
                                   retry_after=1.0, queued=self._queued)
            self._queued += item.count
            if not self._pending:
                self._oldest = time.monotonic()
            self._eager = self._eager or eager
            self._pending.append(item)
            self._lock.notify()

    async def append(self, table: str, records: list[dict[str, Any]]) -> int:
        """Returns (the log position after the write) only once the records are written AND fsynced.

        Many concurrent callers share one fsync (group commit). Raises seedcart.errors.Backpressure
        (retry_after seconds) when more than queue_max records are waiting; never grows unbounded.
        """
        return await asyncio.wrap_future(self._submit(table, records))

    def append_sync(self, table: str, records: list[dict[str, Any]]) -> int:
        """``append`` from a thread: blocks until written and fsynced."""
        return self._submit(table, records).result()

    def _submit(self, table: str, records: list[dict[str, Any]]) -> Future[int]:
        """The future of the position after ``records`` once fsynced (at once when there are none)."""
        future: Future[int] = Future()
        if records:
            self._enqueue(table, records, _resolving(future))
        else:
            future.set_result(self._fsynced)
        return future

    def append_soon(self, table: str, records: list[dict[str, Any]], done: Done) -> None:
        """Queue ``records`` as one entry, written without waiting for more to gather, and return at
        once; ``done`` is called in the committer thread with the outcome (see :data:`Done`).

        For a caller that gathers its appends itself and keeps handing entries over while earlier
        ones are being written (the click redirect): the committer writes whatever queued during
        its last fsync in the next one, back to back, without a round trip through the caller's
        event loop between writes. Raises Backpressure or StorageUnavailable at once, as ``append``
        does; ``done`` is then never called. No records: ``done`` is called at once, here."""
        if not records:
            done(self._fsynced, None)
            return
        self._enqueue(table, records, done, eager=True)

    # -- state -----------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """Position after the last entry written (not necessarily fsynced yet)."""
        return self._position

    @property
    def queue_depth(self) -> int:
        """Records waiting to be written and fsynced."""
        return self._queued

    @property
    def fsynced_position(self) -> int:
        """Position after the last entry known durable: everything acknowledged is at or before it."""
        return self._fsynced

    def status(self) -> dict[str, Any]:
        """Position, fsynced position, segments, queue depth."""
        return {
            "node": self.node_id,
            "position": self._position,
            "fsynced": self._fsynced,
            "segments": len(list_segments(self.directory)),
            "queue_depth": self._queued,
            "queue_max": self.queue_max,
            "entries": self._entries,
            "fsyncs": self._fsyncs,
            "running": self._thread is not None,
        }

    def delete_segments_before(self, position: int) -> int:
        """Delete whole segments every entry of which ends at or before ``position``; returns how many."""
        segments = list_segments(self.directory)
        removed = 0
        for path, following in itertools.pairwise(segments):
            if segment_start(following) <= position:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- internals -------------------------------------------------------------------------------

    def _load_node_id(self) -> str:
        path = self.directory / "node_id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            value = secrets.token_hex(4)
            path.write_text(value)
            return value

    def _recover(self) -> None:
        """Find the end of the log, zeroing a torn tail of the newest segment."""
        segments = list_segments(self.directory)
        if not segments:
            self._open_segment(0)
            return
        newest = segments[-1]
        good, end = 0, segment_start(newest)
        for offset, entry_end, _payload in _scan(newest):
            good, end = offset, entry_end
        torn = zero_tail(newest, good)
        if torn:
            logger.warning("log segment %s: zeroed a torn tail of %d bytes", newest.name, torn)
        self._position = self._fsynced = end
        self._segment_start = segment_start(newest)
        self._file = GrownFile(newest, good)

    def _open_segment(self, start: int) -> None:
        if self._file is not None:
            self._file.close()  # cut back to its entries, fsynced
        self._file = GrownFile(self.directory / segment_name(start), 0)
        self._segment_start = start
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if not self._pending and self._stopping:
                    return
                oldest, eager = self._oldest, self._eager
            # Gather until the oldest waiting entry has waited group_commit_s: entries that queued
            # up during the previous fsync have waited already and are written at once, as is an
            # entry its caller gathered (append_soon).
            wait = 0.0 if eager else self.group_commit_s - (time.monotonic() - oldest)
            if wait > 0 and not self._stopping:
                time.sleep(wait)
            with self._lock:
                batch, self._pending, self._eager = self._pending, [], False
            outcomes: list[tuple[_Pending, int, BaseException | None]]
            try:
                if self._failed is not None:  # entries queued before an earlier write failed
                    raise self._failed
                ends = self._write_entries([(item.payload, item.count) for item in batch])
                outcomes = [(item, end, None) for item, end in zip(batch, ends, strict=True)]
            except BaseException as exc:  # the disk failed: refuse further writes, fail the waiters
                logger.exception("intake log write failed")
                error = StorageUnavailable(f"the intake log cannot write: {exc}", directory=str(self.directory))
                outcomes = [(item, 0, error) for item in batch]
                with self._lock:
                    self._failed = exc
            with self._lock:
                self._queued -= sum(item.count for item in batch)
            for item, end, failure in outcomes:
                try:
                    item.done(end, failure)
                except Exception:  # one caller's callback failing must not stop the committer
                    logger.exception("an intake log append's callback failed")

    def _write_entries(self, entries: list[tuple[bytes, int]]) -> list[int]:
        """Write ``(payload, record count)`` entries, rolling segments as they fill, and make them
        durable; the end position of each. Only the committer thread writes."""
        assert self._file is not None
        ends: list[int] = []
        chunks: list[bytes] = []
        position = self._position
        written = self._file.size
        for payload, count in entries:
            if written >= self.segment_bytes:
                self._file.write(b"".join(chunks))
                chunks = []
                self._open_segment(position)  # cuts and fsyncs the full one
                written = 0
            position += count
            data = encode_entry(position, payload)
            chunks.append(data)
            written += len(data)
            ends.append(position)
        self._file.write(b"".join(chunks))  # durable when it returns (O_DSYNC)
        self._position = position
        with self._lock:
            self._fsynced = position
            self._entries += len(entries)
            self._fsyncs += 1
        return ends
