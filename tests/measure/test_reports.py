"""The report functions: metric formulas, intervals, seeding value, scopes, detail and k-anonymity."""

from __future__ import annotations

import math
import threading
from datetime import date
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select

from seedcart.catalog.db import Catalog
from seedcart.catalog.keys import Principal
from seedcart.catalog.models import Brand
from seedcart.errors import Forbidden, NotFound, ValidationError
from seedcart.measure.filters import ReportFilter, Scope
from seedcart.measure.intervals import Z95
from seedcart.measure.metrics import METRICS, METRICS_DOC
from seedcart.measure.reports import aggregate, breakdown, model_comparison, note_detail, note_table
from seedcart.measure.store import ReportStore
from seedcart.measure.testing import World


def _row(store: ReportStore, world: World, note: str, **flt: object) -> dict[str, object]:
    table = note_table(store, Scope(brand_id=world.brands["A"]), ReportFilter(**flt))  # type: ignore[arg-type]
    return next(r for r in table["rows"] if r["note_id"] == note)


def test_note_row_metrics_follow_their_formulas(store: ReportStore, world: World) -> None:
    row = _row(store, world, "nA1")
    assert row["ctr"] == pytest.approx(40 / 100)
    assert row["interaction_rate"] == pytest.approx((5 + 2 + 3 + 1) / 40)
    assert row["link_ctr"] == pytest.approx(10 / 40)
    assert row["visits"] == 8.0
    assert row["visit_rate"] == pytest.approx(8 / 40)
    assert row["cart_rate"] == pytest.approx(2 / 8)
    assert row["conversion_rate"] == pytest.approx(1 / 8)
    assert row["gmv"] == 10_000.0
    assert row["roi"] == pytest.approx(10_000 / 2_000)
    assert row["cost_per_visit"] == pytest.approx(2_000 / 8)
    assert row["cost_per_order"] == pytest.approx(2_000.0)
    assert row["seeding_value"] == pytest.approx(8 * 1 + 2 * 3 + 1 * 5)
    assert row["seeding_value_per_1k_reads"] == pytest.approx(19 * 1000 / 40)
    assert row["title"].startswith("A note 1")


def test_sampled_counts_carry_a_95_percent_interval(store: ReportStore, world: World) -> None:
    low, high = _row(store, world, "nA1")["visits_ci"]
    half = Z95 * math.sqrt(4.0)
    assert (low, high) == pytest.approx((8 - half, 8 + half))
    assert _row(store, world, "nA1")["orders_ci"] == [1.0, 1.0]  # unsampled: no width


def test_ratios_with_zero_denominators_are_null(store: ReportStore, world: World) -> None:
    row = _row(store, world, "nA2")
    assert row["cart_rate"] is None and row["cost_per_visit"] is None


def test_lookback_gives_roi_t_plus_x(store: ReportStore, world: World) -> None:
    assert _row(store, world, "nA2")["roi"] == pytest.approx(5_000 / 200)
    assert _row(store, world, "nA2", lookback_days=2)["gmv"] == 0.0  # the order came 3 days after its touch
    assert _row(store, world, "nA2", lookback_days=3)["gmv"] == 5_000.0


def test_models_split_credit_differently(store: ReportStore, world: World) -> None:
    rows = {r["model"]: r for r in model_comparison(store, Scope(brand_id=world.brands["A"]), ReportFilter())["rows"]}
    assert rows["last_touch"]["orders"] == 2.0
    assert rows["linear"]["orders"] == 1.0
    assert rows["markov"]["orders"] == 0  # no rows for that model in this lake
    assert rows["last_touch"]["impressions"] == rows["linear"]["impressions"] == 160


def test_brand_weights_change_the_seeding_value(store: ReportStore, world: World, catalog: Catalog) -> None:
    with catalog.session() as s:
        brand = s.scalars(select(Brand).where(Brand.id == world.brands["A"])).one()
        brand.contribution_weights = {"order": 10.0}
    store.refresh()
    assert _row(store, world, "nA1")["seeding_value"] == pytest.approx(8 + 2 * 3 + 10)


