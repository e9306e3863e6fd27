"""End to end: a simulated lake, the whole app on a real server, the dashboard in headless Chromium.

Signs in with a brand key, checks that the note table and the note's funnel chart show the numbers
the lake holds, that a new front event shows on the overview's live counters, and saves screenshots
under the test's output directory (copied to ``test-output/`` at the repo root for people to look at).
Needs Debian's ``chromium`` package (``make browser``); nothing downloads a browser.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from seedcart.catalog.db import open_catalog
from seedcart.catalog.keys import create_key
from seedcart.config import Settings, load_settings
from seedcart.dashboard import build_site

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO_OUTPUT = Path(__file__).resolve().parents[2] / "test-output"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _lake(settings: Settings) -> tuple[str, str]:
    """Write a lake (the simulator's plus attribution when present, else ``small_world``); returns
    (brand key, source key)."""
    catalog = open_catalog(settings)
    try:
        try:
            from seedcart.attribute.lake import rebuild_credit
            from seedcart.sim import WorldConfig, simulate
        except ImportError:
            from seedcart.measure.testing import small_world

            world = small_world(settings.resolved_lake_root, catalog)
            brand_key = world.keys["brand_a"]
        else:
            summary = simulate(settings, WorldConfig(users=600, days=7, seed=11, brands=2, notes_per_brand=8))
            rebuild_credit(settings, catalog)
            with catalog.session() as s:
                brand_key = create_key(s, "brand", brand_id=summary.brands[0]["id"])[0]
        with catalog.session() as s:
            source_key = create_key(s, "source")[0]
    finally:
        catalog.close()
    return brand_key, source_key


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed: run `make browser` (or `sudo apt-get install -y chromium`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
        yield page
        browser.close()


def _shot(page: Any, out: Path, name: str) -> Path:
    path = out / name
    page.screenshot(path=str(path), full_page=True)
    REPO_OUTPUT.mkdir(exist_ok=True)
    shutil.copy(path, REPO_OUTPUT / name)
    return path


def test_dashboard_shows_the_lake(tmp_path: Path, browser_page: Any) -> None:
    settings = load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "data"), "SEEDCART__SERVE__K_ANONYMITY": "5",
                              "SEEDCART__SERVE__REPORTS_REFRESH_S": "1"})
    brand_key, source_key = _lake(settings)
    server = LiveServer(build_site(settings)).start()
    page = browser_page
    try:
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {brand_key}"}, timeout=30)
        expected = api.get("/v1/reports/notes", params={"sort": "gmv", "limit": 20}).json()["rows"]
        assert expected and expected[0]["reads"] > 0

        # sign in
        page.goto(server.url + "/")
        page.fill("#key", brand_key)
        page.click("button[type=submit]")
        page.wait_for_selector("#live [data-kpi=impressions]")

        # the note table shows the lake's numbers
        page.goto(server.url + "/notes")
        page.wait_for_selector("#notes-table tbody tr")
        first = page.locator("#notes-table tbody tr").first
        assert first.get_attribute("data-note") == expected[0]["note_id"]
        reads = first.locator("td[data-col=reads]").inner_text()
        assert int(reads.replace(",", "")) == expected[0]["reads"]
        _shot(page, tmp_path, "dashboard-notes.png")

        # the note's funnel chart is drawn from the same numbers
        first.locator("a").click()
        page.wait_for_selector("#funnel-chart .main-svg")
        funnel = page.evaluate("document.getElementById('funnel-chart').data[0].x")
        detail = api.get(f"/v1/reports/notes/{expected[0]['note_id']}").json()
        assert funnel == [step["value"] for step in detail["funnel"]]
        assert funnel[0] > 0
        page.wait_for_selector("#lag-chart .main-svg")
        _shot(page, tmp_path, "dashboard-note.png")

        # a new front event shows on the overview's live counters
        page.goto(server.url + "/")
        page.wait_for_selector("#live [data-kpi=impressions]")
        before = int(page.inner_text("#live [data-kpi=impressions] .value").replace(",", ""))
        event = {"type": "track", "event": "note_impression", "messageId": uuid.uuid4().hex, "userId": "e2e-user",
                 "timestamp": datetime.now(UTC).isoformat(), "properties": {"note_id": expected[0]["note_id"],
                                                                           "placement": "feed"}}
        posted = httpx.post(server.url + "/v1/track", json=event, auth=(source_key, ""), timeout=30)
        assert posted.status_code == 200, posted.text
        page.wait_for_function(
            "n => Number(document.querySelector('#live [data-kpi=impressions] .value').innerText"
            ".replace(/,/g, '')) > n", arg=before, timeout=30_000)
        page.wait_for_selector("#trend-chart .main-svg")
        _shot(page, tmp_path, "dashboard-overview.png")

        # and in Chinese
        page.goto(server.url + "/models?lang=zh")
        page.wait_for_selector("#models-table tbody tr")
        assert "归因模型" in page.inner_text("nav")
        _shot(page, tmp_path, "dashboard-models-zh.png")
        api.close()
    finally:
        server.stop()
    assert (tmp_path / "dashboard-notes.png").stat().st_size > 10_000
