"""Acknowledged means durable: load a real server, kill -9 it mid-load, restart, and find every
acknowledged event (and every click answered with a 302) in the lake exactly once (DESIGN §4)."""

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
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from tests.collect.conftest import Keys, intake_settings, lake_rows, mint_keys, signed, wait_flushed
from tests.conftest import free_port
from tests.links.world import seed_world

from seedcart.catalog.db import open_catalog
from seedcart.catalog.links import create_link
from seedcart.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def start_server(data_dir: Path, port: int, **env_vars: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SEEDCART__DATA_DIR": str(data_dir), "SEEDCART__INTAKE__FLUSH_INTERVAL_S": "0.2",
           "PYTHONPATH": str(ROOT), **env_vars}
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


def load_then_kill(proc: subprocess.Popen[bytes], workers: list[threading.Thread], stop: threading.Event) -> None:
    """Start the load, kill -9 the server two seconds in (no drain, no final flush, no log close),
    then stop the load."""
    try:
        for t in workers:
            t.start()
        time.sleep(2.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        stop.set()
        for t in workers:
            t.join()
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_kill_dash_nine_loses_nothing_acknowledged_and_duplicates_nothing(tmp_path: Path) -> None:
    settings = intake_settings(tmp_path)
    keys = mint_keys(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(settings.data_dir, port)
    acked: dict[str, list[Any]] = {"touch": [], "backflow": []}
    stop = threading.Event()
    load_then_kill(proc, [threading.Thread(target=load, args=(url, keys, w, stop, acked)) for w in range(4)], stop)
    assert acked["touch"] and acked["backflow"]

    proc = start_server(settings.data_dir, port)  # replays the log into the lake before serving
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            # Clients retry some acknowledged requests (at-least-once delivery): still counted once.
            retry = c.post("/v1/batch", json=acked["touch"][0], auth=(keys.source, "")).json()
            assert retry["duplicate"] == 40
            body = acked["backflow"][-1]
            assert c.post("/v1/backflow/jd", content=body, headers=signed(keys, "jd", body)).json()["duplicate"] == 20
            # the dedupe index's in-memory filter loads while the server serves; once it answers
            # first, retries are still found
            deadline = time.monotonic() + 30
            while c.get("/v1/intake/health").json()["dedupe_filter"] != "ready":
                assert time.monotonic() < deadline, "the dedupe filter did not load"
                time.sleep(0.05)
            retry = c.post("/v1/batch", json=acked["touch"][-1], auth=(keys.source, "")).json()
            assert retry["duplicate"] == 40
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


def seed_link(settings: Settings) -> str:
    """The links tests' world in the catalog of ``settings``, and one ad link in it (JD, the CID
    campaign); its short code."""
    catalog = open_catalog(settings)
    try:
        world = seed_world(catalog)
        with catalog.session() as s:
            return create_link(s, kind="ad_link", note_id="n-ad", product_id=world.jd_product,
                               campaign_id=world.cid_campaign, placement="feed").code
    finally:
        catalog.close()


def click(url: str, code: str, worker: int, stop: threading.Event, redirected: list[str]) -> None:
    """Click ``code`` until stopped, keeping the click id of every 302 received."""
    agent = f"Mozilla/5.0 (X11; Linux x86_64) worker/{worker}"  # a desktop: the web URL, click id in its query
    with httpx.Client(base_url=url, timeout=10, headers={"User-Agent": agent}) as c:
        while not stop.is_set():
            try:
                answer = c.get(f"/c/{code}")
            except httpx.HTTPError:
                return  # the server died under us: this click was never answered
            if answer.status_code == 302:
                (click_id,) = parse_qs(urlsplit(answer.headers["location"]).query)["sc_cid"]
                redirected.append(click_id)


@pytest.mark.slow
def test_kill_dash_nine_loses_no_click_that_was_redirected(tmp_path: Path) -> None:
    settings = intake_settings(tmp_path)
    code = seed_link(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # 100 ms between click log writes: every click waits longer for its fsync, so a redirect that
    # answered before the write would be caught by the kill with many such clicks outstanding
    proc = start_server(settings.data_dir, port, SEEDCART__LINKS__CLICK_COMMIT_MS="100")
    redirected: list[str] = []
    stop = threading.Event()
    # killed with clicks in flight in the writer thread, none drained
    load_then_kill(proc, [threading.Thread(target=click, args=(url, code, w, stop, redirected)) for w in range(4)],
                   stop)
    assert len(redirected) > 20

    proc = start_server(settings.data_dir, port)  # replays the log into the lake before serving
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            wait_flushed(c)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    clicks = Counter(r["event_id"] for r in lake_rows(settings, "touch") if r["kind"] == "link_click")
    assert set(redirected) <= set(clicks), f"{len(set(redirected) - set(clicks))} redirected clicks lost"
    assert max(clicks.values()) == 1  # exactly once
