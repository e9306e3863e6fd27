"""Properties of the generator over many small worlds (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.sim.worlds import SmallWorld

from seedcart.sim import Faults, WorldConfig
from seedcart.sim.strategies import world_configs
from seedcart.sim.world import held_out
from seedcart.types import BACK_ACTIONS, FRONT_KINDS

worlds = world_configs()

PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@PROPERTY
@given(worlds)
def test_generated_worlds_keep_their_invariants(config: WorldConfig) -> None:
    world = SmallWorld(config)
    touch, backflow, truth = world.tables["touch"], world.tables["backflow"], world.tables["truth"]
    start, end = config.start_at, config.end_at

    # Vocabularies and the world's window.
    assert set(touch.column("kind").to_pylist()) <= set(FRONT_KINDS)
    assert set(backflow.column("action").to_pylist()) <= set(BACK_ACTIONS)
    for table in (touch, backflow, truth):
        if table.num_rows:
            assert pc.min(table.column("ts")).as_py() >= start
            assert pc.max(table.column("ts")).as_py() < end + (start - start).__class__(hours=1)
            assert pc.all(pc.greater_equal(table.column("received_at"), table.column("ts"))).as_py() \
                if "received_at" in table.column_names else True

    # No touch after its own effect.
    caused = truth.filter(pc.is_valid(truth.column("touch_event_id")))
    first_delivery = touch.filter(pc.invert(touch.column("is_duplicate")))
    joined = caused.join(first_delivery.select(["event_id", "ts"]), keys="touch_event_id", right_keys="event_id",
                         right_suffix="_touch")
    assert joined.num_rows == caused.num_rows
    if joined.num_rows:
        assert pc.all(pc.less(joined.column("ts_touch"), joined.column("ts"))).as_py()

    # Refunds follow their orders: same order id, later, amount at most the order's.
    orders = truth.filter(pc.equal(truth.column("action"), "order"))
    refunds = truth.filter(pc.equal(truth.column("action"), "refund"))
    back = backflow.group_by(["partner", "event_id", "order_id"]).aggregate([])  # duplicates count once
    orders = orders.join(back, ["partner", "event_id"], join_type="inner")
    refunds = refunds.join(back, ["partner", "event_id"], join_type="inner")
    assert orders.column("order_id").null_count == 0
    assert refunds.column("order_id").null_count == 0
    pairs = refunds.join(orders.select(["partner", "order_id", "ts", "amount"]), ["partner", "order_id"],
                         right_suffix="_order", join_type="inner")
    if not config.faults.any:  # with sampling, a refund may arrive without its order
        assert pairs.num_rows == refunds.num_rows
    if pairs.num_rows:
        assert pc.all(pc.greater(pairs.column("ts"), pairs.column("ts_order"))).as_py()
        assert pc.all(pc.less_equal(pairs.column("amount"), pairs.column("amount_order"))).as_py()
        assert pc.all(pc.greater(pairs.column("amount"), 0)).as_py()

    # Held-out users see no ad of the campaign they are held out of.
    ads = touch.filter(pc.and_(pc.is_valid(touch.column("campaign_id")), pc.invert(touch.column("is_bot"))))
    if ads.num_rows:
        users = np.array([int(u[1:]) for u in ads.column("user_id").to_pylist()])
        campaigns = ads.column("campaign_id").to_numpy() - 1
        assert not held_out(world.world, users, campaigns).any()


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_partners_honour_their_declared_sample_rate(seed: int) -> None:
    config = WorldConfig(users=400, days=6, seed=seed, sample_rates={"jd": 0.3},
                         faults=Faults(missing_days=0.0, duplicates=0.0, late=0.0, bots=0.0))
    world = SmallWorld(config)
    truth, backflow = world.tables["truth"], world.tables["backflow"]
    for partner, rate in (("jd", 0.3), ("pdd", 0.5), ("tmall", 1.0)):
        happened = truth.filter(pc.equal(truth.column("partner"), partner)).num_rows
        delivered = backflow.filter(pc.equal(backflow.column("partner"), partner))
        assert happened > 50
        assert set(delivered.column("sample_rate").to_pylist()) == {rate}
        sigma = math.sqrt(happened * rate * (1 - rate))
        assert abs(delivered.num_rows - happened * rate) <= 4 * sigma + 1e-9


def test_holdout_users_exist_and_still_see_organic_notes() -> None:
    world = SmallWorld(WorldConfig(users=300, days=3, seed=3, holdout=0.5, faults=Faults.off()))
    touch = world.tables["touch"]
    users = np.array([int(u[1:]) for u in touch.column("user_id").to_pylist()])
    n_campaigns = len(world.world.campaign_mode)
    held_anywhere = np.zeros(world.config.users, dtype=bool)
    for c in range(n_campaigns):
        everyone = np.arange(world.config.users)
        held_anywhere |= held_out(world.world, everyone, np.full(len(everyone), c))
    assert held_anywhere.any()
    organic = pc.is_null(touch.column("campaign_id")).to_numpy(zero_copy_only=False)
    assert np.isin(np.flatnonzero(held_anywhere), users[organic]).any()
    assert isinstance(touch, pa.Table)