def test_sorting_and_paging(store: ReportStore, world: World) -> None:
    scope = Scope(brand_id=world.brands["A"])
    by_gmv = note_table(store, scope, ReportFilter(), sort="gmv", descending=False)
    assert [r["note_id"] for r in by_gmv["rows"]] == ["nA2", "nA1"]
    page = note_table(store, scope, ReportFilter(), sort="gmv", limit=1, offset=1)
    assert page["total"] == 2 and [r["note_id"] for r in page["rows"]] == ["nA2"]
    with pytest.raises(ValidationError) as info:
        note_table(store, scope, ReportFilter(), sort="drop table")
    assert info.value.field == "sort"


def test_scopes_keep_brands_and_partners_apart(store: ReportStore, world: World) -> None:
    b_only = note_table(store, Scope(brand_id=world.brands["B"]), ReportFilter())
    assert [r["note_id"] for r in b_only["rows"]] == ["nB1"]
    jd = Scope.of(Principal(key_id=1, role="partner", partner_id="jd"), store.dims)
    assert [r["note_id"] for r in note_table(store, jd, ReportFilter())["rows"]] == ["nA2"]  # its UD campaign
    with pytest.raises(Forbidden):
        Scope.of(Principal(key_id=1, role="brand", brand_id=world.brands["A"]), store.dims, brand_id=world.brands["B"])
    with pytest.raises(NotFound):
        note_detail(store, Scope(brand_id=world.brands["B"]), ReportFilter(), "nA1")


def test_note_detail_has_funnel_lags_and_paths(store: ReportStore, world: World) -> None:
    detail = note_detail(store, Scope(brand_id=world.brands["A"]), ReportFilter(), "nA2")
    assert [s["step"] for s in detail["funnel"]] == ["impressions", "reads", "link_clicks", "visits", "carts", "orders"]
    assert detail["funnel"][0]["value"] == 60
    assert [b["lag_day"] for b in detail["lag_histogram"]] == [3]
    assert detail["roi_tx"] == [{"x": 3, "gmv": 5_000.0, "roi": 25.0}]
    assert detail["trend"][0]["day"] == world.day.isoformat()
    assert detail["top_paths"][0]["path"] == "link_click → order"


def test_breakdowns_withhold_rows_under_k_users(store: ReportStore, world: World) -> None:
    out = breakdown(store, Scope(), ReportFilter(), by="campaign", k=70)
    shown = {r["key"]: r["withheld"] for r in out["rows"]}
    assert shown == {world.campaigns["A_tmall_cpm"]: False, world.campaigns["A_jd_cpc"]: True,
                     world.campaigns["B_tmall_cpm"]: False}
    withheld = next(r for r in out["rows"] if r["withheld"])
    assert "gmv" not in withheld and "reads" not in withheld


def test_bad_filters_name_their_field() -> None:
    with pytest.raises(ValidationError) as info:
        ReportFilter(start=date(2026, 2, 2), end=date(2026, 1, 1))
    assert info.value.field == "start"
    with pytest.raises(ValidationError) as info:
        aggregate(None, Scope(), ReportFilter(), by="nope")  # type: ignore[arg-type]
    assert info.value.field == "by"


def test_docs_carry_every_formula() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    assert METRICS_DOC in docs
    for _, formula in METRICS.values():
        assert formula in docs


def test_model_comparison_shows_how_models_split_notes(store: ReportStore, world: World) -> None:
    notes = model_comparison(store, Scope(brand_id=world.brands["A"]), ReportFilter())["notes"]
    assert [n["note_id"] for n in notes] == ["nA1", "nA2"]
    assert notes[0]["gmv"]["last_touch"] == 10_000.0 and notes[0]["gmv"]["linear"] == 5_000.0


def test_closing_the_store_waits_for_a_refresh_in_flight(store: ReportStore) -> None:
    """A server stopping while the rollups refresh in their thread: close waits for it, never fails
    (DuckDB refuses to close a connection another thread is using)."""
    using = threading.Event()

    def refreshing() -> None:
        with store._lock:  # what refresh holds while it works on the connection
            using.set()
            store._con.execute("SELECT count(*) FROM range(200000000)").fetchall()

    worker = threading.Thread(target=refreshing)
    worker.start()
    assert using.wait(10)
    store.close()
    worker.join(60)
    with pytest.raises(duckdb.Error):
        store.query("SELECT 1")  # closed
