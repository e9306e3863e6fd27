"""Acknowledged means durable: load a real server, kill -9 it mid-load, restart, and find every
acknowledged event in the lake exactly once (DESIGN §4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.collect.conftest import Keys, intake_settings, lake_rows, mint_keys, signed, wait_flushed
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SEEDCART__DATA_DIR": str(data_dir), "SEEDCART__INTAKE__FLUSH_INTERVAL_S": "0.2",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "tests.collect.crash_app:app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/intake/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def front_batch(worker: int, n: int) -> dict[str, Any]:
    return {"batch": [{"type": "track", "event": "note_impression", "messageId": f"w{worker}-b{n}-{i}",
                       "userId": f"u{i}", "properties": {"note_id": f"n{i % 7}"}} for i in range(40)]}


def backflow_rows(worker: int, n: int) -> list[dict[str, Any]]:
    return [{"event_id": f"w{worker}-b{n}-{i}", "action": "order", "ts": 1777636800 + i, "click_id": f"c{i}",
             "order_id": f"w{worker}-b{n}-o{i}", "amount": 100 + i, "currency": "CNY"} for i in range(20)]


def load(url: str, keys: Keys, worker: int, stop: threading.Event, acked: dict[str, list[Any]]) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                batch = front_batch(worker, n)
                if c.post("/v1/batch", json=batch, auth=(keys.source, "")).status_code == 200:
                    acked["touch"].append(batch)
                body = orjson.dumps(backflow_rows(worker, n))
                if c.post("/v1/backflow/jd", content=body, headers=signed(keys, "jd", body)).status_code == 200:
                    acked["backflow"].append(body)
            except httpx.HTTPError:
                return  # the server died under us: whatever was in flight was never acknowledged


@pytest.mark.slow
def test_kill_dash_nine_loses_nothing_acknowledged_and_duplicates_nothing(tmp_path: Path) -> None:
    settings = intake_settings(tmp_path)
    keys = mint_keys(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(settings.data_dir, port)
    acked: dict[str, list[Any]] = {"touch": [], "backflow": []}
    stop = threading.Event()
    workers = [threading.Thread(target=load, args=(url, keys, w, stop, acked)) for w in range(4)]
    try:
        for t in workers:
            t.start()
        time.sleep(2.0)
        proc.send_signal(signal.SIGKILL)  # no drain, no final flush, no log close
        proc.wait()
    finally:
        stop.set()
        for t in workers:
            t.join()
        if proc.poll() is None:
            proc.kill()
    assert acked["touch"] and acked["backflow"]

    proc = start_server(settings.data_dir, port)  # replays the log into the lake before serving
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            # Clients retry some acknowledged requests (at-least-once delivery): still counted once.
            retry = c.post("/v1/batch", json=acked["touch"][0], auth=(keys.source, "")).json()
            assert retry["duplicate"] == 40
            body = acked["backflow"][-1]
            assert c.post("/v1/backflow/jd", content=body, headers=signed(keys, "jd", body)).json()["duplicate"] == 20
            wait_flushed(c)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    touch_ids = Counter(r["event_id"] for r in lake_rows(settings, "touch"))
    expected = {m["messageId"] for b in acked["touch"] for m in b["batch"]}
    assert expected <= set(touch_ids), f"{len(expected - set(touch_ids))} acknowledged touches lost"
    assert max(touch_ids.values()) == 1  # exactly once
    backflow_ids = Counter(r["event_id"] for r in lake_rows(settings, "backflow"))
    expected_bf = {r["event_id"] for b in acked["backflow"] for r in orjson.loads(b)}
    assert expected_bf <= set(backflow_ids)
    assert max(backflow_ids.values()) == 1
