"""Ground truth agrees with the events: what the truth table says caused each back-link event exists."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from tests.sim.worlds import SmallWorld

from seedcart.sim import Faults, WorldConfig
from seedcart.sim.truth import baseline_share, true_incremental


def _keys(table: pa.Table) -> set[tuple[str, str]]:
    return set(zip(table.column("partner").to_pylist(), table.column("event_id").to_pylist(), strict=True))


def test_every_truth_row_matches_a_backflow_row_without_faults(clean_world: SmallWorld) -> None:
    truth, backflow = clean_world.tables["truth"], clean_world.tables["backflow"]
    assert truth.num_rows == backflow.num_rows > 0
    joined = truth.join(backflow, ["partner", "event_id"], right_suffix="_b", join_type="inner")
    assert joined.num_rows == truth.num_rows
    for column in ("action", "ts", "amount"):
        assert joined.column(column).equals(joined.column(f"{column}_b")), column


def test_every_delivered_backflow_row_has_its_truth_with_faults(faulty_world: SmallWorld) -> None:
    truth, backflow = faulty_world.tables["truth"], faulty_world.tables["backflow"]
    assert _keys(backflow) <= _keys(truth)
    # Sampling and missing days mean some of what happened never reached the lake.
    assert len(_keys(backflow)) < truth.num_rows


def test_causing_touches_exist_belong_to_the_user_and_precede_the_event(clean_world: SmallWorld) -> None:
    truth = clean_world.tables["truth"].filter(pc.is_valid(clean_world.tables["truth"].column("touch_event_id")))
    touch = clean_world.tables["touch"].select(["event_id", "ts", "user_id", "note_id"])
    assert truth.num_rows > 0
    joined = truth.join(touch, keys="touch_event_id", right_keys="event_id", right_suffix="_touch")
    assert joined.num_rows == truth.num_rows
    assert joined.column("user_id").equals(joined.column("user_id_touch"))
    assert joined.column("note_id").equals(joined.column("note_id_touch"))
    assert pc.all(pc.less(joined.column("ts_touch"), joined.column("ts"))).as_py()


def test_click_through_backflow_carries_the_click_of_the_causing_touch(clean_world: SmallWorld) -> None:
    backflow, truth = clean_world.tables["backflow"], clean_world.tables["truth"]
    clicks = clean_world.tables["touch"].filter(pc.equal(clean_world.tables["touch"].column("kind"), "link_click"))
    with_click = backflow.filter(pc.is_valid(backflow.column("click_id"))).select(["partner", "event_id", "click_id"])
    assert with_click.num_rows > 0
    joined = with_click.join(truth, ["partner", "event_id"]).join(
        clicks.select(["event_id", "click_id", "partner"]), keys="touch_event_id", right_keys="event_id",
        right_suffix="_touch")
    assert joined.num_rows == with_click.num_rows
    assert joined.column("click_id").equals(joined.column("click_id_touch"))
    assert joined.column("partner").equals(joined.column("partner_touch"))
    # Backflow without a click carries the match key.
    no_click = backflow.filter(pc.is_null(backflow.column("click_id")))
    assert no_click.column("match_key").null_count == 0


def test_true_incremental_counts_each_caused_order_once(clean_world: SmallWorld) -> None:
    truth = clean_world.tables["truth"]
    per_note = true_incremental(truth)
    caused_orders = truth.filter(pc.and_(pc.equal(truth.column("action"), "order"),
                                         pc.is_valid(truth.column("note_id"))))
    assert pc.sum(per_note.column("orders")).as_py() == caused_orders.num_rows > 0
    assert pc.sum(per_note.column("gmv")).as_py() == pc.sum(caused_orders.column("amount")).as_py()
    assert pc.all(pc.less_equal(per_note.column("net_gmv"), per_note.column("gmv"))).as_py()
    # Some orders are organic (no note caused them) and some are caused.
    assert 0.0 < baseline_share(truth) < 1.0


def test_causal_effects_land_days_after_the_touch() -> None:
    # Reads in the first five days of a 45-day world: lags up to 40 days are observable.
    world = SmallWorld(WorldConfig(users=300, days=45, seed=5, faults=Faults.off()))
    truth = world.tables["truth"]
    visits = truth.filter(pc.and_(pc.equal(truth.column("action"), "visit"), pc.is_valid(truth.column("note_id"))))
    touch = world.tables["touch"].select(["event_id", "ts", "kind"])
    joined = visits.join(touch, keys="touch_event_id", right_keys="event_id", right_suffix="_touch")
    touch_us = pc.cast(joined.column("ts_touch"), pa.int64()).to_numpy()
    lag_days = (pc.cast(joined.column("ts"), pa.int64()).to_numpy() - touch_us) / 86_400e6
    kind = joined.column("kind").to_numpy(zero_copy_only=False)
    early = (kind == "read") & (touch_us < world.config.start_at.timestamp() * 1e6 + 5 * 86_400e6)
    lag_days = lag_days[early]
    assert len(lag_days) > 100
    assert (lag_days >= 7).mean() > 0.2
    assert (lag_days >= 15).mean() > 0.05
