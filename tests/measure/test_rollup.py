"""Rollups: the counts they hold, incremental rebuilds, and reruns that give the same rows."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seedcart.catalog.db import Catalog
from seedcart.config import Settings
from seedcart.lake.reader import table_files
from seedcart.lake.writer import LakeWriter
from seedcart.measure.rollup import refresh_rollups, rollup_files
from seedcart.measure.schemas import CREDIT_DAY, NOTE_DAY, PATH_DAY
from seedcart.measure.testing import DAY, World


def _front(root: str) -> list[dict[str, object]]:
    return pq.read_table(rollup_files(root, NOTE_DAY)).to_pylist()


def test_front_counts_exclude_bots_and_duplicates_and_price_the_bid(
        settings: Settings, catalog: Catalog, world: World) -> None:
    root = settings.resolved_lake_root
    refresh_rollups(root, catalog)
    rows = {r["note_id"]: r for r in _front(root)}
    a1 = rows["nA1"]
    assert (a1["impressions"], a1["reads"], a1["deep_reads"], a1["link_clicks"]) == (100, 40, 10, 10)
    assert (a1["likes"], a1["comments"], a1["collects"], a1["shares"]) == (5, 2, 3, 1)
    assert a1["unique_readers"] == 40
    assert a1["true_interest_readers"] == 10
    assert a1["spend"] == 2000.0  # CPM 20,000 fen per 1,000 impressions x 100
    assert rows["nA2"]["spend"] == 200.0  # CPC 50 fen x 4 clicks
    assert a1["mode"] == "CID" and rows["nA2"]["mode"] == "UD"
    assert a1["day"] == DAY


def test_credit_rollup_scales_sampled_rows_and_keeps_their_variance(
        settings: Settings, catalog: Catalog, world: World) -> None:
    root = settings.resolved_lake_root
    refresh_rollups(root, catalog)
    rows = pq.read_table(rollup_files(root, CREDIT_DAY)).to_pylist()
    jd_visits = [r for r in rows if r["model"] == "last_touch" and r["partner"] == "jd" and r["action"] == "visit"]
    assert len(jd_visits) == 1
    assert jd_visits[0]["credited"] == 4.0  # 2 sampled visits at 50 %
    assert jd_visits[0]["credited_var"] == 4.0  # 2 x w (w - 1) x^2 = 2 x 2
    lagged = [r for r in rows if r["note_id"] == "nA2" and r["model"] == "last_touch"]
    assert [r["lag_day"] for r in lagged] == [3]


def test_rerun_gives_identical_rows_and_rebuilds_nothing(settings: Settings, catalog: Catalog, world: World) -> None:
    root = settings.resolved_lake_root
    first = refresh_rollups(root, catalog)
    before = [pq.read_table(p) for p in rollup_files(root, NOTE_DAY) + rollup_files(root, CREDIT_DAY)
              + rollup_files(root, PATH_DAY)]
    assert first.rebuilt == [DAY.isoformat()]
    assert not refresh_rollups(root, catalog).changed
    full = refresh_rollups(root, catalog, full=True)
    assert full.rebuilt == [DAY.isoformat()]
    after = [pq.read_table(p) for p in rollup_files(root, NOTE_DAY) + rollup_files(root, CREDIT_DAY)
              + rollup_files(root, PATH_DAY)]
    assert all(a.equals(b) for a, b in zip(before, after, strict=True))


def test_only_the_day_with_new_input_is_rebuilt(settings: Settings, catalog: Catalog, world: World) -> None:
    root = settings.resolved_lake_root
    refresh_rollups(root, catalog)
    touch = pq.read_table(table_files(root, "touch")[0]).slice(0, 5)
    later = pa.array([t + timedelta(days=1) for t in touch.column("ts").to_pylist()], touch.schema.field("ts").type)
    touch = touch.set_column(touch.schema.get_field_index("ts"), "ts", later)
    touch = touch.set_column(touch.schema.get_field_index("event_id"), "event_id",
                             pa.array([f"late-{i}" for i in range(5)]))
    LakeWriter(root).append("touch", touch)
    result = refresh_rollups(root, catalog)
    assert result.rebuilt == [(DAY + timedelta(days=1)).isoformat()]
    days = sorted(r["day"] for r in _front(root))
    assert days[-1] == DAY + timedelta(days=1)


def test_new_touches_rebuild_the_front_rollup_and_leave_the_credit_ones(
        settings: Settings, catalog: Catalog, world: World) -> None:
    root = settings.resolved_lake_root
    refresh_rollups(root, catalog)
    credit_side = rollup_files(root, CREDIT_DAY) + rollup_files(root, PATH_DAY)
    stamps = [p.stat().st_mtime_ns for p in credit_side]
    impressions = sum(r["impressions"] for r in _front(root))
    more = pq.read_table(table_files(root, "touch")[0]).filter(pc.equal(pc.field("kind"), "impression")).slice(0, 3)
    more = more.set_column(more.schema.get_field_index("event_id"), "event_id",
                           pa.array([f"more-{i}" for i in range(3)]))
    LakeWriter(root).append("touch", more)  # live traffic: the same day, touches only
    assert refresh_rollups(root, catalog).rebuilt == [DAY.isoformat()]
    assert sum(r["impressions"] for r in _front(root)) == impressions + 3
    assert [p.stat().st_mtime_ns for p in credit_side] == stamps  # not rewritten: their input did not change
