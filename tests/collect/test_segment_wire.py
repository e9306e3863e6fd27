"""Segment bodies read with msgspec (segment_wire) give exactly what the orjson reading and the general
mapping give: the same refusal of a bad body, the same oversized message, the same touches, refusals
(row, field, reason and the raw message kept for the quarantine), identities and ignored calls."""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.collect.conftest import IntakeServer, lake_rows, wait_flushed
from tests.collect.test_api_events import basic
from tests.collect.test_segment import _MESSAGES, _STAMPS, NOW

from seedcart.collect import segment_wire
from seedcart.collect.segment import MessageMapper, message_bytes, parse_body, parse_messages
from seedcart.collect.segment_wire import Track
from seedcart.errors import ValidationError

LIMIT = 32 * 1024


def reference(body: bytes, limit: int = LIMIT) -> Any:
    """What the server made of a /v1/batch body before segment_wire: orjson, then the general path."""
    try:
        messages, sent_at, write_key = parse_body(body, "batch")
    except ValidationError as exc:
        return "refused", exc.field, exc.message
    try:
        big = next((row for row, message in enumerate(messages) if message_bytes(message, row) > limit), None)
    except ValidationError as exc:  # orjson cannot encode what it decoded (nested over 255 deep): a 400
        return "unkept", exc.field, exc.row
    return outcome(write_key, big, parse_messages(messages, sent_at, received_us=NOW, fast=False))


def wire(body: bytes, limit: int = LIMIT) -> Any:
    """What the server makes of it now."""
    try:
        messages = segment_wire.read(body, "batch")
    except ValidationError as exc:
        return "refused", exc.field, exc.message
    try:
        big = messages.oversized(limit)
    except ValidationError as exc:
        return "unkept", exc.field, exc.row
    return outcome(messages.write_key, big, messages.parse(NOW))


def outcome(write_key: str | None, big: int | None, batch: Any) -> Any:
    return (write_key, big, batch.received, batch.touches, batch.identities, batch.ignored,
            [(e.row, e.field, e.reason, e.raw) for e in batch.errors])


def typed_rows(body: bytes) -> list[bool]:
    """Which messages segment_wire took as a typed Track (the rest went the orjson way)."""
    return [isinstance(row, Track) for row in segment_wire.read(body, "batch").rows]


def body_of(messages: list[Any], *, ascii_only: bool = False, **envelope: Any) -> bytes:
    """A /v1/batch body as a client might write it (spaced, and beyond orjson: 2**64 is a number)."""
    return json.dumps({"batch": messages, **envelope}, ensure_ascii=ascii_only).encode()


BASE = {"type": "track", "messageId": "m1", "userId": "u1", "timestamp": "2026-05-01T12:00:00.000Z",
        "context": {"os": {"name": "iOS"}}}
#: what Segment's analytics-python sends for a track call
ANALYTICS_PYTHON = {"integrations": {}, "anonymousId": None, "properties": {"note_id": "n1", "dwell_ms": 9000},
                    "timestamp": "2026-05-01T12:00:00.000+00:00", "context": {"library": {
                        "name": "analytics-python", "version": "2.3.3"}},
                    "userId": "reader-1", "type": "track", "event": "note_read",
                    "messageId": "0b8e2f6e-5e1a-4c57-9d7b-2e5c0d1f3a4b"}
COMMON = [
    BASE | {"event": "note_impression", "properties": {"note_id": "n1", "placement": "feed", "position": 3}},
    BASE | {"event": "note_read", "properties": {"note_id": "n1", "dwell_ms": 6000, "watch_ratio": 0.25}},
    BASE | {"event": "link_click", "properties": {"note_id": "n1", "partner": "jd", "click_id": "c1",
                                                  "product_id": 5, "link_id": 2, "campaign_id": 3}},
    BASE | {"event": "search", "properties": {"query": "防晒霜", "surface": "tab"}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "query": None, "partner": "jd"}},
    BASE | {"event": "note_share", "properties": {"note_id": "n1", "query": ""}, "userId": None,
            "anonymousId": "a1", "context": {"page": {"url": "https://x"}, "userAgent": "Mozilla"}},
    BASE | {"event": "note_collect", "properties": {"note_id": "n1"}, "context": {"device": {"type": "android"}}},
    ANALYTICS_PYTHON,
]


