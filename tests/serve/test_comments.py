"""Blue links over HTTP: POST /v1/comments/render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.links.world import World, serve_world, touches

from seedcart.catalog.db import Catalog
from seedcart.config import Settings

DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36"


@pytest.fixture
def served(settings: Settings, catalog: Catalog, live_server: Callable[[Any], Any],
           monkeypatch: pytest.MonkeyPatch) -> tuple[Any, World]:
    return serve_world(settings, catalog, live_server, monkeypatch)


def test_product_urls_become_blue_links_and_diversions_are_flagged(served: tuple[Any, World],
                                                                   settings: Settings) -> None:
    server, world = served
    text = ("京东这款https://item.m.jd.com/product/100012043978.html，天猫也有detail.tmall.com/item.htm?id=577342018417！"
            "没收录的https://item.jd.com/5.html，别家https://evil.com/x，加我微信：beauty_2024")
    with server.client(headers=world.auth("source")) as c:
        resp = c.post("/v1/comments/render", json={"text": text, "note_id": "n-plain", "commenter_id": "u-7",
                                                   "comment_id": "cm-1"})
        assert resp.status_code == 200, resp.text
        out = resp.json()
        links = [s for s in out["segments"] if s["type"] == "link"]
        assert [(s["partner"], s["item_id"]) for s in links] == [("jd", "100012043978"), ("tmall", "577342018417")]
        assert out["links"] == 2
        assert [(f["flag"], f["reason"]) for f in out["flags"]] == [
            ("url_refused", "product_not_in_catalog"), ("url_refused", "host_not_allowlisted"),
            ("offsite_diversion", "contact_prompt"), ("offsite_diversion", "wechat_id")]
        assert "".join(s["text"] for s in out["segments"]) == text
        again = c.post("/v1/comments/render", json={"text": text, "note_id": "n-plain", "commenter_id": "u-7",
                                                    "comment_id": "cm-1"}).json()
        assert [s["code"] for s in again["segments"] if s["type"] == "link"] == [s["code"] for s in links]
        click = c.get(f"/c/{links[0]['code']}", headers={"user-agent": DESKTOP})
    assert click.status_code == 302
    record = next(touches(settings.log_dir))
    assert (record["surface"], record["note_id"], record["campaign_id"]) == ("blue_link", "n-plain", None)


def test_render_needs_a_known_note_and_a_platform_key(served: tuple[Any, World]) -> None:
    server, world = served
    with server.client(headers=world.auth("source")) as c:
        assert c.post("/v1/comments/render", json={"text": "hi", "note_id": "nope"}).status_code == 404
    with server.client(headers=world.auth("acme")) as c:
        assert c.post("/v1/comments/render", json={"text": "hi", "note_id": "n-plain"}).status_code == 403
