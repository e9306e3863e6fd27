"""The durable log: positions, group commit, restart recovery, torn tails, bounded queue, one writer."""

from __future__ import annotations

import asyncio
import os
import signal
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


def _helper(log: DurableLog) -> int:
    pid = log.status()["fsync_helper"]
    assert isinstance(pid, int)
    return pid


def test_an_append_is_settled_only_after_the_helper_syncs_and_those_written_meanwhile_share_the_next(
        tmp_path: Path) -> None:
    # the click redirect's way in (append_soon): it gathers its own entries, so the log does not wait
    # group_commit_ms for more; entries written while an fsync is in flight go into the next one
    async def run() -> tuple[list[tuple[str, int, BaseException | None]], list[str], dict[str, object]]:
        log = DurableLog(tmp_path, group_commit_ms=60_000)  # an entry that waited for this would time out
        await log.start()
        outcomes: list[tuple[str, int, BaseException | None]] = []
        all_told = asyncio.get_running_loop().create_future()

        def done(name: str) -> Callable[[int, BaseException | None], None]:
            def tell(end: int, error: BaseException | None) -> None:
                outcomes.append((name, end, error))
                if len(outcomes) == 3:
                    all_told.set_result(None)
            return tell

        helper = _helper(log)
        os.kill(helper, signal.SIGSTOP)  # a disk that does not answer
        try:
            log.append_soon("touch", [{"event_id": "a"}], done("a"))
            log.append_soon("touch", [{"event_id": "b"}, {"event_id": "c"}], done("bc"))
            log.append_soon("touch", [{"event_id": "d"}], done("d"))
            await asyncio.sleep(0.3)
            written = [r["event_id"] for _e, _t, rs in iter_entries(tmp_path) for r in rs]
            assert outcomes == []  # written, and nothing acknowledged before its fsync
        finally:
            os.kill(helper, signal.SIGCONT)
        await asyncio.wait_for(all_told, 10)
        status = log.status()
        await log.stop()
        return outcomes, written, status

    outcomes, written, status = asyncio.run(run())
    assert written == ["a", "b", "c", "d"]
    assert outcomes == [("a", 1, None), ("bc", 3, None), ("d", 4, None)]
    assert status["fsyncs"] == 1 and status["entries"] == 3  # asked during one stall: one fsync for all


def test_a_failed_write_is_refused_at_once_and_a_failing_callback_stops_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> list[tuple[int, BaseException | None]]:
        log = DurableLog(tmp_path)
        await log.start()
        loop = asyncio.get_running_loop()
        told: list[tuple[int, BaseException | None]] = []
        arrived: asyncio.Queue[None] = asyncio.Queue()

        def tell(end: int, error: BaseException | None) -> None:
            told.append((end, error))
            arrived.put_nowait(None)

        def rude(end: int, error: BaseException | None) -> None:
            loop.call_soon(arrived.put_nowait, None)
            raise RuntimeError("a caller's bug")

        log.append_soon("touch", [{"event_id": "a"}], rude)
        log.append_soon("touch", [{"event_id": "b"}], tell)  # shares a's fsync, told despite rude
        await asyncio.wait_for(arrived.get(), 5)
        await asyncio.wait_for(arrived.get(), 5)
        assert told == [(2, None)]

        def broken_disk(fd: int, data: memoryview, offset: int) -> int:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(grownfile, "_append_at", broken_disk)
        with pytest.raises(StorageUnavailable):
            log.append_soon("touch", [{"event_id": "c"}], tell)
        monkeypatch.undo()
        with pytest.raises(StorageUnavailable):  # refused from now on; the callback is never called
            log.append_soon("touch", [{"event_id": "d"}], tell)
        with pytest.raises(StorageUnavailable):
            await log.append("touch", [{"event_id": "e"}])
        assert log.status()["running"] is False
        await log.stop()
        return told

    assert len(asyncio.run(run())) == 1
    assert [r["event_id"] for _e, _t, rs in iter_entries(tmp_path) for r in rs] == ["a", "b"]


