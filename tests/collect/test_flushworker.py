"""The lake flusher in its own process: the server's events reach the lake from the child, a killed
child is started again with nothing lost or doubled, and a failing step is reported, then retried."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.collect.conftest import IntakeServer, intake_settings, lake_rows, mint_keys, wait_flushed
from tests.collect.test_api_events import basic, msg
from tests.conftest import LiveServer

from seedcart.collect.dedupe import DedupeIndex
from seedcart.collect.log import DurableLog
from seedcart.errors import StorageUnavailable
from seedcart.lake.flushworker import FlushWorker
from seedcart.lake.ingest import CHECKPOINT
from seedcart.serve.app import create_app


def _post(server: IntakeServer, start: int, count: int) -> None:
    with server.client() as c:
        response = c.post("/v1/batch", json={"batch": [msg(i) for i in range(start, start + count)]},
                          headers=basic(server.keys.source))
        assert response.status_code == 200 and response.json()["accepted"] == count, response.text


def test_a_killed_flush_worker_is_started_again_and_the_lake_holds_each_event_once(
        start_intake: Callable[..., IntakeServer]) -> None:
    server = start_intake()
    _post(server, 0, 50)
    with server.client() as c:
        lake = wait_flushed(c)["lake"]
    child = lake["process"]
    assert child and child != os.getpid() and lake["starts"] == 1  # flushed by the child, not the server
    os.kill(child, signal.SIGKILL)
    _post(server, 50, 50)
    with server.client() as c:
        lake = wait_flushed(c)["lake"]
    assert lake["starts"] == 2 and lake["process"] != child and lake["rows_written"] == 100
    assert sorted(r["event_id"] for r in lake_rows(server.settings, "touch")) == sorted(f"msg-{i}" for i in range(100))


def test_the_server_drains_what_the_worker_had_not_flushed_on_the_way_out(tmp_path: Path) -> None:
    settings = intake_settings(tmp_path, flush_interval_s=3600)  # the worker never gets a step
    keys = mint_keys(settings)
    server = LiveServer(create_app(settings)).start()
    try:
        _post(IntakeServer(settings, keys, server.url, server.client), 0, 30)
        with server.client() as c:
            assert c.get("/v1/intake/health").json()["lag"] == 30
    finally:
        server.stop()  # the worker stops first; the server drains from the checkpoint it left
    assert sorted(r["event_id"] for r in lake_rows(settings, "touch")) == sorted(f"msg-{i}" for i in range(30))


def test_a_failing_step_is_reported_and_retried_over_the_same_range(tmp_path: Path) -> None:
    log = DurableLog(tmp_path / "log")
    log.start_sync()
    log.append_sync("touch", [{"event_id": f"e{i}", "ts": 1_777_000_000_000_000 + i, "kind": "impression",
                               "received_at": 1_777_000_000_000_000, "source": "api", "is_bot": False,
                               "is_duplicate": False} for i in range(5)])
    log.stop_sync()
    blocked = tmp_path / "lake"
    blocked.write_text("a file where the lake's directory should be")
    worker = FlushWorker(tmp_path / "log", str(blocked), tmp_path / "log" / "dedupe.sqlite", log.node_id,
                         max_records=1000, status={"flushed": 0, "rows_written": 0})
    try:
        with pytest.raises(StorageUnavailable, match="lake flush failed"):
            worker.flush(5)
        status = worker.status()
        assert status["last_error"] and status["pending"] == 5 and status["flushed"] == 0
        blocked.unlink()
        assert worker.flush(5) == 0  # the interrupted step is redone (not counted again), nothing after it
        assert worker.status()["flushed"] == 5 and worker.status()["last_error"] is None
        assert (tmp_path / "log" / CHECKPOINT).exists()
    finally:
        worker.stop()
    assert len(list((tmp_path / "lake" / "touch").rglob("*.parquet"))) == 1


def test_the_flush_worker_forgets_dedupe_keys_past_the_settings_retention(tmp_path: Path) -> None:
    settings = intake_settings(tmp_path, dedupe_retention_touch="1d")
    three_days_ago = time.time() - 3 * 86_400
    old = DedupeIndex(settings.log_dir / "dedupe.sqlite", clock=lambda: three_days_ago)
    old.record([(0, "touch", [{"event_id": "msg-old"}, {"event_id": "msg-0"}])], 0)
    old.close()
    keys = mint_keys(settings)
    server = LiveServer(create_app(settings)).start()
    try:
        intake = IntakeServer(settings, keys, server.url, server.client)
        _post(intake, 1, 4)
        with server.client() as c:  # the child records msg-1..4 and forgets the keys past a day old
            assert wait_flushed(c)["lake"]["process"] != os.getpid()
        _post(intake, 0, 1)  # so msg-0 is accepted again
    finally:
        server.stop()
    index = DedupeIndex(settings.log_dir / "dedupe.sqlite")
    try:
        assert index.seen(["t:msg-old", "t:msg-0", "t:msg-4"]) == {"t:msg-0", "t:msg-4"}
    finally:
        index.close()
