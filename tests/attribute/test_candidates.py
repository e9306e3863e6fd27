"""Which touches are candidates: boundaries, click-through, identity, brands, precedence, lookbacks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.attribute.helpers import DAY, at, credit_of, event, run, touch

from seedcart.attribute import AttributionConfig
from seedcart.types import MODELS

pytestmark = pytest.mark.usefixtures("both_forms")


def test_a_touch_at_the_same_instant_as_the_event_is_not_a_candidate() -> None:
    rows = run([touch("t1", at(0), "A"), touch("t2", at(5), "B")], [event("e1", at(5))])
    assert credit_of(rows, "linear") == {"t1": pytest.approx(1.0)}


def test_a_touch_exactly_at_the_lookback_counts_and_one_second_more_does_not() -> None:
    touches = [touch("edge", at(0), "A"), touch("old", at(0, -1), "B"), touch("new", at(10), "C")]
    rows = run(touches, [event("e1", at(15))])
    assert set(credit_of(rows, "linear")) == {"edge", "new"}


def test_a_click_id_credits_its_click_fully_in_every_model() -> None:
    touches = [touch("view", at(1), "A"), touch("like", at(2), "B", kind="like"),
               touch("click", at(3), "C", kind="link_click", click_id="c1", user="u9"),
               touch("late", at(4), "D", kind="like")]
    rows = run(touches, [event("e1", at(5), click_id="c1")], models=None)
    for model in MODELS:
        assert credit_of(rows, model) == {"click": pytest.approx(1.0)}, model
    assert {r["match"] for r in rows} == {"click"}


def test_the_click_id_of_a_bot_click_is_not_honoured_and_the_bot_click_never_counts() -> None:
    touches = [touch("bot", at(3), "C", kind="link_click", click_id="c1", is_bot=True),
               touch("view", at(1), "A")]
    rows = run(touches, [event("e1", at(5), click_id="c1")])
    assert credit_of(rows, "last_touch") == {"view": 1.0}
    assert {r["match"] for r in rows} == {"identity"}


def test_a_click_id_older_than_the_click_lookback_falls_back_to_identity() -> None:
    touches = [touch("click", at(0), "C", kind="link_click", click_id="c1"), touch("view", at(10), "A")]
    rows = run(touches, [event("e1", at(16), click_id="c1")])
    assert credit_of(rows, "linear") == {"view": 1.0}


def test_duplicate_clicks_never_count() -> None:
    touches = [touch("dup", at(3), "C", kind="link_click", click_id="c1", is_duplicate=True), touch("v", at(1), "A")]
    rows = run(touches, [event("e1", at(5), click_id="c1")])
    assert credit_of(rows, "linear") == {"v": 1.0}


def test_identity_finds_every_user_behind_a_match_key_on_the_products_brand_only() -> None:
    touches = [touch("a", at(1), "A", user="u1"), touch("b", at(2), "B", user="u2"),
               touch("other_brand", at(3), "X", user="u1", brand=2), touch("stranger", at(3), "S", user="u3")]
    rows = run(touches, [event("e1", at(5))], identity=[("u1", "k1"), ("u2", "k1"), ("u3", "k3")])
    assert credit_of(rows, "linear") == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}


def test_precedence_click_beats_engagement_beats_view_and_can_be_turned_off() -> None:
    touches = [touch("click", at(1), "C", kind="link_click", click_id="c9"), touch("like1", at(2), "L", kind="like"),
               touch("like2", at(3), "M", kind="comment"), touch("view", at(4), "V")]
    rows = run(touches, [event("e1", at(5))])
    assert credit_of(rows, "last_touch") == {"click": 1.0}
    assert credit_of(rows, "first_touch") == {"click": 1.0}
    no_click = run(touches[1:], [event("e1", at(5))])
    assert credit_of(no_click, "last_touch") == {"like2": 1.0}
    assert credit_of(no_click, "first_touch") == {"like1": 1.0}
    off = run(touches, [event("e1", at(5))], config=AttributionConfig(precedence=False))
    assert credit_of(off, "last_touch") == {"view": 1.0}
    assert credit_of(off, "first_touch") == {"click": 1.0}


def test_a_zero_lookback_means_that_class_never_counts() -> None:
    config = AttributionConfig(lookback={"click": 15 * DAY, "engagement": 15 * DAY, "view": timedelta(0)})
    rows = run([touch("v", at(4), "V"), touch("l", at(1), "L", kind="like")], [event("e1", at(5))], config=config)
    assert credit_of(rows, "linear") == {"l": 1.0}


def test_partner_override_beats_category_t_plus_x_which_beats_the_default() -> None:
    config = AttributionConfig(partner_lookback={"tmall": {"view": 2 * DAY}},
                               category_lookback={"mother_baby": 70 * DAY})
    touches = [touch("d40", at(0), "A"), touch("d20", at(20), "B"), touch("d1", at(39), "C")]
    events = [event("tm", at(40), partner="tmall", category="mother_baby"),
              event("baby", at(40), partner="jd", category="mother_baby"),
              event("plain", at(40), partner="jd", category="beauty")]
    rows = run(touches, events, config=config)
    assert set(credit_of(rows, "linear", "tm")) == {"d1"}
    assert set(credit_of(rows, "linear", "baby")) == {"d40", "d20", "d1"}
    assert set(credit_of(rows, "linear", "plain")) == {"d1"}


def test_duplicate_events_and_repeated_orders_count_once() -> None:
    touches = [touch("v", at(1), "A")]
    events = [event("e1", at(5)), event("e1", at(5)), event("e2", at(6), order_id="o-e1")]
    rows = run(touches, events)
    assert {(r["event_id"], r["model"]) for r in rows if r["model"] == "linear"} == {("e1", "linear")}
    assert sum(r["credit"] for r in rows if r["model"] == "linear") == 1.0


def test_events_without_candidates_credit_nothing() -> None:
    assert run([touch("v", at(1), "A", user="u2")], [event("e1", at(5))], identity=[("u1", "k1")]) == []
