"""DuckDB's fast path gives the same credit table as the portable Ibis form (issue 5 §5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pyarrow as pa
import pytest
from tests.attribute.helpers import at, event, tables, touch
from tests.attribute.worlds import random_world

from seedcart.attribute import AttributionConfig, attribute_arrow
from seedcart.lake.engines import connect, register_arrow

KEY = ["model", "partner", "event_id", "touch_event_id"]


def _both(world: tuple[pa.Table, pa.Table, pa.Table], config: AttributionConfig,
          with_identity: bool = True) -> tuple[pa.Table, pa.Table]:
    out = []
    for fast in (True, False):
        con = connect("duckdb")
        t, e, i = (register_arrow(con, table, name) for table, name in zip(world, ("t", "e", "i"), strict=True))
        credit = attribute_arrow(t, e, i if with_identity else None, replace(config, fast_paths=fast))
        out.append(credit.sort_by([(k, "ascending") for k in KEY]))
    return out[0], out[1]


def _assert_same(fast: pa.Table, portable: pa.Table) -> None:
    assert fast.schema == portable.schema
    assert fast.num_rows == portable.num_rows
    for name in fast.column_names:
        left, right = fast[name].to_pylist(), portable[name].to_pylist()
        if pa.types.is_floating(fast.schema.field(name).type):
            assert [v is None for v in left] == [v is None for v in right], name
            assert [v for v in left if v is not None] == pytest.approx(
                [v for v in right if v is not None], rel=1e-9, abs=1e-12), name
        else:
            assert left == right, name


@pytest.mark.parametrize("seed", [1, 2, 3, 5])
def test_fast_path_equals_the_portable_form_on_random_worlds(seed: int) -> None:
    config = AttributionConfig(
        category_lookback={"beauty": timedelta(days=3)},
        partner_lookback={"tmall": {"click": timedelta(days=2), "view": timedelta(0)}})
    fast, portable = _both(random_world(seed=seed), config)
    assert fast.num_rows > 100
    assert set(fast["model"].to_pylist()) == set(config.models)
    assert "refund" in fast["action"].to_pylist() and "click" in fast["match"].to_pylist()
    _assert_same(fast, portable)


def test_fast_path_equals_the_portable_form_with_other_settings() -> None:
    world = random_world(seed=7, users=12, touches=400, events=80)
    config = AttributionConfig(precedence=False, half_life=timedelta(hours=30), position_weights=(0.3, 0.3, 0.4),
                               lookback={"click": timedelta(days=20), "engagement": timedelta(days=4),
                                         "view": timedelta(days=1)})
    _assert_same(*_both(world, config))
    only = AttributionConfig(models=("shapley", "last_touch"), actions=("order",))
    fast, portable = _both(world, only)
    assert set(fast["model"].to_pylist()) == {"shapley", "last_touch"}
    _assert_same(fast, portable)


def test_fast_path_equals_the_portable_form_without_an_identity_table() -> None:
    t, e, i = random_world(seed=4)
    users = e["match_key"].to_pylist()
    e = e.set_column(e.schema.get_field_index("match_key"), "match_key",
                     pa.array([None if u is None else "u" + u[1:] for u in users], pa.string()))
    fast, portable = _both((t, e, i), AttributionConfig(), with_identity=False)
    assert fast.num_rows > 100
    _assert_same(fast, portable)


@pytest.mark.slow
def test_fast_path_equals_the_portable_form_on_a_simulated_world() -> None:
    from seedcart.sim.config import WorldConfig
    from seedcart.sim.generate import generate_tables

    tables = generate_tables(WorldConfig.for_touches(10_000, seed=9), b"k" * 32)
    fast, portable = _both((tables["touch"], tables["backflow"], tables["identity"]),
                           AttributionConfig(actions=("order", "cart")))
    assert fast.num_rows > 10_000
    _assert_same(fast, portable)


def test_a_click_id_recorded_more_than_once_credits_its_latest_click_on_both_paths() -> None:
    # one click id on three counted link_click touches (a replayed app log): the latest by (ts, event_id)
    # wins, and two of them share a timestamp, so only the event id breaks the tie
    touches = [touch("k-early", at(1), "n1", kind="link_click", click_id="c1"),
               touch("k-b", at(2), "n2", kind="link_click", click_id="c1"),
               touch("k-a", at(2), "n3", kind="link_click", click_id="c1"),
               touch("view", at(2.5), "n4", kind="impression")]
    world = tables(touches, [event("order", at(3), click_id="c1")])
    fast, portable = _both(world, AttributionConfig())
    _assert_same(fast, portable)
    assert set(zip(fast["model"].to_pylist(), fast["touch_event_id"].to_pylist(), strict=True)) == {
        (model, "k-b") for model in AttributionConfig().models}


def test_fast_path_in_user_parts_and_summary_chunks_equals_the_portable_form(monkeypatch: pytest.MonkeyPatch) -> None:
    # At scale the fast path builds the non-converting paths one part of the users at a time and
    # solves the path summary a few groups at a time; small limits send a small world that way.
    from seedcart.attribute import fast as fast_module
    from seedcart.attribute import paths

    world = random_world(seed=3)
    portable = _both(world, AttributionConfig())[1]
    seen: dict[str, int] = {}
    whole_summary, whole_chunks = paths.path_summary, paths.summary_chunks

    def summary_in_parts(*args: object, user_parts: int = 1, **kwargs: object) -> object:
        seen["parts"] = max(seen.get("parts", 0), user_parts)
        return whole_summary(*args, user_parts=user_parts, **kwargs)  # type: ignore[arg-type]

    def one_group_a_chunk(summary: object, chunk_touches: int = 0) -> list[pa.Table]:
        plans = whole_chunks(summary, 1)  # type: ignore[arg-type]
        seen["chunks"] = max(seen.get("chunks", 0), len(plans))
        return plans

    monkeypatch.setattr(fast_module, "PART_TOUCHES", 40)
    monkeypatch.setattr(paths, "path_summary", summary_in_parts)
    monkeypatch.setattr(paths, "summary_chunks", one_group_a_chunk)
    fast = _both(world, AttributionConfig())[0]
    assert seen["parts"] >= 3 and seen["chunks"] >= 2
    _assert_same(fast, portable)


def test_stored_rows_in_parts_of_the_touches_equal_the_portable_form(monkeypatch: pytest.MonkeyPatch) -> None:
    # At scale the stored rows come in parts, each joining one range of the candidate touches (so the
    # write's join fits in memory); together the parts are the stored rows of the portable form, once each.
    # They are written with DuckDB planning their joins as the SQL writes them (planned_as_written).
    from seedcart.attribute import fast as fast_module
    from seedcart.attribute.pipeline import stored_parts

    world = random_world(seed=5)
    monkeypatch.setattr(fast_module, "WRITE_TOUCHES", 7)
    key = [(k, "ascending") for k in ("partner", "event_id", "action", "touch_event_id")]
    out = []
    for fast in (True, False):
        con = connect("duckdb")
        t, e, i = (register_arrow(con, table, name) for table, name in zip(world, ("t", "e", "i"), strict=True))
        parts = stored_parts(t, e, i, replace(AttributionConfig(), fast_paths=fast))
        with fast_module.planned_as_written(parts):
            planners = con.con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
            rows = pa.concat_tables([p.to_pyarrow() for p in parts]).sort_by(key)
        out.append((len(parts), planners, rows))
        assert con.con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == ""
    (fast_parts, fast_planners, fast), (_, portable_planners, portable) = out
    assert fast_parts >= 10
    assert "join_order" in fast_planners and portable_planners == ""  # the portable form's plans are DuckDB's own
    assert "refund" in fast["action"].to_pylist()
    _assert_same(fast, portable)
