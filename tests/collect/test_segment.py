"""Segment messages mapped to touches: the vocabulary, deep reads, clock correction, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedcart.collect.fields import timestamp_us
from seedcart.collect.segment import TRACK_KINDS, FastMapper, parse_body, parse_messages

NOW = timestamp_us("2026-05-01T12:00:00Z", "now")


def track(event: str, **props: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "messageId": f"m-{event}-{len(props)}", "userId": "u1",
            "properties": props}


@pytest.mark.parametrize(("event", "props", "kind"), [
    ("note_impression", {"note_id": "n1"}, "impression"),
    ("note_read", {"note_id": "n1", "dwell_ms": 4999}, "read"),
    ("note_read", {"note_id": "n1", "dwell_ms": 5000}, "deep_read"),  # image: dwell >= 5 s
    ("note_read", {"note_id": "n1", "watch_ratio": 0.49, "dwell_ms": 60000}, "read"),  # video: ratio decides
    ("note_read", {"note_id": "n1", "watch_ratio": 0.5}, "deep_read"),
    ("note_like", {"note_id": "n1"}, "like"),
    ("note_comment", {"note_id": "n1"}, "comment"),
    ("note_collect", {"note_id": "n1"}, "collect"),
    ("note_share", {"note_id": "n1"}, "share"),
    ("note_follow", {"note_id": "n1"}, "follow"),
    ("link_click", {"note_id": "n1", "partner": "jd"}, "link_click"),
    ("search", {"query": "防晒霜"}, "search"),
])
def test_vocabulary_maps_to_front_kinds(event: str, props: dict[str, Any], kind: str) -> None:
    out = parse_messages([track(event, **props)], None, received_us=NOW)
    assert not out.errors
    assert out.touches[0].kind == kind


def test_properties_are_kept_and_the_message_id_is_the_event_id() -> None:
    msg = track("note_impression", note_id="n9", placement="search", campaign_id=7, position=3)
    touch = parse_messages([msg], None, received_us=NOW).touches[0]
    assert touch.event_id == msg["messageId"]
    assert (touch.note_id, touch.placement, touch.campaign_id, touch.position) == ("n9", "search", 7, 3)
    assert touch.user_id == "u1" and touch.source == "api"


def test_timestamp_is_corrected_by_sent_at_against_receive_time() -> None:
    # The device clock runs 1 hour fast: it stamped the event 10 s before it sent the batch.
    msg = track("note_like", note_id="n1") | {"timestamp": "2026-05-01T13:00:00Z"}
    out = parse_messages([msg], "2026-05-01T13:00:10Z", received_us=NOW)
    assert out.touches[0].ts == NOW - 10_000_000
    assert out.touches[0].received_at == NOW


@pytest.mark.parametrize(("msg", "field"), [
    (track("note_like"), "properties.note_id"),
    (track("note_unknown", note_id="n1"), "event"),
    (track("search"), "properties.query"),
    (track("note_read", note_id="n1", watch_ratio=1.5), "properties.watch_ratio"),
    (track("note_impression", note_id="n1", placement="sidebar"), "properties.placement"),
    (track("note_impression", note_id="n1") | {"userId": None}, "userId"),
    (track("note_impression", note_id="n1") | {"timestamp": "not a time"}, "timestamp"),
    ("not an object", "batch"),
])
def test_bad_messages_are_refused_by_field_and_row_and_the_rest_kept(msg: Any, field: str) -> None:
    good = track("note_impression", note_id="n1")
    out = parse_messages([good, msg], None, received_us=NOW)
    assert len(out.touches) == 1
    assert [(e.row, e.field) for e in out.errors] == [(1, field)]
    assert out.errors[0].raw  # the raw message is kept for replay


def test_identify_with_a_match_key_registers_an_identity_and_others_are_ignored() -> None:
    key = "a" * 64
    out = parse_messages([{"type": "identify", "userId": "u1", "traits": {"match_key": key}},
                          {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
                          {"type": "page", "userId": "u1", "properties": {"note_id": "n1", "dwell_ms": 8000}}],
                         None, received_us=NOW)
    assert out.identities == [{"user_id": "u1", "match_key": key, "ts": NOW, "source": "api"}]
    assert out.ignored == 1
    assert out.touches[0].kind == "deep_read"


def test_single_calls_and_write_key_in_body() -> None:
    messages, sent_at, key = parse_body(b'{"event": "note_like", "writeKey": "k", "sentAt": "x"}', "track")
    assert messages[0]["type"] == "track" and key == "k" and sent_at == "x"


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 7000), st.sampled_from([0.0, 0.5, 0.49, 1.0, 3.0, 1.5]),
                    st.sampled_from(["", " n1", "n1", "feed", "search", "jd", "tmall", "x" * 201, "防晒",
                                     "2026-05-01"]))
_STAMPS = st.one_of(st.none(), st.just(""), st.just(1777636800), st.sampled_from(
    ["2026-05-01T12:00:00.000Z", "2026-05-01T11:59:59+08:00", "2026-05-01 12:00:00", "1999-01-01T00:00:00Z", "nope"]))
_PROPS = st.dictionaries(st.sampled_from(["note_id", "placement", "campaign_id", "position", "query", "dwell_ms",
                                          "watch_ratio", "surface", "click_id", "partner", "product_id", "link_id",
                                          "other"]), _VALUES, max_size=6)
_MESSAGES = st.fixed_dictionaries(
    {"event": st.sampled_from([*TRACK_KINDS, "note_unknown"]), "properties": _PROPS},
    optional={"type": st.sampled_from(["track", "page", "identify", None]), "messageId": _VALUES,
              "userId": _VALUES, "anonymousId": _VALUES, "timestamp": _STAMPS, "sentAt": _STAMPS,
              "context": st.sampled_from([{"os": {"name": "iOS"}}, {"os": {"name": "Android"}}, {"page": {}}, 3])})


@settings(max_examples=300, deadline=None)
@given(st.lists(_MESSAGES, max_size=5), _STAMPS)
def test_the_fast_mapping_agrees_with_the_general_one(messages: list[dict[str, Any]], sent_at: Any) -> None:
    fast = parse_messages(messages, sent_at, received_us=NOW)
    general = parse_messages(messages, sent_at, received_us=NOW, fast=False)
    assert fast.touches == general.touches
    assert [e.public() for e in fast.errors] == [e.public() for e in general.errors]
    assert (fast.identities, fast.ignored) == (general.identities, general.ignored)


def test_the_fast_mapping_agrees_on_the_common_shapes() -> None:
    base = {"type": "track", "messageId": "m1", "userId": "u1", "timestamp": "2026-05-01T12:00:00.000Z",
            "context": {"os": {"name": "iOS"}}}
    messages = [base | {"event": "note_read", "properties": {"note_id": "n1", "dwell_ms": 6000, "placement": "feed"}},
                base | {"event": "note_read", "properties": {"note_id": "n1", "watch_ratio": 0.2, "dwell_ms": 9000}},
                base | {"event": "link_click", "properties": {"note_id": "n1", "partner": "jd", "click_id": "c1",
                                                              "product_id": 5, "link_id": 2, "campaign_id": 3}},
                base | {"event": "search", "properties": {"query": "防晒霜", "position": 2}},
                base | {"event": "note_like", "properties": {"note_id": "n1", "query": None}},
                base | {"event": "note_share", "properties": {"note_id": "n1", "surface": "story"}, "sentAt": "x"}]
    mapper = FastMapper(None, None, NOW)
    assert all(mapper.touch(m) is not None for m in messages[:5])  # the fast path really takes them
    for sent_at in (None, "2026-05-01T12:00:05Z", "bad"):
        fast = parse_messages(messages, sent_at, received_us=NOW)
        general = parse_messages(messages, sent_at, received_us=NOW, fast=False)
        assert fast.touches == general.touches and len(fast.touches) == (0 if sent_at == "bad" else 5)
        assert [e.public() for e in fast.errors] == [e.public() for e in general.errors]
