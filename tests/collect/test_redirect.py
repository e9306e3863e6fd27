"""The click redirect through a real server over HTTP: recorded exactly once and durably, 302 to an
allowlisted host with the click id, bots and duplicates marked, unknown codes 404. Every case runs
through both doors: the API's ``/c/{code}`` route and the click edge (``serve.click_port``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.conftest import LiveServer, free_port
from tests.links.world import World, link_services, seed_world, touches

import seedcart.serve.app as app_module
from seedcart.catalog.db import Catalog
from seedcart.catalog.links import create_link, get_link_by_code, set_link_active
from seedcart.collect.dedupe import DedupeIndex
from seedcart.config import Settings
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_table
from seedcart.links import is_allowed_destination
from seedcart.serve.app import create_app

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
WECHAT = IPHONE + " MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
PREVIEW = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


class _EdgeDoor(LiveServer):
    """The live app, with clients that talk to its click edge instead of its API port."""

    def __init__(self, server: LiveServer, edge_port: int) -> None:
        self.__dict__.update(server.__dict__)
        self.url = f"http://127.0.0.1:{edge_port}"


@pytest.fixture(params=["api", "edge"])
def links_server(request: pytest.FixtureRequest, settings: Settings, catalog: Catalog,
                 live_server: Callable[[Any], LiveServer],
                 monkeypatch: pytest.MonkeyPatch) -> tuple[LiveServer, World, dict[str, str]]:
    """A live app (intake + links services only) over a seeded world with one link per partner;
    clicks go through the API's own route (``api``) or through the click edge (``edge``)."""
    settings.links.cache_refresh_s = 0.05
    if request.param == "edge":
        settings.serve.click_port = free_port()
    world = seed_world(catalog)
    with catalog.session() as s:
        codes = {
            "jd": create_link(s, kind="ad_link", note_id="n-ad", product_id=world.jd_product,
                              campaign_id=world.cid_campaign, placement="search").code,
            "tmall": create_link(s, kind="blue_link", note_id="n-plain", product_id=world.tmall_product,
                                 commenter_id="u-9").code,
            "wechat_mp": create_link(s, kind="blue_link", note_id="n-plain", product_id=world.mp_product).code,
        }
    monkeypatch.setattr(app_module, "SERVICES", link_services())
    server = live_server(create_app(settings))
    if settings.serve.click_port is not None:
        return _EdgeDoor(server, settings.serve.click_port), world, codes
    return server, world, codes


def _wait_for(settings: Settings, count: int) -> list[dict[str, Any]]:
    """The touch records once at least ``count`` are in the log (bots are appended without waiting)."""
    deadline = time.monotonic() + 10
    while True:
        records = list(touches(settings.log_dir))
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


def test_a_click_is_recorded_once_before_the_302_to_the_app(
        links_server: tuple[LiveServer, World, dict[str, str]], settings: Settings) -> None:
    server, world, codes = links_server
    with server.client() as c:
        resp = c.get(f"/c/{codes['jd']}?uid=user-1", headers={"user-agent": IPHONE, "referer": "https://app/n-ad"})
    assert resp.status_code == 302
    location = resp.headers["location"]
    assert location.startswith("openapp.jdmobile://virtual?params=")
    params = json.loads(parse_qs(urlsplit(location).query)["params"][0])
    records = list(touches(settings.log_dir))  # durable before the answer: no waiting needed
    assert len(records) == 1
    record = records[0]
    assert params["sc_cid"] == record["click_id"] == record["event_id"]
    assert (record["kind"], record["link_id"], record["note_id"], record["campaign_id"], record["placement"],
            record["surface"], record["partner"], record["product_id"], record["brand_id"]) == (
        "link_click", record["link_id"], "n-ad", world.cid_campaign, "search", "ad_link", "jd", world.jd_product,
        world.acme)
    assert (record["user_id"], record["ua_class"], record["referrer"]) == ("user-1", "ios", "https://app/n-ad")
    assert (record["is_bot"], record["is_duplicate"]) == (False, False)
    assert "127.0.0.1" not in json.dumps(record)
    assert len(record["ip_hash"]) == 32


def test_browsers_go_to_the_allowlisted_web_url_and_repeats_are_duplicates(
        links_server: tuple[LiveServer, World, dict[str, str]], settings: Settings) -> None:
    server, _, codes = links_server
    with server.client() as c:
        first = c.get(f"/c/{codes['tmall']}", headers={"user-agent": DESKTOP})
        second = c.get(f"/c/{codes['tmall']}", headers={"user-agent": DESKTOP})
    for resp in (first, second):
        assert resp.status_code == 302
        target = urlsplit(resp.headers["location"])
        assert (target.scheme, target.hostname) == ("https", "detail.tmall.com")
        assert is_allowed_destination(resp.headers["location"])
    records = list(touches(settings.log_dir))
    assert [r["is_duplicate"] for r in records] == [False, True]
    assert [parse_qs(urlsplit(r.headers["location"]).query)["sc_cid"][0] for r in (first, second)] == [
        r["click_id"] for r in records]
    assert records[0]["surface"] == "blue_link"


