"""Dashboard: p95 latency of the note-table query over a large simulated lake (DESIGN §6; target <= 100 ms).

Builds a lake with the simulator (``seedcart.sim``) and credits it with ``seedcart.attribute`` (the
``last_touch`` and ``linear`` models: the multi-touch path models are measured by the attribution
benchmark), builds the rollups, then times the report queries the dashboard makes. Reference, in the
same run: the same note table computed straight from the raw lake (touch + credit Parquet) with DuckDB.
Without the simulator it falls back to ``seedcart.measure.testing.random_world``.

    python -m benchmarks dashboard [--quick] [--users N] [--days N] [--queries N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from seedcart.catalog.db import open_catalog
from seedcart.config import Settings, load_settings
from seedcart.lake.reader import table_files
from seedcart.measure.filters import ReportFilter, Scope
from seedcart.measure.realtime import today_counters
from seedcart.measure.reports import note_detail, note_table
from seedcart.measure.store import ReportStore

_RAW_NOTE_TABLE = """
WITH f AS (
    SELECT note_id, count(*) FILTER (WHERE kind = 'impression') AS impressions,
           count(*) FILTER (WHERE kind = 'read') AS reads, count(*) FILTER (WHERE kind = 'link_click') AS clicks
    FROM read_parquet($touch) WHERE brand_id = $brand AND NOT is_bot AND NOT is_duplicate GROUP BY 1
), b AS (
    SELECT note_id, sum(credit_last_touch * weight) FILTER (WHERE action = 'order') AS orders,
           sum(credited_amount_last_touch * weight) FILTER (WHERE action IN ('order', 'refund')) AS gmv
    FROM read_parquet($credit, union_by_name = true)  -- stored rows: one per (event, touch), a column per model
    WHERE brand_id = $brand AND credit_last_touch IS NOT NULL GROUP BY 1
)
SELECT * FROM f FULL JOIN b USING (note_id) ORDER BY gmv DESC NULLS LAST LIMIT 50
"""


def _timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build_lake(settings: Settings, users: int, days: int) -> tuple[dict[str, float], int]:
    """Write and credit a lake; returns the seconds of each step and a brand id to query."""
    steps: dict[str, float] = {}
    catalog = open_catalog(settings)
    try:
        try:
            from seedcart.attribute.lake import rebuild_credit
            from seedcart.sim import WorldConfig, simulate
        except ImportError:
            from seedcart.measure.testing import random_world

            started = time.perf_counter()
            world = random_world(settings.resolved_lake_root, catalog, days=days, touches_per_day=users * 15)
            steps["random lake (no simulator)"] = time.perf_counter() - started
            return steps, world.brands["A"]
        started = time.perf_counter()
        summary = simulate(settings, WorldConfig(users=users, days=days, seed=7))
        steps[f"simulate ({summary.tables.get('touch', 0):,} touches)"] = time.perf_counter() - started
        started = time.perf_counter()
        rows = rebuild_credit(settings, catalog, models=("last_touch", "linear"))
        steps[f"attribute ({rows:,} credited event and touch pairs)"] = time.perf_counter() - started
        con = duckdb.connect()
        brand = con.execute("SELECT brand_id FROM read_parquet($f) WHERE brand_id IS NOT NULL "
                            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
                            {"f": [str(p) for p in table_files(settings.resolved_lake_root, "credit")]}).fetchall()
        con.close()
        return steps, int(brand[0][0]) if brand else summary.brands[0]["id"]
    finally:
        catalog.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks dashboard", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small lake, few queries")
    parser.add_argument("--users", type=int, default=None, help="simulated users (default 10,000; quick 800)")
    parser.add_argument("--days", type=int, default=None, help="simulated days (default 30; quick 7)")
    parser.add_argument("--queries", type=int, default=None, help="timed runs per query (default 200; quick 30)")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the lake here (default: a temp dir)")
    args = parser.parse_args(argv)
    users = args.users or (800 if args.quick else 10_000)
    days = args.days or (7 if args.quick else 30)
    runs = args.queries or (30 if args.quick else 200)
    with tempfile.TemporaryDirectory(prefix="seedcart-bench-dashboard-") as tmp:
        data = args.data_dir or Path(tmp) / "data"
        settings = load_settings({"SEEDCART__DATA_DIR": str(data)})
        print(f"lake: {users:,} users x {days} days in {data}", flush=True)
        steps, brand = build_lake(settings, users, days)
        catalog = open_catalog(settings)
        store = ReportStore(settings.resolved_lake_root, catalog)
        started = time.perf_counter()
        store.refresh(full=True)
        steps[f"rollups, full build ({store.rows['front']:,} + {store.rows['back']:,} rows)"] = \
            time.perf_counter() - started
        started = time.perf_counter()
        store.refresh()
        steps["rollups, incremental refresh with nothing new"] = time.perf_counter() - started
        print(f"\n{'step':<62} {'seconds':>9}")
        for name, seconds in steps.items():
            print(f"{name:<62} {seconds:>9.2f}")

        scope, admin, flt = Scope(brand_id=brand), Scope(), ReportFilter()
        first = note_table(store, scope, flt, sort="gmv", limit=1)["rows"]
        note = first[0]["note_id"] if first else None
        root = settings.resolved_lake_root
        raw = duckdb.connect(config={"threads": 2})
        raw_params = {"touch": [str(p) for p in table_files(root, "touch")],
                      "credit": [str(p) for p in table_files(root, "credit")] or [], "brand": brand}
        queries: list[tuple[str, Callable[[], Any], int]] = [
            ("note table, one brand (sort gmv, 50 rows)", lambda: note_table(store, scope, flt, sort="gmv"), runs),
            ("note table, admin, all brands", lambda: note_table(store, admin, flt, sort="gmv"), runs),
            ("note table, one brand, lookback 7d", lambda: note_table(store, scope, ReportFilter(lookback_days=7),
                                                                       sort="roi"), runs),
            ("today's live counters", lambda: today_counters(store, scope), runs),
        ]
        if note is not None:
            queries.append(("note detail (funnel, trend, lags, paths)",
                            lambda: note_detail(store, scope, flt, note), max(5, runs // 10)))
        if raw_params["credit"]:
            queries.append(("reference: raw lake note table (DuckDB)",
                            lambda: raw.execute(_RAW_NOTE_TABLE, raw_params).fetchall(), max(3, runs // 20)))
        print(f"\n{'query':<46} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        results: dict[str, float] = {}
        for name, fn, n in queries:
            times = _timed(fn, n)
            results[name] = _pct(times, 0.95)
            print(f"{name:<46} {n:>5} {statistics.median(times):>8.1f} {_pct(times, 0.95):>8.1f} "
                  f"{_pct(times, 0.99):>8.1f}", flush=True)
        p95 = results["note table, one brand (sort gmv, 50 rows)"]
        print(f"\nnote-table p95: {p95:.1f} ms (target <= 100 ms: {'met' if p95 <= 100 else 'NOT met'})")
        reference = results.get("reference: raw lake note table (DuckDB)")
        if reference:
            print(f"raw lake / rollups (p95): {reference / p95:.1f}x")
        raw.close()
        store.close()
        catalog.close()


if __name__ == "__main__":
    main()
