"""Clicks that share one log append: each is acknowledged only after the append, a client going
away loses nobody else's click, a failed append fails every click in it (503, not a 302), clicks
arriving during a write are handed over without waiting for it, and the write never blocks the
event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.links.world import OneLinkCache

from seedcart.collect.clicks import ClickRecorder
from seedcart.collect.log import Done, DurableLog
from seedcart.collect.redirect import RedirectService, _ClickBatch
from seedcart.errors import Backpressure, StorageUnavailable

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


class _GatedLog:
    """A log whose appends complete, in a thread of their own as the durable log's committer does,
    only when the test opens the gate (or fail with ``error``)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.entries: list[list[dict[str, Any]]] = []
        self.gate = threading.Event()
        self.error = error
        self.started: list[int] = []  # the size of each entry handed over, in order

    def append_soon(self, table: str, records: list[dict[str, Any]], done: Done) -> None:
        self.started.append(len(records))

        def complete() -> None:
            assert self.gate.wait(10)
            if self.error is not None:
                done(0, self.error)
                return
            self.entries.append(records)
            done(sum(len(e) for e in self.entries), None)

        threading.Thread(target=complete, daemon=True).start()


def _service(**kwargs: Any) -> RedirectService:
    return RedirectService(OneLinkCache(), ClickRecorder(b"k" * 32), **kwargs)  # type: ignore[arg-type]


def _click(service: RedirectService, log: Any, ip: str = "10.0.0.1") -> asyncio.Task[Any]:
    return asyncio.create_task(service.handle_click(log, "abc", method="GET", ip=ip, user_agent=IPHONE))


def test_concurrent_clicks_share_one_entry_and_wait_for_it() -> None:
    async def run() -> None:
        service, log = _service(), _GatedLog()
        clicks = [asyncio.create_task(service.handle_click(log, "abc", method="GET", ip=f"10.0.0.{i}",
                                                           user_agent=IPHONE)) for i in range(5)]
        await asyncio.sleep(0.01)
        assert not any(c.done() for c in clicks)  # nothing answered before the append completes
        log.gate.set()
        answers = await asyncio.gather(*clicks)
        assert len(log.entries) == 1 and len(log.entries[0]) == 5
        assert {a.click_id for a in answers} == {r["click_id"] for r in log.entries[0]}
        assert all(a.status == 302 for a in answers)

    asyncio.run(run())


def test_a_client_going_away_does_not_cancel_the_other_clicks() -> None:
    async def run() -> None:
        service, log = _service(), _GatedLog()
        clicks = [asyncio.create_task(service.handle_click(log, "abc", method="GET", ip="10.0.0.1",
                                                           user_agent=IPHONE)) for _ in range(3)]
        await asyncio.sleep(0.01)
        clicks[0].cancel()
        log.gate.set()
        answers = await asyncio.gather(*clicks[1:])
        assert [a.status for a in answers] == [302, 302]
        assert len(log.entries[0]) == 3  # the gone client's click is still recorded
        assert clicks[0].cancelled()

    asyncio.run(run())


def test_a_failed_append_fails_every_click_in_it() -> None:
    async def run() -> None:
        service, log = _service(), _GatedLog(StorageUnavailable("disk gone"))
        clicks = [asyncio.create_task(service.handle_click(log, "abc", method="GET", ip="10.0.0.1",
                                                           user_agent=IPHONE)) for _ in range(3)]
        await asyncio.sleep(0.01)
        log.gate.set()
        results = await asyncio.gather(*clicks, return_exceptions=True)
        assert all(isinstance(r, StorageUnavailable) for r in results)

    asyncio.run(run())


@pytest.mark.parametrize("code", ["nosuch", ""])
def test_unknown_codes_are_404_without_touching_the_log(code: str) -> None:
    async def run() -> None:
        log = _GatedLog()
        answer = await _service().handle_click(log, code, method="GET", ip="10.0.0.1", user_agent=IPHONE)
        assert answer.status == 404 and log.entries == []

    asyncio.run(run())


def test_bots_are_answered_without_waiting_and_recorded_with_the_turn() -> None:
    async def run() -> None:
        service, log = _service(), _GatedLog()
        preview = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
        person = asyncio.create_task(service.handle_click(log, "abc", method="GET", ip="10.0.0.1",
                                                          user_agent=IPHONE))
        await asyncio.sleep(0)  # the person's click is queued first, in this turn
        bot = await service.handle_click(log, "abc", method="GET", ip="10.0.0.2", user_agent=preview)
        assert bot.status == 302 and not person.done()  # the bot did not wait for the fsync
        log.gate.set()
        await service.drain()  # the app's shutdown: nothing in flight is dropped
        assert (await person).status == 302
        assert [r["is_bot"] for r in log.entries[0]] == [False, True]

    asyncio.run(run())


