"""Top paths from the path rollup equal the same paths worked out from the raw credit rows.

The oracle is the query the note detail used to run over the raw credit table (per day: linear rows
when the day has any, else the model's own), labelled by a plain Python fold of the label rule, not
the rollup's SQL, and summed over days; the world has multi-touch paths over several notes, three
models, sampled events, and a day without linear rows, plus paths built for the rule's cases (runs,
paths longer than the limit, different raw paths with one label), whose labels are also checked as
literals.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from itertools import groupby

import duckdb
import pyarrow as pa

from seedcart.catalog.db import Catalog
from seedcart.config import Settings
from seedcart.lake.credit import pack_arrow
from seedcart.lake.reader import partition_files, read_credit
from seedcart.lake.writer import LakeWriter
from seedcart.measure.filters import ReportFilter, Scope
from seedcart.measure.reports import note_detail, top_paths
from seedcart.measure.rollup import PATH_STEPS
from seedcart.measure.store import ReportStore
from seedcart.measure.testing import seed_catalog
from seedcart.types import Model

DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]  # the last has no linear rows
KINDS = ["impression", "read", "like", "link_click"]
MODELS: list[Model] = ["linear", "last_touch", "first_touch"]

_ORACLE = """
WITH c AS (SELECT * FROM day_credit),
conv AS (SELECT DISTINCT partner, event_id FROM c WHERE note_id = $note AND model = $model),
pick AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM c WHERE model = 'linear') THEN 'linear' ELSE $model END AS m)
SELECT any_value(c.action) AS action, max(c.weight) AS w,
    list(CASE WHEN c.note_id = $note THEN c.touch_kind ELSE 'other' END ORDER BY c.touch_ts, c.touch_event_id) AS steps