def test_the_common_track_calls_are_typed_and_mapped_as_before() -> None:
    body = body_of([m | {"messageId": f"m{i}"} for i, m in enumerate(COMMON)], sentAt="2026-05-01T12:00:01Z")
    rows = segment_wire.read(body, "batch").rows
    mapper = MessageMapper("2026-05-01T12:00:01Z", NOW, count=len(rows))
    assert all(segment_wire._touch(row, mapper.fast) is not None for row in rows)  # the typed way really maps them
    assert wire(body) == reference(body)
    assert len(wire(body)[3]) == len(COMMON)


@pytest.mark.parametrize("message", [
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "title": "not declared"}},
    BASE | {"event": "note_like", "properties": {"note_id": 17}},  # a number id: the general path takes it
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "position": 2.0}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "position": 2**63}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "watch_ratio": 1.5}},
    BASE | {"event": "link_click", "properties": {"note_id": "n1", "partner": "nope"}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "placement": "sidebar"}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "placement": ""}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "partner": "nope"}},  # ignored off link clicks
    BASE | {"event": "note_like", "properties": []},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "type": None},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "timestamp": 1777636800},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "context": "phone"},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "integrations": {"x": {"y": 1}}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "messageId": ""},
    {"type": "identify", "userId": "u1", "traits": {"match_key": "a" * 64}},
    {"type": "page", "userId": "u1", "properties": {"note_id": "n2"}},
    "not an object", 3, None, [],
])
def test_anything_else_goes_the_orjson_way_and_ends_as_before(message: Any) -> None:
    body = body_of([COMMON[0], message, COMMON[1]])
    assert typed_rows(body) == [True, False, True]
    assert wire(body) == reference(body)


@pytest.mark.parametrize("message", [
    BASE | {"event": "note_like", "properties": {"note_id": " n1"}},  # padded ids: the general path strips them
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "userId": "u1\u3000"},
    BASE | {"event": "note_like", "properties": {"note_id": "n1", "surface": "\tx"}},
    BASE | {"event": "link_click", "properties": {"note_id": "n1", "click_id": "c1 "}},
    BASE | {"event": "note_like", "properties": {}},
    BASE | {"event": "search", "properties": {"query": ""}},
    BASE | {"event": "note_unknown", "properties": {"note_id": "n1"}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "userId": None},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "messageId": None},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "timestamp": "not a time"},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "sentAt": "not a time"},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "timestamp": "", "originalTimestamp": "1999-01-01"},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"}, "context": {"os": {"name": "Windows"}}},
    BASE | {"event": "note_like", "properties": {"note_id": "n1"},
            "context": {"os": {"name": None}, "userAgent": None}},
])
def test_typed_calls_the_typed_way_cannot_map_are_mapped_or_refused_by_the_general_path(message: Any) -> None:
    for sent_at in (None, "2026-05-01T12:00:05Z", "bad"):
        body = body_of([message, COMMON[0]], sentAt=sent_at)
        assert typed_rows(body) == [True, True]
        assert wire(body) == reference(body)


def _batch(messages: str) -> bytes:
    return b'{"batch": [' + messages.encode("utf-8", "surrogatepass") + b"]}"


_GOOD = '{"event": "note_like", "messageId": "m1", "userId": "u1", "properties": {"note_id": "n1"}}'


