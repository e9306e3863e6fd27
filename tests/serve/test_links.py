"""Ad links over HTTP: note + product + campaign -> short code, every policy refusal named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.links.world import World, serve_world

from seedcart.catalog.db import Catalog
from seedcart.catalog.partners import update_partner
from seedcart.config import Settings

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


@pytest.fixture
def served(settings: Settings, catalog: Catalog, live_server: Callable[[Any], Any],
           monkeypatch: pytest.MonkeyPatch) -> tuple[Any, World]:
    return serve_world(settings, catalog, live_server, monkeypatch)


def test_an_ad_link_gets_a_short_url_that_redirects_at_once(served: tuple[Any, World]) -> None:
    server, world = served
    body = {"note_id": "n-ad", "product_id": world.jd_product, "campaign_id": world.cid_campaign,
            "placement": "feed"}
    with server.client(headers=world.auth("acme")) as c:
        made = c.post("/v1/links", json=body)
        assert made.status_code == 201, made.text
        link = made.json()
        assert link["short_url"].endswith(f"/c/{link['code']}")
        assert (link["kind"], link["partner"], link["canonical_url"]) == (
            "ad_link", "jd", "https://item.jd.com/100012043978.html")
        assert c.get(f"/v1/links/{link['code']}").json()["id"] == link["id"]
        assert [x["code"] for x in c.get("/v1/links", params={"note_id": "n-ad"}).json()] == [link["code"]]
        click = c.get(f"/c/{link['code']}", headers={"user-agent": IPHONE})
        assert click.status_code == 302 and "sc_cid" in click.headers["location"]
        assert c.delete(f"/v1/links/{link['code']}").json()["active"] is False
        assert c.get(f"/c/{link['code']}", headers={"user-agent": IPHONE}).status_code == 404
    with server.client(headers=world.auth("other")) as c:
        assert c.get(f"/v1/links/{link['code']}").status_code == 404
        assert c.get("/v1/links").json() == []


@pytest.mark.parametrize(("change", "rule"), [
    ({"note_id": "n-plain"}, "note_not_ad"),
    ({"product": "vip"}, "category_not_opened"),
    ({"product": "pilot"}, "brand_not_in_pilot"),
])
def test_policy_refusals_name_their_rule(served: tuple[Any, World], catalog: Catalog, change: dict[str, str],
                                         rule: str) -> None:
    server, world = served
    body: dict[str, Any] = {"note_id": "n-ad", "product_id": world.jd_product, "campaign_id": world.cid_campaign}
    if change.get("product") in ("vip", "pilot"):
        with catalog.session() as s:  # let the campaign's partner fail the rule under test
            if change["product"] == "vip":
                update_partner(s, "jd", opened_categories=["food"])
            else:
                update_partner(s, "jd", pilot_brands=[world.other])
    else:
        body.update(change)
    with server.client(headers=world.auth("admin")) as c:
        refused = c.post("/v1/links", json=body)
    assert refused.status_code == 422
    assert refused.json()["rule"] == rule


def test_scope_of_link_creation(served: tuple[Any, World]) -> None:
    server, world = served
    ud = {"note_id": "n-ad", "product_id": world.jd_product, "campaign_id": world.ud_campaign}
    with server.client(headers=world.auth("acme")) as c:
        assert c.post("/v1/links", json=ud).status_code == 403  # the brand only reads UD campaigns
    with server.client(headers=world.auth("jd")) as c:
        assert c.post("/v1/links", json=ud).status_code == 201
    with server.client(headers=world.auth("pdd")) as c:
        assert c.post("/v1/links", json=ud).status_code == 404
    with server.client(headers=world.auth("source")) as c:
        assert c.post("/v1/links", json=ud).status_code == 403


def test_parse_endpoint(served: tuple[Any, World]) -> None:
    server, world = served
    with server.client(headers=world.auth("acme")) as c:
        ok = c.post("/v1/links/parse", json={"url": "https://item.m.jd.com/product/100012043978.html"}).json()
        bad = c.post("/v1/links/parse", json={"url": "https://item.jd.com@evil.com/1.html"})
    assert (ok["partner"], ok["kind"], ok["item_id"]) == ("jd", "product", "100012043978")
    assert bad.status_code == 422 and bad.json()["rule"] == "userinfo"
