"""The durable intake log: append-only segment files with group-commit fsync and a bounded queue.

Everything intake acknowledges goes through here first (DESIGN §4): a caller's ``append`` returns
only once its records are written and fsynced; many concurrent callers share one fsync.

On disk, ``<directory>/seg-<start>.log`` files, each a run of entries::

    header  = struct "<IIQ": payload length, CRC-32 of the payload, log position after the entry
    payload = orjson {"t": table, "r": [record, ...]}   (encode_payload: exactly these bytes, in this order)

The log position counts records: an entry holding ``n`` records moves it by ``n``; a segment is
named after the position before its first entry. ``<directory>/LOCK`` is held (flock) while a log
is open, so two processes never write the same directory.

The open segment is a :class:`~seedcart.collect.grownfile.GrownFile`: zeroed space is kept ahead
of its entries, so an append's fdatasync (done by the fsync helper, :mod:`seedcart.collect.syncer`)
journals no new file size. A header
of zeros ends a segment as the end of the file does (an entry is never empty); a segment is cut
back to its last entry when it is rolled or the log is closed. On start, a torn or corrupt tail of
the newest segment (a write cut short by a crash) is zeroed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import itertools
import logging
import os
import secrets
import socket
import struct
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeAlias

import msgspec
import orjson

from seedcart.collect import syncer
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


#: A record appended to the log: a dict, or a struct whose fields are its columns (the Segment
#: endpoints' ``TouchRecord``); either way it is written as a JSON object.
Record: TypeAlias = dict[str, Any] | msgspec.Struct
_RECORDS: Final = msgspec.json.Encoder()


def encode_payload(table: str, records: Sequence[Record]) -> bytes:
    """An entry's payload: ``{"t":<table>,"r":<records>}``, compact, the table first (what
    :func:`split_payload` cuts back apart without decoding the records)."""
    return b'{"t":' + orjson.dumps(table) + b',"r":' + _RECORDS.encode(records) + b"}"


def split_payload(payload: bytes) -> tuple[str, bytes]:
    """``(table, the records' JSON array)`` of a payload, the array's bytes not decoded. A payload not
    laid out as :func:`encode_payload` lays it out (a table name with escapes in it, say) is decoded and
    its records encoded again; one that is not an entry at all raises ValueError."""
    if payload.startswith(b'{"t":"') and payload.endswith(b"]}"):
        close = payload.find(b'"', 6)
        if close > 6 and payload.startswith(b',"r":[', close + 1) and b"\\" not in payload[6:close]:
            return payload[6:close].decode(), payload[close + 6:-1]
    entry = orjson.loads(payload)
    if not isinstance(entry, dict) or not isinstance(entry.get("t"), str) or not isinstance(entry.get("r"), list):
        raise ValueError("a log entry's payload must be {\"t\": table, \"r\": [records]}")
    return entry["t"], orjson.dumps(entry["r"])


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


def iter_raw_entries(directory: Path, from_position: int = 0, to_position: int | None = None,
                     cursor: Cursor | None = None) -> Iterator[tuple[int, str, bytes]]:
    """Yield ``(end position, table, the records' JSON array)`` for each entry ending after
    ``from_position``, the records not decoded (:func:`split_payload`).

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
            table, records = split_payload(payload)
            if cursor is not None:
                cursor.segment, cursor.offset, cursor.position = path.name, offset, end
            yield end, table, records


def iter_entries(directory: Path, from_position: int = 0, to_position: int | None = None,
                 cursor: Cursor | None = None) -> Iterator[tuple[int, str, list[dict[str, Any]]]]:
    """:func:`iter_raw_entries` with each entry's records decoded: ``(end position, table, records)``."""
    for end, table, records in iter_raw_entries(directory, from_position, to_position, cursor):
        yield end, table, orjson.loads(records)


#: Told the outcome of an append, in the thread of the event loop the log writes from:
#: ``(end position, None)`` once its records are fsynced, ``(0, error)`` when they could not be.
Done = Callable[[int, BaseException | None], None]


@dataclass
class _Unsynced:
    """An entry written into the page cache, waiting for the fsync helper."""

    seq: int  # the write's number: settled by a reply at or past it
    end: int  # log position after the entry
    count: int
    done: Done


class DurableLog:
    """Append-only segment files under a directory; group-commit fsync; bounded queue.

    The log writes from one event loop: the loop that ran :meth:`start` (the server's), or a loop
    of its own in a thread for callers without one (:meth:`start_sync`, then :meth:`append_sync`).
    Each append is written into the page cache at once, in that loop; a child process
    (:mod:`seedcart.collect.syncer`) fdatasyncs the segment and the appends it covered are then
    settled. The helper reads every request waiting before each fdatasync, so appends written
    during one share the next (group commit). An :meth:`append` asks at most one fsync at a time
    and the first after a quiet spell waits up to ``group_commit_ms`` for others to join it; an
    :meth:`append_soon` (gathered by its caller) asks at once, so the disk works back to back
    without waiting for this loop to read the last answer.

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
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop every write happens in
        self._own_loop: threading.Thread | None = None  # start_sync's thread running that loop
        self._helper: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._replies = b""  # part of a reply read so far
        self._new_fd: int | None = None  # a segment the helper has not been sent yet
        self._new_dir_fd: int | None = None  # its directory, when the helper is to fsync that too
        self._unsynced: collections.deque[_Unsynced] = collections.deque()
        self._written_seq = 0  # number of the last write
        self._asked_seq = 0  # the last write the helper was asked to sync
        self._synced_seq = 0  # the last write known durable
        self._timer: asyncio.TimerHandle | None = None  # the group-commit wait
        self._idle: asyncio.Future[None] | None = None  # what stop waits on
        self._queued = 0  # records written, not yet durable
        self._position = 0  # after the last entry written
        self._fsynced = 0  # after the last entry known durable
        self._entries = 0
        self._fsyncs = 0
        self._file: GrownFile | None = None  # the open segment
        self._segment_start = 0
        self._lock_fd: int | None = None
        self._stopping = False
        self._failed: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open or create the current segment (zeroing a torn tail), start the fsync helper, and write
        from the running loop from now on."""
        if self._loop is not None:
            return
        await asyncio.to_thread(self._open)
        try:
            helper, sock = await asyncio.to_thread(syncer.spawn)
        except BaseException:
            self._close_files()
            raise
        sock.setblocking(False)
        self._helper, self._sock = helper, sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._on_replies)
        self._stopping = False
        logger.info("log %s open at position %d (fsync helper pid %d)", self.directory, self._position, helper.pid)

    def start_sync(self) -> None:
        """``start`` for callers without an event loop (the CLI, tests): the log runs a loop of its own,
        in a thread, until :meth:`stop_sync`."""
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="seedcart-log-loop", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            raise
        self._own_loop = thread

    async def stop(self) -> None:
        """Refuse new appends, wait until the written ones are durable, stop the helper, close."""
        loop = self._loop
        if loop is None:
            return
        if asyncio.get_running_loop() is not loop:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.stop(), loop))
            return
        self._stopping = True
        if self._unsynced and self._failed is None:
            self._ask()
            if self._idle is None or self._idle.done():  # a concurrent stop waits on the same one
                self._idle = loop.create_future()
            await self._idle
        if self._loop is None:  # a concurrent stop finished meanwhile
            return
        self._loop = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sock is not None:
            loop.remove_reader(self._sock.fileno())
        await asyncio.to_thread(self._close_helper)
        await asyncio.to_thread(self._close_files)
        logger.info("log %s closed at position %d", self.directory, self._fsynced)

    def stop_sync(self) -> None:
        """``stop`` for callers without an event loop."""
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
        thread, self._own_loop = self._own_loop, None
        if thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    # -- appending -------------------------------------------------------------------------------

    async def append(self, table: str, records: Sequence[Record]) -> int:
        """Returns (the log position after the write) only once the records are written AND fsynced.

        Many concurrent callers share one fsync (group commit). Raises seedcart.errors.Backpressure
        (retry_after seconds) when more than queue_max records are waiting; never grows unbounded.
        """
        if not records:
            return self._fsynced
        loop = asyncio.get_running_loop()
        if self._loop is not None and loop is not self._loop:  # a caller on another loop
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.append(table, records), self._loop))
        future: asyncio.Future[int] = loop.create_future()
        self._write(table, records, _settling(future), eager=False)
        return await future

    def append_sync(self, table: str, records: Sequence[Record]) -> int:
        """``append`` from a thread other than the log's loop: blocks until written and fsynced."""
        loop = self._loop
        if loop is None:
            raise StorageUnavailable("the intake log is not running", directory=str(self.directory))
        if asyncio._get_running_loop() is loop:
            raise RuntimeError("append_sync would block the log's own event loop: await append instead")
        return asyncio.run_coroutine_threadsafe(self.append(table, records), loop).result()

    def append_soon(self, table: str, records: Sequence[Record], done: Done) -> None:
        """Write ``records`` as one entry now, ask for its fsync without waiting for more to gather, and
        return; ``done`` is called in this loop with the outcome (see :data:`Done`). Only from the
        log's event loop.

        For a caller that gathers its appends itself (the click redirect). Raises Backpressure or
        StorageUnavailable at once, as ``append`` does; ``done`` is then never called. No records:
        ``done`` is called at once, here."""
        if not records:
            done(self._fsynced, None)
            return
        if self._loop is not None and asyncio._get_running_loop() is not self._loop:
            raise RuntimeError("append_soon is called from the log's own event loop only")
        self._write(table, records, done, eager=True)

    def _write(self, table: str, records: Sequence[Record], done: Done, *, eager: bool) -> None:
        """Write one entry into the segment (the page cache), in the log's loop, and see to its fsync."""
        if self._failed is not None:
            raise StorageUnavailable(f"the intake log cannot write: {self._failed}", directory=str(self.directory))
        if self._loop is None or self._stopping or self._file is None:
            raise StorageUnavailable("the intake log is not running", directory=str(self.directory))
        count = len(records)
        if self._queued and self._queued + count > self.queue_max:
            raise Backpressure(f"the intake log queue is full ({self._queued} records waiting)",
                               retry_after=1.0, queued=self._queued)
        data = encode_entry(self._position + count, encode_payload(table, records))
        try:
            if self._file.size >= self.segment_bytes:
                self._open_segment(self._position)  # the full one is cut back; the helper syncs it
            self._file.write(data)
        except OSError as exc:  # the disk failed: refuse further writes, fail what waits
            logger.exception("intake log write failed")
            error = StorageUnavailable(f"the intake log cannot write: {exc}", directory=str(self.directory))
            self._fail(exc)
            raise error from exc
        self._position += count
        self._written_seq += 1
        self._queued += count
        self._entries += 1
        self._unsynced.append(_Unsynced(self._written_seq, self._position, count, done))
        if eager:  # gathered by its caller: asked for now, so the helper syncs back to back
            self._ask()
            return
        if self._asked_seq > self._synced_seq:
            return  # an fsync is in flight: its reply asks for the next one
        if eager or not self.group_commit_s:
            self._ask()
        elif self._timer is None:
            self._timer = self._loop.call_later(self.group_commit_s, self._ask)

    def _ask(self) -> None:
        """Ask the helper to make every write so far durable (the segment goes along when it is new)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._asked_seq == self._written_seq or self._failed is not None or self._sock is None:
            return
        request = [syncer.REQUEST.pack(self._written_seq)]
        try:
            if self._new_fd is not None:
                fds = [self._new_fd] if self._new_dir_fd is None else [self._new_fd, self._new_dir_fd]
                socket.send_fds(self._sock, request, fds)
                self._new_fd = None
                self._close_dir_fd()
            else:
                self._sock.send(request[0])
        except OSError as exc:
            self._fail(exc)
            return
        self._asked_seq = self._written_seq

    def _on_replies(self) -> None:
        """The helper answered: settle the appends its fsync covered; ask for the next one."""
        assert self._sock is not None
        try:
            data = self._sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if not data:
            self._fail(OSError("the fsync helper exited"))
            return
        self._replies += data
        whole = len(self._replies) - len(self._replies) % syncer.REPLY.size
        replies = [value for (value,) in syncer.REPLY.iter_unpack(self._replies[:whole])]
        self._replies = self._replies[whole:]
        for value in replies:
            if value < 0:
                self._fail(OSError(-value, f"fdatasync failed: {os.strerror(-value)}"))
                return
            self._synced_seq = max(self._synced_seq, value)
        self._fsyncs += len(replies)
        settled: list[_Unsynced] = []
        while self._unsynced and self._unsynced[0].seq <= self._synced_seq:
            settled.append(self._unsynced.popleft())
        if settled:
            self._fsynced = settled[-1].end
            self._queued -= sum(item.count for item in settled)
        if self._written_seq > self._asked_seq:
            self._ask()  # written during that fsync: they have waited one already
        _tell(settled, None)
        self._check_idle()

    def _fail(self, exc: BaseException) -> None:
        """The disk or the helper failed: refuse further appends and fail every unsettled one."""
        if self._failed is None:
            logger.error("intake log %s: %s; it takes no more appends", self.directory, exc)
            self._failed = exc
        if self._loop is not None and self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
        failed = list(self._unsynced)
        self._unsynced.clear()
        self._queued = 0
        _tell(failed, StorageUnavailable(f"the intake log cannot write: {exc}", directory=str(self.directory)))
        self._check_idle()

    def _check_idle(self) -> None:
        idle = self._idle
        if not self._unsynced and idle is not None and not idle.done():
            idle.set_result(None)

    # -- state -----------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """Position after the last entry written (not necessarily fsynced yet)."""
        return self._position

    @property
    def queue_depth(self) -> int:
        """Records written and not yet known durable."""
        return self._queued

    @property
    def fsynced_position(self) -> int:
        """Position after the last entry known durable: everything acknowledged is at or before it."""
        return self._fsynced

    def status(self) -> dict[str, Any]:
        """Position, fsynced position, segments, queue depth, the fsync helper's process id."""
        return {
            "node": self.node_id,
            "position": self._position,
            "fsynced": self._fsynced,
            "segments": len(list_segments(self.directory)),
            "queue_depth": self._queued,
            "queue_max": self.queue_max,
            "entries": self._entries,
            "fsyncs": self._fsyncs,
            "running": self._loop is not None and self._failed is None,
            "fsync_helper": self._helper.pid if self._helper is not None else None,
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

    def _open(self) -> None:
        """Take the directory's lock, read the node id, find the end of the log (off the loop)."""
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
        self._failed = None
        self._recover()

    def _close_helper(self) -> None:
        """End the helper's socket (it syncs what it has and exits) and wait for it."""
        sock, helper = self._sock, self._helper
        self._sock = self._helper = None
        if sock is not None:
            with contextlib.suppress(OSError):  # the helper may have gone already
                sock.shutdown(socket.SHUT_WR)
        if helper is not None:
            try:
                helper.wait(timeout=60)
            except subprocess.TimeoutExpired:
                logger.warning("the log's fsync helper did not exit; killing it")
                helper.kill()
                helper.wait()
        if sock is not None:
            sock.close()

    def _close_dir_fd(self) -> None:
        if self._new_dir_fd is not None:
            os.close(self._new_dir_fd)
            self._new_dir_fd = None

    def _close_files(self) -> None:
        self._close_dir_fd()
        if self._file is not None:
            self._file.close()  # cut back to its entries, fsynced
            self._file = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

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
        self._new_fd = self._file.fileno()

    def _open_segment(self, start: int) -> None:
        """Open the segment after position ``start``; the one before is closed, cut back to its entries.

        While the helper runs (a roll, in the loop), the loop waits on no disk: the helper holds its
        own descriptor of the old segment, and before it adopts the new one (sent with the next
        request, with the directory) it fdatasyncs the old one (the cut back too: a size change is
        data to fdatasync) and fsyncs the directory that now names the new one; nothing written to
        the new segment is acknowledged before. Otherwise (opening, or an old segment the helper was
        never sent) the old segment and the directory are fsynced here."""
        helper_syncs = self._sock is not None and self._failed is None
        if self._file is not None:
            self._file.close(sync=not helper_syncs or self._new_fd is not None)
        self._close_dir_fd()
        self._file = GrownFile(self.directory / segment_name(start), 0)
        self._new_fd = self._file.fileno()
        self._segment_start = start
        dir_fd = os.open(self.directory, os.O_RDONLY)
        if helper_syncs:
            self._new_dir_fd = dir_fd
            return
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _settling(future: asyncio.Future[int]) -> Done:
    """A :data:`Done` that settles ``future`` (unless its waiter has gone)."""

    def done(end: int, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(end)
        else:
            future.set_exception(error)

    return done


def _tell(items: list[_Unsynced], error: BaseException | None) -> None:
    """Call each entry's ``done``; one raising does not keep the others from being told."""
    for item in items:
        try:
            item.done(item.end if error is None else 0, error)
        except Exception:
            logger.exception("an intake log append's callback failed")