@pytest.mark.parametrize("body", [
    _batch('{"event": "note_like", "messageId": "\\ud800", "userId": "u1"}'),  # a lone surrogate
    _batch('{"event": "note_like", "messageId": "\\udc00x", "userId": "u1"}'),
    _batch(_GOOD).replace(b'"m1"', b'"m\xff"'),  # not UTF-8, in a declared field
    _batch(_GOOD[:-1] + ', "other": "X"}').replace(b"X", b"\xed\xa0\x80"),  # an encoded surrogate, undeclared
    _batch(_GOOD[:-1] + ', "other": "X"}').replace(b"X", b"\xc0\xaf"),  # an overlong encoding
    _batch(_GOOD.replace('"n1"}', '"n1", "watch_ratio": 1e400}')),  # infinity
    _batch(_GOOD[:-1] + ', "other": -1e400}'),
    _batch(_GOOD[:-1] + ', "other": ' + "1" * 400 + "}"),  # an int too big for a double
    _batch(_GOOD.replace('"n1"}', '"n1", "watch_ratio": NaN}')),
    _batch(_GOOD[:-1] + ', "other": Infinity}'),
    _batch(_GOOD[:-1] + ', "other": "a\x01b"}'),  # a raw control character
    _batch(_GOOD[:-1] + ', "other": "\\x"}'),  # a bad escape
    _batch(_GOOD + ", " + _GOOD.replace("m1", "m2") + ","),  # a trailing comma
    _batch(_GOOD) + b" x",  # trailing garbage
    b"\xef\xbb\xbf" + _batch(_GOOD),  # a byte-order mark
    b"", b"[]", b"null", b'{"batch": {}}', b'{"batch": null}', b'{"sentAt": "x"}',
    _batch(_GOOD)[:-3],  # cut short
])
def test_bodies_orjson_refuses_are_refused_with_its_words(body: bytes) -> None:
    expected = reference(body)
    assert wire(body) == expected
    assert expected[0] == "refused"


@pytest.mark.parametrize("body", [
    _batch(_GOOD.replace('"event": "note_like"', '"event": "note_read", "event": "note_like"')),  # last one wins
    _batch(_GOOD.replace('"properties": {"note_id": "n1"}',
                         '"properties": {"note_id": "n0"}, "properties": {"note_id": "n1"}')),
    b'{"batch": [1], "batch": [' + _GOOD.encode() + b"]}",
    _batch(_GOOD.replace('"event"', '"\\u0065vent"').replace('"n1"', '"\\u006e1"')),  # escapes
    _batch(_GOOD.replace('"n1"', '"n1\\ud83d\\ude00"')),  # a surrogate pair
    _batch(_GOOD.replace('"n1"', '"n1\x7f"')),
    _batch(_GOOD.replace('"n1"}', '"n1", "position": -0}')),
    _batch(_GOOD.replace("note_like", "note_read").replace('"n1"}', '"n1", "watch_ratio": -0.0}')),
    _batch(_GOOD.replace("note_like", "note_read").replace('"n1"}', '"n1", "watch_ratio": 5E-1}')),
    _batch(_GOOD.replace("note_like", "note_read").replace('"n1"}', '"n1", "watch_ratio": 1}')),
    _batch(_GOOD[:-1] + ', "other": 1e-400}'),
    _batch(_GOOD[:-1] + ', "other": 18446744073709551616}'),
    _batch(_GOOD.replace('"n1"}', '"n1", "position": 123456789012345678901234567890}')),  # orjson: a float
    _batch(_GOOD[:-1] + ', "other": 123456789012345678901234567890}'),
    _batch(" \n\t\r" + _GOOD + " \n"),
    _batch(_GOOD)[:-1] + b', "writeKey": "k", "sentAt": "2026-05-01T12:00:00Z"}',
    _batch(_GOOD)[:-1] + b', "writeKey": 7, "sentAt": 1777636800}',  # a number sentAt: refused by row
    _batch(_GOOD)[:-1] + b', "context": {"library": {}}}',  # an undeclared envelope key
    _batch(_GOOD[:-1] + ', "other": ' + "[" * 1021 + "]" * 1021 + "}"),  # as deep as orjson goes
    _batch(_GOOD[:-1] + ', "other": ' + "[" * 1022 + "]" * 1022 + "}"),  # one too deep in the body
    _batch(_GOOD[:-1] + ', "other": ' + "[" * 3000 + "]" * 3000 + "}"),
])
def test_hostile_but_valid_bodies_end_as_before(body: bytes) -> None:
    assert wire(body) == reference(body)


