"""Signed partner backflow and identities through a real server: refusals, per-row errors,
quarantine, idempotency, and raw identifiers never reaching disk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.collect.conftest import IntakeServer, lake_rows, ndjson, signed, wait_flushed

from seedcart.catalog.db import open_catalog
from seedcart.catalog.models import Brand, Category, Product

PHONE = "13912345678"


def order(i: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "action": "order", "ts": "2026-05-01T12:00:00Z", "click_id": f"c{i}",
            "order_id": f"o{i}", "amount": 1000 + i, "currency": "CNY", "item_id": "item-1", **extra}


def post(srv: IntakeServer, partner: str, rows: list[dict[str, Any]] | bytes, **kw: Any) -> Any:
    body = rows if isinstance(rows, bytes) else orjson.dumps(rows)
    with srv.client() as c:
        return c.post(f"/v1/backflow/{partner}", content=body, headers=signed(srv.keys, partner, body, **kw))


def stored(srv: IntakeServer, table: str = "backflow") -> list[dict[str, Any]]:
    with srv.client() as c:
        wait_flushed(c)
    return lake_rows(srv.settings, table)


def test_valid_rows_are_stored_and_bad_ones_returned_and_quarantined(intake_server: IntakeServer) -> None:
    rows: list[Any] = [order(1), order(2, amount=12.5), {"event_id": "v", "action": "visit"}, order(3), "junk"]
    r = post(intake_server, "jd", rows)
    assert r.status_code == 200
    body = r.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (5, 2, 3)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(1, "amount"), (2, "ts"), (4, "row")]
    assert sorted(r["event_id"] for r in stored(intake_server)) == ["e1", "e3"]
    quarantined = sorted(lake_rows(intake_server.settings, "quarantine"), key=lambda q: q["row"])
    assert [(q["row"], q["field"], q["partner"]) for q in quarantined] == [(1, "amount", "jd"), (2, "ts", "jd"),
                                                                          (4, "row", "jd")]
    assert orjson.loads(quarantined[0]["raw"])["amount"] == 12.5  # the raw row, for replay


def test_ndjson_with_a_broken_line(intake_server: IntakeServer) -> None:
    body = ndjson([order(1)]) + b"{broken\n" + ndjson([order(2)])
    r = post(intake_server, "jd", body)
    assert (r.json()["accepted"], r.json()["errors"]) == (2, [{"row": 1, "field": "body",
                                                              "reason": "the line is not JSON"}])


def test_retries_and_repeated_orders_count_once(intake_server: IntakeServer) -> None:
    assert post(intake_server, "jd", [order(1), order(2)]).json()["accepted"] == 2
    again = post(intake_server, "jd", [order(1), order(2)]).json()  # a retried request
    assert (again["accepted"], again["duplicate"]) == (0, 2)
    # The same order under a new event id, and twice within one request: still one order.
    body = post(intake_server, "jd", [order(9, order_id="o1"), order(10), order(11, order_id="o10")]).json()
    assert (body["accepted"], body["duplicate"]) == (1, 2)
    # A refund of that order is a different action; the same event id at another partner is another event.
    assert post(intake_server, "jd", [order(12, action="refund", order_id="o1")]).json()["accepted"] == 1
    assert post(intake_server, "tmall", [order(1)]).json()["accepted"] == 1
    keys = sorted((r["partner"], r["event_id"]) for r in stored(intake_server))
    assert keys == [("jd", "e1"), ("jd", "e10"), ("jd", "e12"), ("jd", "e2"), ("tmall", "e1")]


def test_refusals_store_nothing(intake_server: IntakeServer) -> None:
    srv = intake_server
    body = orjson.dumps([order(1)])
    with srv.client() as c:
        def send(partner: str, **kw: Any) -> Any:
            headers = signed(srv.keys, "jd", body, **kw)
            return c.post(f"/v1/backflow/{partner}", content=body, headers=headers)

        bad_sig = send("jd", secret="not-the-secret")
        assert bad_sig.status_code == 401 and bad_sig.json()["detail"]["field"] == "X-Seedcart-Signature"
        stale = send("jd", ts=time.time() - 301)  # a captured request replayed after the window
        assert stale.status_code == 401 and stale.json()["detail"]["field"] == "X-Seedcart-Timestamp"
        assert send("jd", ts=time.time() + 400).status_code == 401
        assert send("tmall").status_code == 401  # jd's key on tmall's path
        assert send("tmall", key=srv.keys.tmall).status_code == 401  # tmall's key, but jd's signature
        assert send("jd", key=srv.keys.source).status_code == 403
        assert c.post("/v1/backflow/jd", content=body).status_code == 401
        no_sig = c.post("/v1/backflow/jd", content=body, headers={"Authorization": f"Bearer {srv.keys.jd}"})
        assert no_sig.status_code == 401
        assert c.get("/v1/intake/health").json()["log"]["fsynced"] == 0
        unknown = c.post("/v1/backflow/amazon", content=body, headers=signed(srv.keys, "jd", body, key=srv.keys.admin))
        assert unknown.status_code == 404 and unknown.json()["detail"]["field"] == "partner"


def test_a_replay_within_the_window_stores_nothing_twice(intake_server: IntakeServer) -> None:
    body = orjson.dumps([order(1), order(2)])
    headers = signed(intake_server.keys, "jd", body)
    with intake_server.client() as c:
        first = c.post("/v1/backflow/jd", content=body, headers=headers).json()
        replay = c.post("/v1/backflow/jd", content=body, headers=headers).json()
    assert (first["accepted"], replay["accepted"], replay["duplicate"]) == (2, 0, 2)
    assert len(stored(intake_server)) == 2


def test_admin_may_post_for_any_partner(intake_server: IntakeServer) -> None:
    r = post(intake_server, "pdd", [order(1)], key=intake_server.keys.admin)
    assert r.status_code == 200 and r.json()["accepted"] == 1


def test_products_resolve_through_the_catalog_and_unknown_ones_stay_null(intake_server: IntakeServer) -> None:
    catalog = open_catalog(intake_server.settings)
    with catalog.session() as s:
        brand = Brand(name="resolves")
        s.add(brand)
        category = s.get(Category, "beauty") or Category(id="beauty", name="Beauty")
        s.add(category)
        s.flush()
        product = Product(partner_id="jd", item_id="item-1", brand_id=brand.id, category_id="beauty")
        s.add(product)
        s.flush()
        expected = (product.id, brand.id, "beauty")
    catalog.close()
    post(intake_server, "jd", [order(1), order(2, item_id="not-in-catalog")])
    got = {r["event_id"]: (r["product_id"], r["brand_id"], r["category"]) for r in stored(intake_server)}
    assert got == {"e1": expected, "e2": (None, None, None)}


def test_raw_identifiers_never_reach_disk(intake_server: IntakeServer) -> None:
    rows = [order(1, click_id=None, identifiers={"phone": PHONE}),
            order(2, click_id=None, identifiers={"phone": PHONE}, amount="bad")]  # quarantined
    body = post(intake_server, "jd", rows).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    [row] = stored(intake_server)
    assert len(row["match_key"]) == 64
    assert lake_rows(intake_server.settings, "quarantine")[0]["raw"].count(PHONE) == 0
    for path in Path(intake_server.settings.data_dir).rglob("*"):
        if path.is_file():
            assert PHONE.encode() not in path.read_bytes(), path


def test_oversized_backflow_body_is_refused(start_intake: Any) -> None:
    srv = start_intake(max_backflow_bytes=1000)
    r = post(srv, "jd", [order(i) for i in range(20)])
    assert r.status_code == 413 and r.json()["detail"]["field"] == "body"


@pytest.mark.parametrize("wrapped", [False, True])
def test_identities_take_hashed_keys_only(intake_server: IntakeServer, wrapped: bool) -> None:
    rows = [{"user_id": "u1", "match_key": "d" * 64}, {"user_id": "u2", "match_key": PHONE},
            {"user_id": "u3", "identifiers": {"phone": PHONE}}, {"user_id": "u1", "match_key": "d" * 64}]
    payload = {"identities": rows} if wrapped else rows
    with intake_server.client() as c:
        auth = {"Authorization": f"Bearer {intake_server.keys.source}"}
        body = c.post("/v1/identities", json=payload, headers=auth).json()
        assert (body["accepted"], body["rejected"], body["duplicate"]) == (1, 2, 1)
        assert [(e["row"], e["field"]) for e in body["errors"]] == [(1, "match_key"), (2, "identifiers")]
        assert c.post("/v1/identities", json=rows, headers={"Authorization": f"Bearer {intake_server.keys.jd}"}
                      ).status_code == 403
    assert [(r["user_id"], r["match_key"]) for r in stored(intake_server, "identity")] == [("u1", "d" * 64)]