FROM c JOIN conv USING (partner, event_id)
WHERE c.model = (SELECT m FROM pick)
GROUP BY c.partner, c.event_id
"""

Touch = tuple[str | None, str]  # (note, kind)

#: Paths built for the label rule, as (day index, touches, action, weight, label seen from note "N").
#: "M" and "O" stand for other notes, None for a touch on no note.
_CUT_LABEL = "… → k3 ×3 → k4 → k5 → k6 → k7 ×2 → k8 → visit"
CRAFTED: list[tuple[int, list[Touch], str, float, str]] = [
    # runs of the note's kinds and of other notes' touches
    (0, [("N", "impression"), ("N", "impression"), ("M", "read"), (None, "like"), ("N", "read"), ("N", "read"),
         ("N", "read")], "order", 1.0, "impression ×2 → other ×2 → read ×3 → order"),
    # longer than the limit: the first runs go, the run at the cut is kept whole
    (0, [("N", k) for k in ("k0", "k1", "k2", "k3", "k3", "k3", "k4", "k5", "k6", "k7", "k7", "k8")],
     "visit", 1.0, _CUT_LABEL),
    # another raw path, on another day, cut to the same label
    (1, [("M", "x"), ("O", "y"), *[("N", k) for k in ("k3", "k3", "k3", "k4", "k5", "k6", "k7", "k7", "k8")]],
     "visit", 2.0, _CUT_LABEL),
    # exactly the limit: nothing cut
    (1, [("N", "a"), ("M", "b"), ("N", "c"), ("N", "c"), (None, "d"), ("N", "e"), ("N", "f")], "cart", 1.0,
     "a → other → c ×2 → other → e → f → cart"),
    # different other notes fold into one label, the same day
    (0, [("N", "impression"), ("M", "read"), ("O", "like")], "cart", 1.0, "impression → other ×2 → cart"),
    (0, [("N", "impression"), (None, "like"), ("M", "impression")], "cart", 2.0, "impression → other ×2 → cart"),
]


def _label(steps: list[str], action: str) -> str:
    """The label rule, as plainly as it can be put (the oracle's, independent of the rollup's SQL)."""
    runs = [(step, len(list(repeats))) for step, repeats in groupby(steps)]
    labels = [f"{step} ×{n}" if n > 1 else step for step, n in runs]
    if len(labels) > PATH_STEPS:
        labels = ["…", *labels[-PATH_STEPS:]]
    return " → ".join([*labels, action])


def _event_rows(event_id: str, ts: datetime, path: list[Touch], action: str, weight: float, models: list[Model],
                brand_of: dict[str, int]) -> list[dict[str, object]]:
    """The credit rows of one event: per model, the touches it credits (linear: all, each an hour apart)."""
    touches = [(note, kind, ts - timedelta(hours=len(path) - i), f"{event_id}-t{i}")
               for i, (note, kind) in enumerate(path)]
    rows: list[dict[str, object]] = []
    for model in models:
        chosen = {"linear": touches, "last_touch": touches[-1:], "first_touch": touches[:1]}[model]
        for note, kind, touch_ts, touch_id in chosen:
            rows.append({
                "partner": "tmall", "event_id": event_id, "action": action, "ts": ts,
                "brand_id": brand_of.get(note or ""), "touch_event_id": touch_id, "touch_ts": touch_ts,
                "touch_kind": kind, "note_id": note, "user_id": f"u-{event_id}", "match": "view", "model": model,
                "credit": 1.0 / len(chosen), "weight": weight, "lag_s": int((ts - touch_ts).total_seconds())})
    return rows


def _noon(d: int, second: int) -> datetime:
    day = DAYS[d]
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC) + timedelta(seconds=second)


def _models(d: int) -> list[Model]:
    return MODELS if d < 2 else MODELS[1:]


def _crafted_rows(note: str, others: tuple[str, str], brand_of: dict[str, int], *,
                  models: list[Model] | None = None) -> list[dict[str, object]]:
    """:data:`CRAFTED` with ``note`` as "N" and ``others`` as "M" and "O"."""
    names: dict[str | None, str | None] = {"N": note, "M": others[0], "O": others[1], None: None}
    return [row for e, (d, path, action, weight, _) in enumerate(CRAFTED)
            for row in _event_rows(f"c{d}-{e}", _noon(d, 1000 + e), [(names[n], kind) for n, kind in path],
                                   action, weight, models or _models(d), brand_of)]


def _random_rows(notes: list[str], brand_of: dict[str, int], rng: random.Random) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for d in range(len(DAYS)):
        for e in range(80):
            path = [(rng.choice([*notes, None]), rng.choice(KINDS)) for _ in range(rng.randint(1, 6))]
            action, weight = rng.choice(["visit", "cart", "order"]), rng.choice([1.0, 2.0])
            rows += _event_rows(f"e{d}-{e}", _noon(d, e), path, action, weight, _models(d), brand_of)
    return rows


def _oracle(root: str, note: str, model: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    con = duckdb.connect()
    for day in DAYS:
        con.register("day_credit", read_credit(root, partition_files(root, "credit", day.isoformat())))
        for action, w, steps in con.execute(_ORACLE, {"note": note, "model": model}).fetchall():
            label = _label(list(steps), action)
            counts[label] = counts.get(label, 0.0) + w
    con.close()
    return counts


def test_the_oracle_labels_fold_runs_and_keep_the_end() -> None:
    assert _label(["impression", "impression", "read", "link_click"], "order") == \
        "impression ×2 → read → link_click → order"
    assert _label([f"k{i}" for i in range(10)], "visit") == "… → k4 → k5 → k6 → k7 → k8 → k9 → visit"
    assert _label([], "visit") == "visit"


def test_top_paths_from_the_rollup_equal_the_raw_credit_paths(settings: Settings, catalog: Catalog) -> None:
    world = seed_catalog(catalog, notes_per_brand=3)
    brand_of = {note: world.brands[note[1]] for note in world.notes}
    root = settings.resolved_lake_root
    rows = _random_rows(world.notes, brand_of, random.Random(5))
    rows += _crafted_rows(world.notes[0], (world.notes[1], world.notes[4]), brand_of)
    LakeWriter(root).append("credit", pack_arrow(pa.Table.from_pylist(rows)))
    store = ReportStore(root, catalog)
    try:
        store.refresh()
        compared = 0
        for note in world.notes:
            for model in MODELS:
                flt = ReportFilter(model=model, start=DAYS[0], end=DAYS[-1])
                shown = note_detail(store, Scope(brand_id=brand_of[note]), flt, note)["top_paths"]
                expected = sorted(_oracle(root, note, model).items(), key=lambda kv: (-kv[1], kv[0]))
                assert [(p["path"], p["events"]) for p in shown] == expected[:10], (note, model)  # exact sums
                every = top_paths(store, flt, note, limit=len(expected) + 1)  # the crafted paths are rarely top 10
                assert [(p["path"], p["events"]) for p in every] == expected, (note, model)
                compared += bool(expected)
        assert compared >= 15  # the world gives most (note, model) pairs some paths
    finally:
        store.close()


def test_top_paths_fold_runs_cut_long_paths_and_add_up_equal_labels(settings: Settings, catalog: Catalog) -> None:
    world = seed_catalog(catalog, notes_per_brand=2)
    brand_of = {note: world.brands[note[1]] for note in world.notes}
    note, others = world.notes[0], (world.notes[1], world.notes[2])
    root = settings.resolved_lake_root
    LakeWriter(root).append("credit", pack_arrow(pa.Table.from_pylist(_crafted_rows(note, others, brand_of,
                                                                                     models=["linear"]))))
    store = ReportStore(root, catalog)
    try:
        store.refresh()
        shown = top_paths(store, ReportFilter(model="linear", start=DAYS[0], end=DAYS[-1]), note)
    finally:
        store.close()
    assert shown == [  # most events first, then by label
        {"path": "impression → other ×2 → cart", "events": 3.0},  # two raw paths, one day
        {"path": _CUT_LABEL, "events": 3.0},  # two raw paths, two days
        {"path": "a → other → c ×2 → other → e → f → cart", "events": 1.0},
        {"path": "impression ×2 → other ×2 → read ×3 → order", "events": 1.0},
    ]
    totals: dict[str, float] = {}
    for *_, weight, label in CRAFTED:
        totals[label] = totals.get(label, 0.0) + weight
    assert {p["path"]: p["events"] for p in shown} == totals