def test_the_size_limit_measures_the_compact_json_not_the_bytes_received() -> None:
    read = {"event": "note_read", "messageId": "m1", "userId": "u1", "properties": {"note_id": "n1", "watch_ratio": 1}}
    compact = orjson.dumps(read).decode()
    grows = compact.replace('"watch_ratio":1', '"watch_ratio":5e-4')  # re-encoded as 0.0005: 2 bytes longer
    spaced = compact.replace(",", ",      ")  # re-encoded without the spaces
    body = _batch(",".join([spaced, grows, compact]))
    assert typed_rows(body) == [True, True, True]
    for limit in range(len(compact) - 10, len(spaced) + 2):
        assert wire(body, limit) == reference(body, limit), limit
    assert wire(body, len(grows))[1] == 1  # not within the limit, though the bytes received are
    assert len(spaced) > len(grows) + 2
    assert wire(body, len(grows) + 2)[1] is None  # within it, though the spaced bytes received are not


@pytest.mark.parametrize("depth", [1020, 1021, 1022, 1023])
def test_a_message_nested_deeper_than_orjson_reads_a_body_is_refused_as_before(depth: int) -> None:
    body = _batch(_GOOD + ', {"other": ' + "[" * depth + "]" * depth + "}")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # msgspec then splits the batch however deep a message is
    try:
        assert wire(body) == reference(body)
    finally:
        sys.setrecursionlimit(limit)


