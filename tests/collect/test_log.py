"""The durable log: positions, group commit, restart recovery, torn tails, bounded queue, one writer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from seedcart.collect import grownfile
from seedcart.collect.log import HEADER, DurableLog, _scan, encode_entry, iter_entries, list_segments
from seedcart.errors import Backpressure, Conflict, StorageUnavailable


def test_concurrent_appends_get_distinct_positions_and_share_fsyncs(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], dict[str, int]]:
        log = DurableLog(tmp_path, group_commit_ms=5)
        await log.start()
        ends = await asyncio.gather(*[log.append("touch", [{"event_id": f"{i}-{j}"} for j in range(3)])
                                      for i in range(50)])
        status = log.status()
        await log.stop()
        return list(ends), status

    ends, status = asyncio.run(run())
    assert sorted(ends) == list(range(3, 151, 3))
    assert status["fsynced"] == 150
    assert status["fsyncs"] < 50  # group commit: many appends share one fsync
    entries = list(iter_entries(tmp_path, 0))
    assert sum(len(records) for _end, _table, records in entries) == 150
    assert len({r["event_id"] for _e, _t, records in entries for r in records}) == 150


def test_restart_continues_positions_and_reads_ranges(tmp_path: Path) -> None:
    log = DurableLog(tmp_path, segment_bytes=300)
    log.start_sync()
    for i in range(20):
        log.append_sync("backflow", [{"event_id": str(i)}])
    log.stop_sync()
    assert len(list_segments(tmp_path)) > 1  # rolled
    again = DurableLog(tmp_path)
    again.start_sync()
    assert again.append_sync("touch", [{"event_id": "x"}]) == 21
    again.stop_sync()
    assert [e[0] for e in iter_entries(tmp_path, 15, 18)] == [16, 17, 18]
    assert [e[2][0]["event_id"] for e in iter_entries(tmp_path, 19)] == ["19", "x"]


def test_torn_tail_is_truncated_and_the_log_stays_appendable(tmp_path: Path) -> None:
    log = DurableLog(tmp_path)
    log.start_sync()
    log.append_sync("touch", [{"event_id": "a"}])
    log.append_sync("touch", [{"event_id": "b"}])
    log.stop_sync()
    segment = list_segments(tmp_path)[-1]
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # a write cut short by a crash
    again = DurableLog(tmp_path)
    again.start_sync()
    assert again.fsynced_position == 1
    assert again.append_sync("touch", [{"event_id": "c"}]) == 2
    again.stop_sync()
    assert [r["event_id"] for _e, _t, rs in iter_entries(tmp_path) for r in rs] == ["a", "c"]


def test_full_queue_raises_backpressure_instead_of_growing(tmp_path: Path) -> None:
    async def run() -> None:
        log = DurableLog(tmp_path, group_commit_ms=300, queue_max=3)
        await log.start()
        first = asyncio.create_task(log.append("touch", [{"event_id": str(i)} for i in range(3)]))
        await asyncio.sleep(0.01)
        with pytest.raises(Backpressure) as info:
            await log.append("touch", [{"event_id": "late"}])
        assert info.value.retry_after > 0
        assert await first == 3
        assert await log.append("touch", [{"event_id": "later"}]) == 4  # room again once fsynced
        await log.stop()

    asyncio.run(run())


def test_a_second_process_cannot_open_the_same_log(tmp_path: Path) -> None:
    log = DurableLog(tmp_path)
    log.start_sync()
    try:
        with pytest.raises(Conflict):
            DurableLog(tmp_path).start_sync()
    finally:
        log.stop_sync()


def test_a_cursor_resumes_reading_where_the_last_read_stopped(tmp_path: Path) -> None:
    from seedcart.collect.log import Cursor

    log = DurableLog(tmp_path, segment_bytes=400)
    log.start_sync()
    cursor = Cursor()
    seen: list[int] = []
    position = 0
    for i in range(30):
        log.append_sync("touch", [{"event_id": str(i)}])
        if i % 7 == 6:
            ends = [e[0] for e in iter_entries(tmp_path, position, log.fsynced_position, cursor)]
            seen += ends
            position = ends[-1]
    seen += [e[0] for e in iter_entries(tmp_path, position, None, cursor)]
    log.stop_sync()
    assert seen == list(range(1, 31))
    assert cursor.position == 30
    # A cursor ahead of the requested position is ignored, not trusted.
    assert [e[0] for e in iter_entries(tmp_path, 27, None, cursor)] == [28, 29, 30]


def test_the_open_segment_is_grown_ahead_in_zeros_and_cut_back_to_its_entries_on_close(tmp_path: Path) -> None:
    log = DurableLog(tmp_path)
    log.start_sync()
    for i in range(50):
        log.append_sync("touch", [{"event_id": str(i)}])
    (segment,) = list_segments(tmp_path)
    entries_bytes = sum(HEADER.size + len(payload) for _o, _e, payload in _scan(segment))
    assert segment.stat().st_size > entries_bytes  # zeroed space ahead of the entries
    assert segment.read_bytes()[entries_bytes:].count(0) == segment.stat().st_size - entries_bytes
    # a reader (the lake flusher) takes the zeros for the end
    assert [r["event_id"] for _e, _t, rs in iter_entries(tmp_path) for r in rs] == [str(i) for i in range(50)]
    log.stop_sync()
    assert segment.stat().st_size == entries_bytes


def test_a_crash_leaves_zeros_and_a_torn_write_which_restart_zeroes_and_writes_over(tmp_path: Path) -> None:
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    log = DurableLog(live)
    log.start_sync()
    for i in range(5):
        log.append_sync("touch", [{"event_id": str(i)}])
    (segment,) = list_segments(live)
    image = bytearray(segment.read_bytes())  # the disk as a kill -9 leaves it: entries, then zeros
    log.stop_sync()
    end = sum(HEADER.size + len(payload) for _o, _e, payload in _scan(segment))
    torn = encode_entry(6, b'{"t":"touch","r":[{"event_id":"never acknowledged"}]}')[:-9]
    image[end:end + len(torn)] = torn
    crashed.mkdir()
    (crashed / segment.name).write_bytes(bytes(image))

    again = DurableLog(crashed)
    again.start_sync()
    assert again.fsynced_position == 5
    assert again.append_sync("touch", [{"event_id": "after"}]) == 6
    again.stop_sync()
    assert [r["event_id"] for _e, _t, rs in iter_entries(crashed) for r in rs] == ["0", "1", "2", "3", "4", "after"]


def test_append_soon_writes_what_was_handed_over_during_a_write_in_the_next_one_without_gathering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the click redirect's way in: it gathers its own entries, so the committer does not wait
    # group_commit_ms for more, and whatever queued during an fsync goes into the next, back to back
    release, syncing = threading.Event(), threading.Event()
    real = grownfile._append_at

    def first_write_waits(fd: int, data: memoryview, offset: int) -> int:  # a slow O_DSYNC write
        syncing.set()
        assert release.wait(10)
        return real(fd, data, offset)

    monkeypatch.setattr(grownfile, "_append_at", first_write_waits)
    log = DurableLog(tmp_path, group_commit_ms=60_000)  # an entry that waited for this would time out
    log.start_sync()
    outcomes: list[tuple[str, int, BaseException | None]] = []
    told = threading.Semaphore(0)

    def done(name: str) -> Callable[[int, BaseException | None], None]:
        def tell(end: int, error: BaseException | None) -> None:
            outcomes.append((name, end, error))
            told.release()
        return tell

    log.append_soon("touch", [{"event_id": "a"}], done("a"))
    assert syncing.wait(5)  # a's fsync is in flight (not gathered for a minute)
    log.append_soon("touch", [{"event_id": "b"}, {"event_id": "c"}], done("bc"))
    log.append_soon("touch", [{"event_id": "d"}], done("d"))
    assert outcomes == []  # nothing is acknowledged before its fsync
    monkeypatch.setattr(grownfile, "_append_at", real)
    release.set()
    for _ in range(3):
        assert told.acquire(timeout=5)
    status = log.status()
    log.stop_sync()
    assert outcomes == [("a", 1, None), ("bc", 3, None), ("d", 4, None)]
    assert status["fsyncs"] == 2 and status["entries"] == 3  # b-c and d shared the second fsync
    assert [r["event_id"] for _e, _t, rs in iter_entries(tmp_path) for r in rs] == ["a", "b", "c", "d"]


def test_append_soon_tells_a_failed_write_and_a_failing_callback_stops_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = DurableLog(tmp_path)
    log.start_sync()
    told: list[tuple[int, BaseException | None]] = []
    arrived = threading.Semaphore(0)

    def tell(end: int, error: BaseException | None) -> None:
        told.append((end, error))
        arrived.release()

    def rude(end: int, error: BaseException | None) -> None:
        arrived.release()
        raise RuntimeError("a caller's bug")

    log.append_soon("touch", [{"event_id": "a"}], rude)
    assert arrived.acquire(timeout=5)
    log.append_soon("touch", [{"event_id": "b"}], tell)  # the committer survived the callback
    assert arrived.acquire(timeout=5) and told == [(2, None)]

    def broken_disk(fd: int, data: memoryview, offset: int) -> int:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(grownfile, "_append_at", broken_disk)
    log.append_soon("touch", [{"event_id": "c"}], tell)
    assert arrived.acquire(timeout=5)
    assert told[-1][0] == 0 and isinstance(told[-1][1], StorageUnavailable)
    with pytest.raises(StorageUnavailable):  # refused at once from now on; the callback is not called
        log.append_soon("touch", [{"event_id": "d"}], tell)
    log.stop_sync()
    assert len(told) == 2