def test_bots_are_redirected_and_recorded_as_bots(
        links_server: tuple[LiveServer, World, dict[str, str]], settings: Settings) -> None:
    server, _, codes = links_server
    with server.client() as c:
        head = c.head(f"/c/{codes['jd']}", headers={"user-agent": IPHONE})
        preview = c.get(f"/c/{codes['jd']}", headers={"user-agent": PREVIEW})
    for resp in (head, preview):
        assert resp.status_code == 302
        assert urlsplit(resp.headers["location"]).hostname == "item.m.jd.com"  # bots get the web page
    records = _wait_for(settings, 2)
    assert len(records) == 2
    assert all(r["is_bot"] and r["ua_class"] == "bot" for r in records)


def test_wechat_gets_a_landing_page_for_blocked_partners_and_the_scheme_for_mini_programs(
        links_server: tuple[LiveServer, World, dict[str, str]]) -> None:
    server, _, codes = links_server
    with server.client() as c:
        blocked = c.get(f"/c/{codes['tmall']}", headers={"user-agent": WECHAT})
        mini = c.get(f"/c/{codes['wechat_mp']}", headers={"user-agent": WECHAT})
        desktop_mini = c.get(f"/c/{codes['wechat_mp']}", headers={"user-agent": DESKTOP})
    assert blocked.status_code == 200
    assert "https://detail.tmall.com/item.htm?id=" in blocked.text and "sc_cid=" in blocked.text
    assert mini.status_code == 302
    assert mini.headers["location"].startswith("weixin://dl/business/?appid=wx4e1ba651bbe36d01")
    assert desktop_mini.status_code == 200  # no web page for a mini program: a page with the link
    assert "weixin://dl/business/" in desktop_mini.text


def test_unknown_and_deactivated_codes_are_404_and_not_recorded(
        links_server: tuple[LiveServer, World, dict[str, str]], settings: Settings, catalog: Catalog) -> None:
    server, _, codes = links_server
    with server.client() as c:
        assert c.get("/c/nosuchcode", headers={"user-agent": IPHONE}).status_code == 404
        assert c.get("/c/%3Cscript%3E", headers={"user-agent": IPHONE}).status_code == 404
        with catalog.session() as s:
            set_link_active(s, get_link_by_code(s, codes["jd"]).id, False)
        deadline = time.monotonic() + 10
        served = 0
        while c.get(f"/c/{codes['jd']}", headers={"user-agent": DESKTOP}).status_code != 404:
            served += 1
            assert time.monotonic() < deadline, "the cache did not follow the deactivation"
            time.sleep(0.05)
    assert len(list(touches(settings.log_dir))) == served  # the 404s recorded nothing


def test_links_created_elsewhere_become_clickable(
        links_server: tuple[LiveServer, World, dict[str, str]], catalog: Catalog) -> None:
    server, world, _ = links_server
    with catalog.session() as s:  # as another process would: straight into the catalog
        code = create_link(s, kind="blue_link", note_id="n-plain", product_id=world.jd_product).code
    deadline = time.monotonic() + 10
    with server.client() as c:
        while (resp := c.get(f"/c/{code}", headers={"user-agent": DESKTOP})).status_code == 404:
            assert time.monotonic() < deadline, "the cache did not follow the new link"
            time.sleep(0.05)
    assert resp.status_code == 302


def test_a_click_reaches_the_lake_exactly_once_with_its_referrer(
        links_server: tuple[LiveServer, World, dict[str, str]], settings: Settings) -> None:
    server, _, codes = links_server
    with server.client() as c:
        resp = c.get(f"/c/{codes['jd']}", headers={"user-agent": IPHONE, "referer": "https://app/n"})
    click_id = json.loads(parse_qs(urlsplit(resp.headers["location"]).query)["params"][0])["sc_cid"]
    server.stop()  # the intake drains the log into the lake on the way out
    rows = read_table(connect("duckdb"), settings.resolved_lake_root, "touch").to_pyarrow().to_pylist()
    clicks = [r for r in rows if r["click_id"] == click_id]
    assert len(clicks) == 1
    assert (clicks[0]["kind"], clicks[0]["referrer"], clicks[0]["source"]) == ("link_click", "https://app/n",
                                                                              "redirect")
    index = DedupeIndex(settings.log_dir / "dedupe.sqlite")  # minted here, never sent twice: no dedupe key
    try:
        assert (index.position, index.count()) == (1, 0)
    finally:
        index.close()
