"""`make demo` must always work: the whole loop on a small world, with live traffic moving the counters."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port

from seedcart.config import load_settings
from seedcart.demo import start_demo

pytestmark = pytest.mark.slow


def test_demo_serves_the_dashboard_and_live_traffic_moves_todays_counters(tmp_path: Path) -> None:
    settings = load_settings({"SEEDCART__DATA_DIR": str(tmp_path)})
    run = start_demo(settings, users=1_500, days=2, seed=3, port=free_port(), events_per_s=400.0)
    try:
        with httpx.Client(base_url=run.url, timeout=30.0) as client:
            page = client.get("/")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]

            brand = {"Authorization": f"Bearer {run.keys.brand}"}
            notes = client.get("/v1/reports/notes", headers=brand)
            assert notes.status_code == 200, notes.text
            rows = notes.json()["rows"]
            assert rows, "the demo brand's note table is empty"

            def today() -> dict[str, Any]:
                response = client.get("/v1/reports/realtime", headers=brand)
                assert response.status_code == 200, response.text
                return response.json()

            first = today()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                now = today()
                if now["impressions"] > first["impressions"] and now["link_clicks"] > 0:
                    break
                time.sleep(1.0)
            else:
                pytest.fail(f"live traffic did not move today's counters: {first} -> {now}")
            # the simulated apps click through the short links of the click edge, a port of its own
            edge = httpx.get(f"{run.click_url}/healthz", timeout=10.0).json()
            assert run.click_url != run.url and edge["requests"] > 1, edge
    finally:
        run.shutdown()
    assert run.stream_stats is not None and run.stream_stats.ticks > 0
    # every key the terminal showed is kept for the user, readable only by them
    keys_file = run.settings.data_dir / "demo-keys.json"
    assert keys_file.stat().st_mode & 0o077 == 0


_LINGER = """
import sys, threading, time
from seedcart.demo import leave_if_threads_linger
if sys.argv[1] == "pass":
    threading.Thread(target=time.sleep, args=(60,), name="seedcart-attribution", daemon=True).start()
print("stopped", flush=False)  # flushed by leave_if_threads_linger, or at a normal exit
leave_if_threads_linger(3)
print("returned")
"""


@pytest.mark.parametrize(("running", "code", "out"), [("pass", 3, "stopped\n"), ("none", 0, "stopped\nreturned\n")])
def test_a_stopped_server_leaves_at_once_past_an_attribution_pass_still_running(running: str, code: int,
                                                                                out: str) -> None:
    """Past a pass still running, the process ends there, with its output flushed (no finalization,
    which would abort when the pass is inside DuckDB); else the command returns as usual."""
    done = subprocess.run([sys.executable, "-c", _LINGER, running], check=False, capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (code, out)