def test_bot_clicks_lost_to_a_failed_append_are_counted() -> None:
    async def run() -> None:
        service, log = _service(), _GatedLog(StorageUnavailable("disk gone"))
        await service.handle_click(log, "abc", method="HEAD", ip="10.0.0.2", user_agent=IPHONE)
        log.gate.set()
        await service.drain()
        assert service.status()["bot_clicks_lost"] == 1

    asyncio.run(run())


def test_clicks_during_a_write_are_handed_over_as_the_next_entry_without_waiting_for_it() -> None:
    # the log's committer writes what was handed over during a write in its next one, back to back
    # (tested with the durable log in test_log); the redirect does not hold them back meanwhile
    async def run() -> None:
        service, log = _service(), _GatedLog()
        first = _click(service, log)
        await asyncio.sleep(0.01)
        rest = [_click(service, log, f"10.0.0.{i}") for i in range(2, 5)]
        await asyncio.sleep(0.01)
        assert log.started == [1, 3] and not any(c.done() for c in (first, *rest))
        log.gate.set()
        answers = await asyncio.gather(first, *rest)
        assert sorted(len(e) for e in log.entries) == [1, 3]
        assert all(a.status == 302 for a in answers)

    asyncio.run(run())


def test_too_many_clicks_waiting_for_the_log_is_backpressure() -> None:
    async def run() -> None:
        service, log = _service(max_waiting=2), _GatedLog()
        first = _click(service, log)
        await asyncio.sleep(0.01)  # handed over, still waiting for its fsync
        second = _click(service, log, "10.0.0.2")
        await asyncio.sleep(0.01)
        with pytest.raises(Backpressure):
            await service.handle_click(log, "abc", method="GET", ip="10.0.0.9", user_agent=IPHONE)
        log.gate.set()
        assert [a.status for a in await asyncio.gather(first, second)] == [302, 302]
        assert sum(len(e) for e in log.entries) == 2  # the refused click was never written
        third = await service.handle_click(log, "abc", method="GET", ip="10.0.0.3", user_agent=IPHONE)
        assert third.status == 302  # durable clicks no longer count against the bound

    asyncio.run(run())


def test_the_fsync_runs_off_the_event_loop(tmp_path: Path) -> None:
    async def run() -> None:
        service, log = _service(), DurableLog(tmp_path / "log")
        await log.start()
        helper = log.status()["fsync_helper"]
        assert isinstance(helper, int)
        os.kill(helper, signal.SIGSTOP)  # the disk takes as long as it likes
        try:
            click = _click(service, log)
            await asyncio.sleep(0.05)
            # the loop is free while the disk works: an unknown code is answered meanwhile
            assert (await service.handle_click(log, "nosuch", method="GET", ip="10.0.0.2",
                                               user_agent=IPHONE)).status == 404
            assert not click.done() and log.fsynced_position == 0  # written, not yet durable: no 302
        finally:
            os.kill(helper, signal.SIGCONT)
        assert (await click).status == 302 and log.fsynced_position == 1
        await service.drain()
        await log.stop()

    asyncio.run(run())


class _RecordingLog:
    """Appends complete at once; each entry is kept."""

    def __init__(self) -> None:
        self.entries: list[list[dict[str, Any]]] = []

    def append_soon(self, table: str, records: list[dict[str, Any]], done: Done) -> None:
        self.entries.append(records)
        done(sum(len(e) for e in self.entries), None)


def test_clicks_read_in_consecutive_turns_share_one_entry() -> None:
    # with no write in flight, the requests that answered clicks send back arrive over a few turns of
    # the loop: the entry is written once a turn brings no new click, not at the first of them
    async def run() -> None:
        batch, log = _ClickBatch(gather_s=10.0), _RecordingLog()
        batch.add(log, {"n": 1})
        loop = asyncio.get_running_loop()
        loop.call_soon(batch.add, log, {"n": 2})  # the next turn
        loop.call_soon(loop.call_soon, batch.add, log, {"n": 3})  # the turn after
        await asyncio.sleep(0.01)
        assert [[r["n"] for r in e] for e in log.entries] == [[1, 2, 3]]
        await batch.drain()

    asyncio.run(run())


def test_a_click_every_turn_does_not_hold_the_entry_past_the_gather_bound() -> None:
    async def run() -> None:
        batch, log = _ClickBatch(gather_s=0.001), _RecordingLog()
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def click(n: int) -> None:
            batch.add(log, {"n": n})
            if n < 2000:
                loop.call_soon(click, n + 1)
            else:
                done.set_result(None)

        click(1)
        await done
        written = len(log.entries)
        await batch.drain()
        assert written > 1  # entries were written while clicks kept coming
        assert [r["n"] for e in log.entries for r in e] == list(range(1, 2001))

    asyncio.run(run())
