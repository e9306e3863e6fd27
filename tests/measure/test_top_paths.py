"""Top paths from the path rollup equal the same paths worked out from the raw credit rows.

The oracle is the query the note detail used to run over the raw credit table (per day: linear rows
when the day has any, else the model's own), summed over days; the world has multi-touch paths over
several notes, three models, sampled events, and a day without linear rows.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from seedcart.catalog.db import Catalog
from seedcart.config import Settings
from seedcart.lake.reader import partition_files
from seedcart.lake.writer import LakeWriter
from seedcart.measure.filters import ReportFilter, Scope
from seedcart.measure.reports import _path_label, note_detail
from seedcart.measure.store import ReportStore
from seedcart.measure.testing import seed_catalog

DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]  # the last has no linear rows
KINDS = ["impression", "read", "like", "link_click"]

_ORACLE = """
WITH c AS (SELECT * FROM read_parquet($files, union_by_name = true)),
conv AS (SELECT DISTINCT partner, event_id FROM c WHERE note_id = $note AND model = $model),
pick AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM c WHERE model = 'linear') THEN 'linear' ELSE $model END AS m)
SELECT any_value(c.action) AS action, max(c.weight) AS w,
    list(CASE WHEN c.note_id = $note THEN c.touch_kind ELSE 'other' END ORDER BY c.touch_ts, c.touch_event_id) AS steps
FROM c JOIN conv USING (partner, event_id)
WHERE c.model = (SELECT m FROM pick)
GROUP BY c.partner, c.event_id
"""


def _credit_rows(notes: list[str], brand_of: dict[str, int], rng: random.Random) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for d, day in enumerate(DAYS):
        models = ["linear", "last_touch", "first_touch"] if d < 2 else ["last_touch", "first_touch"]
        for e in range(80):
            ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC) + timedelta(seconds=e)
            path = [(rng.choice([*notes, None]), rng.choice(KINDS)) for _ in range(rng.randint(1, 6))]
            action, weight = rng.choice(["visit", "cart", "order"]), rng.choice([1.0, 2.0])
            touches = [(note, kind, ts - timedelta(hours=len(path) - i), f"t{d}-{e}-{i}")
                       for i, (note, kind) in enumerate(path)]
            for model in models:
                chosen = {"linear": touches, "last_touch": touches[-1:], "first_touch": touches[:1]}[model]
                for note, kind, touch_ts, touch_id in chosen:
                    rows.append({
                        "partner": "tmall", "event_id": f"e{d}-{e}", "action": action, "ts": ts,
                        "brand_id": brand_of.get(note or ""), "touch_event_id": touch_id, "touch_ts": touch_ts,
                        "touch_kind": kind, "note_id": note, "user_id": f"u{e}", "match": "view", "model": model,
                        "credit": 1.0 / len(chosen), "weight": weight, "lag_s": int((ts - touch_ts).total_seconds())})
    return rows


def _oracle(root: str, note: str, model: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    con = duckdb.connect()
    for day in DAYS:
        files = [str(f) for f in partition_files(root, "credit", day.isoformat())]
        for action, w, steps in con.execute(_ORACLE, {"files": files, "note": note, "model": model}).fetchall():
            label = _path_label(list(steps), action)
            counts[label] = counts.get(label, 0.0) + w
    con.close()
    return counts


def test_top_paths_from_the_rollup_equal_the_raw_credit_paths(settings: Settings, catalog: Catalog) -> None:
    world = seed_catalog(catalog, notes_per_brand=3)
    brand_of = {note: world.brands[note[1]] for note in world.notes}
    root = settings.resolved_lake_root
    LakeWriter(root).append("credit", pa.Table.from_pylist(_credit_rows(world.notes, brand_of, random.Random(5))))
    store = ReportStore(root, catalog)
    try:
        store.refresh()
        compared = 0
        for note in world.notes:
            for model in ("linear", "last_touch", "first_touch"):
                flt = ReportFilter(model=model, start=DAYS[0], end=DAYS[-1])
                shown = note_detail(store, Scope(brand_id=brand_of[note]), flt, note)["top_paths"]
                expected = sorted(_oracle(root, note, model).items(), key=lambda kv: (-kv[1], kv[0]))[:10]
                assert [(p["path"], p["events"]) for p in shown] == expected, (note, model)  # weights: exact sums
                compared += bool(expected)
        assert compared >= 15  # the world gives most (note, model) pairs some paths
    finally:
        store.close()