def track_calls(*, other_types: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Track calls with values of the declared types, meaningful or not (padded ids, an unknown event, bad
    times, placements, partners); with ``other_types``, now and then a value of another type too."""

    def mostly(usual: list[Any], odd: list[Any]) -> st.SearchStrategy[Any]:
        return st.sampled_from(usual * 4 + odd)

    def values(declared: st.SearchStrategy[Any], other: list[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(declared, st.sampled_from(other)) if other_types else declared

    ids = values(mostly(["n1", "u1", "m-1", "防晒", "x" * 200], [" n1", "n1 ", "\u3000", None]), ["x" * 201, "", 7])
    counts = values(st.one_of(st.integers(0, 9000), st.sampled_from([2**63 - 1, None])), [-1, 2**63, 2**64, 3.0, True])
    times = values(mostly(["2026-05-01T12:00:00.000Z", "2026-05-01T11:59:59+08:00", None],
                          ["2026-05-01 12:00:00", "", "nope", "1999-01-01T00:00:00Z"]), [1777636800])
    props = st.fixed_dictionaries({"note_id": ids}, optional={
        "placement": values(st.sampled_from(["feed", "search", "video", None]), ["", "sidebar"]),
        "campaign_id": counts, "position": counts, "dwell_ms": counts, "product_id": counts, "link_id": counts,
        "watch_ratio": values(st.sampled_from([0.0, -0.0, 0.25, 0.49, 0.5, 1.0, 1, 0, 5e-4, 1e-300, None]),
                              [1.5, True]),
        "query": values(st.sampled_from(["防晒", "q", "", "x" * 1000, None]), ["x" * 1001, 3]),
        "surface": ids, "click_id": ids, "partner": values(st.sampled_from(["jd", "tmall", None]), ["nope", ""])})
    contexts = st.sampled_from([{"os": {"name": "iOS"}}, {"os": {"name": "iPhone OS"}}, {"os": {"name": "Windows"}},
                                {"os": {"name": None}}, {"os": None}, {"device": {"type": "ios"}},
                                {"device": {"name": "iPad", "adTrackingEnabled": True}}, {"page": None},
                                {"userAgent": "Mozilla"}, {"library": {"name": "x", "version": "1"}}, {}, None])
    return st.fixed_dictionaries(
        {"event": mostly(["note_impression", "note_read", "link_click", "search", "note_like"], ["x"]),
         "messageId": ids, "userId": ids, "properties": props},
        optional={"type": values(st.just("track"), ["page"]), "anonymousId": ids, "timestamp": times,
                  "originalTimestamp": times, "sentAt": times, "context": contexts,
                  "integrations": st.sampled_from([{}, {"All": False}])})


_TRACK_CALLS = track_calls(other_types=False)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TRACK_CALLS, min_size=1, max_size=6), st.sampled_from(["2026-05-01T12:00:05Z", None, None, "bad"]),
       st.sampled_from([150, 250, 350, LIMIT]))
def test_any_batch_of_track_calls_ends_as_before(messages: list[Any], sent_at: Any, limit: int) -> None:
    body = body_of(messages, sentAt=sent_at)
    assert all(typed_rows(body))
    assert wire(body, limit) == reference(body, limit)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(track_calls(other_types=True), _MESSAGES), max_size=6), st.one_of(_STAMPS, st.just("bad")),
       st.sampled_from([None, "k", 7]), st.sampled_from([150, 250, 350, LIMIT]), st.booleans())
def test_any_batch_ends_as_before(messages: list[Any], sent_at: Any, write_key: Any, limit: int,
                                  ascii_only: bool) -> None:
    body = body_of(messages, ascii_only=ascii_only, sentAt=sent_at, writeKey=write_key)
    assert wire(body, limit) == reference(body, limit)


_HOSTILE = st.sampled_from([b"\\", b'"', b"\xff", b"\xed\xa0\x80", b"\\ud800", b"e9", b"1e400", b"0" * 30, b"{", b"}",
                            b"[", b"]", b",", b":", b"-", b".", b" ", b"null", b"\x00", b'"x":1,'])


@settings(max_examples=400, deadline=None)
@given(st.lists(_TRACK_CALLS, min_size=1, max_size=3), st.data())
def test_any_corruption_of_a_typed_batch_ends_as_before(messages: list[Any], data: st.DataObject) -> None:
    body = bytearray(body_of(messages, sentAt="2026-05-01T12:00:05Z"))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body)))
        cut = data.draw(st.integers(0, 2))
        body[at:at + cut] = data.draw(_HOSTILE)
    assert wire(bytes(body), 200) == reference(bytes(body), 200)


def test_through_the_server_typed_calls_are_stored_refused_and_measured_as_before(intake_server: IntakeServer) -> None:
    refused = COMMON[1] | {"messageId": "w-1", "timestamp": "not a time"}
    identify = {"type": "identify", "userId": "u1", "traits": {"match_key": "c" * 64}}
    batch = [COMMON[0] | {"messageId": "w-0"}, refused, identify,
             COMMON[2] | {"messageId": "w-3", "properties": {"note_id": "n3", "title": "undeclared"}}]
    body = body_of(batch, sentAt="2026-05-01T12:00:01Z")
    assert typed_rows(body) == [True, True, False, False]
    auth = basic(intake_server.keys.source)
    with intake_server.client() as c:
        answer = c.post("/v1/batch", content=body, headers=auth | {"Content-Type": "application/json"}).json()
        assert answer == {"success": True, "received": 4, "accepted": 3, "duplicate": 0, "rejected": 1, "ignored": 0,
                          "errors": [{"row": 1, "field": "timestamp",
                                      "reason": "timestamp must be an ISO-8601 time, got 'not a time'"}]}
        big = [COMMON[0], COMMON[1] | {"context": {"userAgent": "x" * 33 * 1024}}]
        r = c.post("/v1/batch", content=body_of(big), headers=auth)
        assert (r.status_code, r.json()["detail"]["row"], r.json()["detail"]["field"]) == (400, 1, "batch")
        lone = _batch('{"event": "note_like", "messageId": "\\ud800", "userId": "u1"}')
        r = c.post("/v1/batch", content=lone, headers=auth)
        assert (r.status_code, r.json()["detail"]["error"]) == (400, reference(lone)[2])
        wait_flushed(c)
    touches = {r["event_id"]: (r["kind"], r["note_id"], r["placement"], r["position"], r["device"])
               for r in lake_rows(intake_server.settings, "touch")}
    assert touches == {"w-0": ("impression", "n1", "feed", 3, "ios"), "w-3": ("link_click", "n3", None, None, "ios")}
    assert [q["raw"] for q in lake_rows(intake_server.settings, "quarantine")] == [orjson.dumps(refused).decode()]
