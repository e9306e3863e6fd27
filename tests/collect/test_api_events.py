"""Front-link events through a real server: Segment's wire format, its client, dedupe and limits."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from tests.collect.conftest import IntakeServer, lake_rows, wait_flushed

from seedcart.catalog.db import open_catalog
from seedcart.catalog.models import Brand, Note


def msg(i: int, event: str = "note_impression", **props: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "messageId": f"msg-{i}", "userId": f"user-{i % 3}",
            "timestamp": "2026-05-01T12:00:00Z", "properties": {"note_id": f"note-{i % 5}", **props}}


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_batch_is_stored_and_a_retried_batch_counts_once(intake_server: IntakeServer) -> None:
    batch = {"batch": [msg(i) for i in range(20)], "sentAt": "2026-05-01T12:00:01Z"}
    with intake_server.client() as c:
        first = c.post("/v1/batch", json=batch, headers=basic(intake_server.keys.source))
        retry = c.post("/v1/batch", json=batch, headers=basic(intake_server.keys.source))
        assert first.status_code == retry.status_code == 200
        assert first.json() | {"errors": []} == {"success": True, "received": 20, "accepted": 20, "duplicate": 0,
                                                 "rejected": 0, "ignored": 0, "errors": []}
        assert (retry.json()["accepted"], retry.json()["duplicate"]) == (0, 20)
        wait_flushed(c)
    rows = lake_rows(intake_server.settings, "touch")
    assert sorted(r["event_id"] for r in rows) == sorted(f"msg-{i}" for i in range(20))


def test_write_key_in_the_body_and_single_calls(intake_server: IntakeServer) -> None:
    with intake_server.client() as c:
        r = c.post("/v1/track", json=msg(1, "note_like") | {"writeKey": intake_server.keys.source})
        assert r.status_code == 200 and r.json()["accepted"] == 1
        page = {"userId": "u", "messageId": "p1", "properties": {"note_id": "n", "dwell_ms": 7000}}
        r = c.post("/v1/page", json=page, headers=basic(intake_server.keys.source))
        assert r.json()["accepted"] == 1
        r = c.post("/v1/identify", json={"userId": "u", "messageId": "i1", "traits": {"match_key": "b" * 64}},
                   headers=basic(intake_server.keys.source))
        assert r.json()["accepted"] == 1
        wait_flushed(c)
    kinds = sorted(r["kind"] for r in lake_rows(intake_server.settings, "touch"))
    assert kinds == ["deep_read", "like"]
    assert [(r["user_id"], r["match_key"]) for r in lake_rows(intake_server.settings, "identity")] == [("u", "b" * 64)]


def test_known_notes_get_their_brand_and_unknown_notes_are_kept(intake_server: IntakeServer) -> None:
    catalog = open_catalog(intake_server.settings)
    with catalog.session() as s:
        brand = Brand(name="known-notes")
        s.add(brand)
        s.flush()
        s.add(Note(id="note-known", brand_id=brand.id))
        brand_id = brand.id
    catalog.close()
    batch = {"batch": [msg(1) | {"properties": {"note_id": "note-known"}},
                       msg(2) | {"properties": {"note_id": "note-from-the-content-system"}}]}
    with intake_server.client() as c:
        assert c.post("/v1/batch", json=batch, headers=basic(intake_server.keys.source)).json()["accepted"] == 2
        wait_flushed(c)
    brands = {r["note_id"]: r["brand_id"] for r in lake_rows(intake_server.settings, "touch")}
    assert brands == {"note-known": brand_id, "note-from-the-content-system": None}


def test_bad_messages_come_back_by_row_and_are_quarantined(intake_server: IntakeServer) -> None:
    batch = {"batch": [msg(1), msg(2, "note_teleport"), msg(3) | {"properties": {}}]}
    with intake_server.client() as c:
        body = c.post("/v1/batch", json=batch, headers=basic(intake_server.keys.source)).json()
        assert (body["accepted"], body["rejected"]) == (1, 2)
        assert [(e["row"], e["field"]) for e in body["errors"]] == [(1, "event"), (2, "properties.note_id")]
        wait_flushed(c)
    quarantined = lake_rows(intake_server.settings, "quarantine")
    assert sorted(q["row"] for q in quarantined) == [1, 2]
    assert all(q["endpoint"] == "POST /v1/batch" and "msg-" in q["raw"] for q in quarantined)


def test_keys_are_checked(intake_server: IntakeServer) -> None:
    with intake_server.client() as c:
        assert c.post("/v1/batch", json={"batch": [msg(1)]}).status_code == 401
        assert c.post("/v1/batch", json={"batch": [msg(1)]}, headers=basic("sc_source_forged")).status_code == 401
        assert c.post("/v1/batch", json={"batch": [msg(1)]}, headers=basic(intake_server.keys.brand)).status_code == 403
        assert c.post("/v1/batch", json={"batch": [msg(1)]},
                      headers={"Authorization": f"Bearer {intake_server.keys.source}"}).status_code == 200


@pytest.mark.parametrize(("batch", "status"), [
    ({"batch": [msg(1, padding="x" * 33 * 1024)]}, 400),  # one message over 32 KB
    ({"batch": [msg(i, padding="x" * 20 * 1024) for i in range(26)]}, 400),  # batch over 500 KB
    ({"batch": [msg(i, padding="x" * 20 * 1024) for i in range(20)]}, 200),  # under both
])
def test_oversized_payloads_are_refused_with_400(intake_server: IntakeServer, batch: dict[str, Any],
                                                 status: int) -> None:
    with intake_server.client() as c:
        r = c.post("/v1/batch", json=batch, headers=basic(intake_server.keys.source))
        assert r.status_code == status
        if status == 400:
            assert r.json()["detail"]["field"] in ("batch", "body")
            assert c.get("/v1/intake/health").json()["log"]["fsynced"] == 0  # nothing stored


def test_a_message_nested_too_deeply_to_keep_is_a_400_naming_its_row(intake_server: IntakeServer) -> None:
    deep = b"[" * 300 + b"]" * 300  # JSON that reads (1024 levels) but cannot be written back (255)
    body = b'{"batch": [{"type": "track", "event": "note_impression", ' \
        b'"messageId": "m0", "userId": "u0", "properties": {"note_id": "n0"}}, ' \
        b'{"type": "track", "event": "note_impression", "messageId": "m1", "userId": "u1", ' \
        b'"properties": {"note_id": "n1", "junk": ' + deep + b"}}]}"
    with intake_server.client() as c:
        r = c.post("/v1/batch", content=body, headers=basic(intake_server.keys.source))
        assert r.status_code == 400, r.text
        assert r.json()["detail"]["field"] == "batch" and r.json()["detail"]["row"] == 1
        assert c.get("/v1/intake/health").json()["log"]["fsynced"] == 0  # nothing stored


def test_malformed_json_is_a_400_naming_the_body(intake_server: IntakeServer) -> None:
    with intake_server.client() as c:
        r = c.post("/v1/batch", content=b"{not json", headers=basic(intake_server.keys.source))
        assert r.status_code == 400 and r.json()["detail"]["field"] == "body"


def test_the_real_segment_client_delivers(intake_server: IntakeServer) -> None:
    from segment.analytics.client import Client

    failures: list[Any] = []
    client = Client(write_key=intake_server.keys.source, host=intake_server.url, sync_mode=True,
                    on_error=lambda e, batch: failures.append(e), max_retries=1)
    client.track(user_id="reader-1", event="note_read", properties={"note_id": "n1", "dwell_ms": 9000,
                                                                     "placement": "feed"})
    client.track(anonymous_id="anon-2", event="link_click", properties={"note_id": "n1", "partner": "jd"})
    client.identify(user_id="reader-1", traits={"match_key": "c" * 64})
    client.page(user_id="reader-1", name="note", properties={"note_id": "n2"})
    client.flush()
    assert failures == []
    with intake_server.client() as c:
        wait_flushed(c)
    touches = sorted((r["user_id"], r["kind"], r["note_id"]) for r in lake_rows(intake_server.settings, "touch"))
    assert touches == [("anon-2", "link_click", "n1"), ("reader-1", "deep_read", "n1"), ("reader-1", "read", "n2")]
    assert len(lake_rows(intake_server.settings, "identity")) == 1
