"""Faults are on by default at realistic rates and switch off cleanly."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from tests.sim.worlds import SmallWorld

from seedcart.sim.faults import is_late


def _duplicates(table: pa.Table, keys: list[str]) -> int:
    return table.num_rows - table.group_by(keys).aggregate([]).num_rows


def test_no_faults_means_clean_tables(clean_world: SmallWorld) -> None:
    touch, backflow = clean_world.tables["touch"], clean_world.tables["backflow"]
    assert _duplicates(touch, ["event_id"]) == 0
    assert _duplicates(backflow, ["partner", "event_id"]) == 0
    assert not pc.any(is_late(touch)).as_py()
    assert not pc.any(is_late(backflow)).as_py()
    assert not pc.any(touch.column("is_bot")).as_py()
    assert not pc.any(touch.column("is_duplicate")).as_py()
    assert pc.all(pc.equal(backflow.column("sample_rate"), 1.0)).as_py()
    assert clean_world.stats.faults.as_dict() == {"duplicates": 0, "late": 0, "sampled_out": 0,
                                                  "missing_day_rows": 0, "bots": 0}


def test_faults_are_on_by_default(faulty_world: SmallWorld) -> None:
    touch, backflow = faulty_world.tables["touch"], faulty_world.tables["backflow"]
    dup_touch = _duplicates(touch, ["event_id"])
    assert dup_touch == pc.sum(pc.cast(touch.column("is_duplicate"), pa.int64())).as_py() > 0
    assert _duplicates(backflow, ["partner", "event_id"]) > 0
    assert pc.any(is_late(touch)).as_py() and pc.any(is_late(backflow)).as_py()
    bots = touch.filter(touch.column("is_bot"))
    assert bots.num_rows > 0
    assert set(bots.column("ua_class").to_pylist()) == {"bot"}
    assert set(bots.column("kind").to_pylist()) == {"link_click"}
    rates = dict(zip(*[backflow.group_by("partner").aggregate([("sample_rate", "max")]).column(c).to_pylist()
                       for c in ("partner", "sample_rate_max")], strict=True))
    assert rates["pdd"] == 0.5
    assert all(rate == 1.0 for partner, rate in rates.items() if partner != "pdd")
    assert faulty_world.stats.faults.missing_day_rows > 0


def test_faults_leave_the_world_itself_unchanged(clean_world: SmallWorld, faulty_world: SmallWorld) -> None:
    # Bots aside, the same people do the same things; only delivery differs.
    clean = clean_world.tables["touch"]
    faulty = faulty_world.tables["touch"].filter(pc.invert(faulty_world.tables["touch"].column("is_bot")))
    faulty = faulty.filter(pc.invert(faulty.column("is_duplicate")))
    assert faulty.num_rows == clean.num_rows
    assert clean_world.tables["truth"].num_rows == faulty_world.tables["truth"].num_rows
