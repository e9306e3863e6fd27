"""The credit models: hand-worked splits, refunds, and the totals every model keeps."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

import pytest
from tests.attribute.helpers import at, credit_of, event, run, touch

from seedcart.attribute import AttributionConfig
from seedcart.types import MODELS

FOUR = [touch("t1", at(1), "A"), touch("t2", at(2), "B", kind="like"), touch("t3", at(3), "C"),
        touch("t4", at(4), "D", kind="comment")]

pytestmark = pytest.mark.usefixtures("both_forms")


@pytest.fixture(scope="module")
def four_touch_rows() -> list[dict[str, object]]:
    return run(FOUR, [event("e1", at(5), amount=1000)], models=None)


def test_linear_splits_equally(four_touch_rows: list[dict[str, object]]) -> None:
    assert credit_of(four_touch_rows, "linear") == pytest.approx(dict.fromkeys(("t1", "t2", "t3", "t4"), 0.25))


def test_position_based_gives_40_20_40(four_touch_rows: list[dict[str, object]]) -> None:
    assert credit_of(four_touch_rows, "position_based") == pytest.approx(
        {"t1": 0.4, "t2": 0.1, "t3": 0.1, "t4": 0.4}, rel=1e-12)


def test_position_based_with_one_and_two_touches() -> None:
    one = run(FOUR[:1], [event("e1", at(5))], models=("position_based",))
    two = run(FOUR[:2], [event("e1", at(5))], models=("position_based",))
    assert credit_of(one, "position_based") == {"t1": 1.0}
    assert credit_of(two, "position_based") == pytest.approx({"t1": 0.5, "t2": 0.5})


def test_time_decay_halves_weight_per_half_life(four_touch_rows: list[dict[str, object]]) -> None:
    weights = {t: 2 ** (-(5 - d) / 7) for t, d in (("t1", 1), ("t2", 2), ("t3", 3), ("t4", 4))}
    total = sum(weights.values())
    assert credit_of(four_touch_rows, "time_decay") == pytest.approx({t: w / total for t, w in weights.items()},
                                                                     rel=1e-9)
    short = run(FOUR[2:], [event("e1", at(5))], models=("time_decay",),
                config=AttributionConfig(half_life=timedelta(days=1)))
    assert credit_of(short, "time_decay") == pytest.approx({"t3": 1 / 3, "t4": 2 / 3}, rel=1e-9)


def test_last_and_first_touch_with_precedence(four_touch_rows: list[dict[str, object]]) -> None:
    assert credit_of(four_touch_rows, "last_touch") == {"t4": 1.0}
    assert credit_of(four_touch_rows, "first_touch") == {"t2": 1.0}


def test_every_model_credits_one_unit_per_event_and_amount_times_credit(
        four_touch_rows: list[dict[str, object]]) -> None:
    totals: dict[str, float] = defaultdict(float)
    for r in four_touch_rows:
        totals[str(r["model"])] += float(r["credit"])  # type: ignore[arg-type]
        assert r["credited_amount"] == pytest.approx(float(r["credit"]) * 1000)  # type: ignore[arg-type]
        assert r["lag_s"] == (r["ts"] - r["touch_ts"]).total_seconds()  # type: ignore[operator]
    assert set(totals) == set(MODELS)
    assert all(math.isclose(v, 1.0, rel_tol=1e-12) for v in totals.values()), totals


def test_equal_timestamps_are_ordered_by_touch_id_on_every_run() -> None:
    touches = [touch("b", at(1), "B"), touch("a", at(1), "A"), touch("c", at(2), "C")]
    rows = run(touches, [event("e1", at(5))], models=("first_touch", "position_based"))
    assert credit_of(rows, "first_touch") == {"a": 1.0}
    assert credit_of(rows, "position_based") == pytest.approx({"a": 0.4, "b": 0.2, "c": 0.4})


def test_a_refund_takes_back_credit_in_proportion_to_the_order() -> None:
    events = [event("e1", at(5), amount=1000, order_id="o1"),
              event("r1", at(6), action="refund", amount=400, order_id="o1")]
    rows = run(FOUR[:2], events, models=("linear", "last_touch"))
    assert credit_of(rows, "linear", "r1") == pytest.approx({"t1": -0.2, "t2": -0.2})
    assert credit_of(rows, "last_touch", "r1") == pytest.approx({"t2": -0.4})
    refunded = sum(float(r["credited_amount"]) for r in rows if r["event_id"] == "r1" and r["model"] == "linear")
    assert refunded == pytest.approx(-400.0)
    net = sum(float(r["credited_amount"]) for r in rows if r["model"] == "linear")
    assert net == pytest.approx(600.0)


def test_a_full_refund_nets_the_order_to_zero_and_a_refund_of_an_uncredited_order_credits_nothing() -> None:
    events = [event("e1", at(5), amount=1000, order_id="o1"),
              event("r1", at(6), action="refund", amount=1000, order_id="o1"),
              event("r2", at(6), action="refund", amount=50, order_id="unknown")]
    rows = run(FOUR[:2], events, models=("linear",))
    assert sum(float(r["credit"]) for r in rows) == pytest.approx(0.0)
    assert not [r for r in rows if r["event_id"] == "r2"]


def test_sampled_events_carry_weight_one_over_rate() -> None:
    rows = run(FOUR[:1], [event("e1", at(5), sample_rate=0.25)], models=("linear",))
    assert [r["weight"] for r in rows] == [4.0]