def test_when_the_helper_dies_the_waiting_appends_fail_and_none_is_acknowledged(tmp_path: Path) -> None:
    async def run() -> list[BaseException | None]:
        log = DurableLog(tmp_path, group_commit_ms=0)
        await log.start()
        assert await log.append("touch", [{"event_id": "before"}]) == 1
        helper = _helper(log)
        os.kill(helper, signal.SIGSTOP)
        outcomes: list[BaseException | None] = []
        log.append_soon("touch", [{"event_id": "lost?"}], lambda end, error: outcomes.append(error))
        waiting = asyncio.ensure_future(log.append("touch", [{"event_id": "also"}]))
        await asyncio.sleep(0.1)
        os.kill(helper, signal.SIGKILL)
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(waiting, 10)
        with pytest.raises(StorageUnavailable):  # nothing more is taken
            await log.append("touch", [{"event_id": "after"}])
        assert log.fsynced_position == 1  # what was acknowledged
        await log.stop()
        return outcomes

    outcomes = asyncio.run(run())
    assert len(outcomes) == 1 and isinstance(outcomes[0], StorageUnavailable)
    again = DurableLog(tmp_path)  # the log opens again, with a new helper; written entries are kept
    again.start_sync()
    assert again.append_sync("touch", [{"event_id": "next"}]) == 4
    again.stop_sync()


def test_append_sync_comes_from_other_threads_and_the_log_can_be_restarted(tmp_path: Path) -> None:
    log = DurableLog(tmp_path, group_commit_ms=1)
    log.start_sync()
    ends: list[int] = []
    threads = [threading.Thread(target=lambda i=i: ends.append(log.append_sync("touch", [{"event_id": str(i)}])))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ends) == list(range(1, 9))
    log.stop_sync()
    with pytest.raises(StorageUnavailable):
        log.append_sync("touch", [{"event_id": "closed"}])
    log.start_sync()
    assert log.append_sync("touch", [{"event_id": "9"}]) == 9
    log.stop_sync()
    assert len(list(iter_entries(tmp_path))) == 9


def test_a_segment_roll_waits_on_no_disk_in_the_loop_and_nothing_in_the_new_segment_is_acked_before_the_helper(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced_in_loop: list[bool] = []
    close = grownfile.GrownFile.close

    def recording_close(self: grownfile.GrownFile, *, sync: bool = True) -> None:
        synced_in_loop.append(sync)
        close(self, sync=sync)

    monkeypatch.setattr(grownfile.GrownFile, "close", recording_close)

    async def run() -> tuple[list[int], list[str]]:
        log = DurableLog(tmp_path, segment_bytes=1, group_commit_ms=300)  # every entry after the first rolls
        await log.start()
        await log.append("touch", [{"event_id": "a"}])  # the helper has the first segment now
        helper = _helper(log)
        os.kill(helper, signal.SIGSTOP)
        try:
            # b rolls away from a, which the helper has: not fsynced in the loop. c rolls away from b
            # before b was sent to the helper (b waits for company): that one is fsynced in place.
            appends = asyncio.gather(log.append("touch", [{"event_id": "b"}]), log.append("touch", [{"event_id": "c"}]))
            await asyncio.sleep(0.6)
            assert not appends.done()  # written, asked for, and not acknowledged while the helper is stopped
        finally:
            os.kill(helper, signal.SIGCONT)
        ends = await asyncio.wait_for(appends, 10)
        await log.stop()
        return list(ends), [r["event_id"] for _e, _t, rs in iter_entries(tmp_path) for r in rs]

    ends, written = asyncio.run(run())
    assert ends == [2, 3] and written == ["a", "b", "c"]
    assert len(list_segments(tmp_path)) == 3
    assert synced_in_loop == [False, True, True]  # the last: stop() closes the open segment fsynced
