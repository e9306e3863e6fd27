"""Campaigns over HTTP: CID is the brand's, UD is the partner's and read-only to the brand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.links.world import World, serve_world

from seedcart.catalog.db import Catalog
from seedcart.config import Settings

CID = {"mode": "CID", "partner_id": "jd", "placements": ["search", "feed", "video"], "bid_type": "CPC",
       "bid_price": 80, "budget": 100_000, "start_at": "2026-02-01T00:00:00Z", "holdout_fraction": 0.1}


@pytest.fixture
def served(settings: Settings, catalog: Catalog, live_server: Callable[[Any], Any],
           monkeypatch: pytest.MonkeyPatch) -> tuple[Any, World]:
    return serve_world(settings, catalog, live_server, monkeypatch)


def test_a_brand_runs_its_cid_campaign(served: tuple[Any, World]) -> None:
    server, world = served
    with server.client(headers=world.auth("acme")) as c:
        made = c.post("/v1/campaigns", json=CID)
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["brand_id"], body["mode"], body["managed_by"], body["editable"]) == (
            world.acme, "CID", "brand", True)
        assert (body["bid_type"], body["bid_price"], body["budget"], body["holdout_fraction"]) == (
            "CPC", 80, 100_000, 0.1)
        changed = c.patch(f"/v1/campaigns/{body['id']}", json={"budget": 5, "status": "paused"})
        assert changed.status_code == 200
        assert (changed.json()["budget"], changed.json()["status"]) == (5, "paused")
        assert c.post("/v1/campaigns", json={**CID, "mode": "UD"}).status_code == 403
        assert c.post("/v1/campaigns", json={**CID, "holdout_fraction": 1.5}).json()["field"] == "holdout_fraction"
    with server.client(headers=world.auth("jd")) as c:  # the partner sees the brand's CID campaign read-only
        assert c.get(f"/v1/campaigns/{body['id']}").json()["editable"] is False
        assert c.patch(f"/v1/campaigns/{body['id']}", json={"budget": 1}).status_code == 403


def test_a_partner_manages_a_ud_campaign_the_brand_only_reads(served: tuple[Any, World]) -> None:
    server, world = served
    ud = {**CID, "mode": "UD", "partner_id": None, "brand_id": world.acme, "placements": ["feed"]}
    with server.client(headers=world.auth("jd")) as c:
        made = c.post("/v1/campaigns", json=ud)
        assert made.status_code == 201, made.text
        campaign = made.json()
        assert (campaign["partner_id"], campaign["managed_by"]) == ("jd", "partner")
        assert c.patch(f"/v1/campaigns/{campaign['id']}", json={"bid_price": 90}).json()["bid_price"] == 90
        assert c.post("/v1/campaigns", json={**ud, "mode": "CID"}).status_code == 403
    with server.client(headers=world.auth("acme")) as c:
        seen = c.get(f"/v1/campaigns/{campaign['id']}")
        assert seen.status_code == 200 and seen.json()["editable"] is False
        edit = c.patch(f"/v1/campaigns/{campaign['id']}", json={"budget": 1})
        assert edit.status_code == 403 and "UD" in edit.json()["error"]
    with server.client(headers=world.auth("pdd")) as c:  # another partner cannot touch it, or see it
        assert c.get(f"/v1/campaigns/{campaign['id']}").status_code == 404
        assert c.patch(f"/v1/campaigns/{campaign['id']}", json={"budget": 1}).status_code == 404
        assert c.post("/v1/campaigns", json={**ud, "partner_id": "jd"}).status_code == 403
        refused = c.post("/v1/campaigns", json={**ud, "placements": ["search"]})
        assert refused.status_code == 422 and refused.json()["field"] == "placements"  # pdd's UD: feed only
    with server.client(headers=world.auth("other")) as c:  # nor another brand
        assert c.get(f"/v1/campaigns/{campaign['id']}").status_code == 404
        assert campaign["id"] not in [x["id"] for x in c.get("/v1/campaigns").json()]


def test_campaigns_need_a_key(served: tuple[Any, World]) -> None:
    server, world = served
    with server.client() as c:
        assert c.get("/v1/campaigns").status_code == 401
    with server.client(headers=world.auth("source")) as c:
        assert c.get("/v1/campaigns").status_code == 403
