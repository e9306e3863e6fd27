"""The reports: the full-link note table, breakdowns, model comparison and one note's detail.

Every function takes a :class:`~seedcart.measure.store.ReportStore`, a
:class:`~seedcart.measure.filters.Scope` (tenancy) and a :class:`~seedcart.measure.filters.ReportFilter`,
and answers plain dicts ready for JSON. Formulas: :mod:`seedcart.measure.metrics`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import Any, Final

from seedcart.errors import NotFound, ValidationError
from seedcart.lake.reader import read_listed
from seedcart.measure.filters import ReportFilter, Scope, where
from seedcart.measure.intervals import interval
from seedcart.measure.metrics import ACTION_COLUMNS, FRONT_COUNTS, GMV_ACTIONS, METRICS, NEGATIVE_ACTIONS
from seedcart.measure.rollup import rollup_files
from seedcart.measure.schemas import PATH_DAY
from seedcart.measure.store import ReportStore
from seedcart.types import MODELS

#: Group-by keys a breakdown may use, and the SQL giving each.
GROUP_KEYS: Final[dict[str, str]] = {
    "note": "note_id", "campaign": "campaign_id", "placement": "placement", "mode": "mode",
    "partner": "partner", "day": "day",
}

#: Days of path rollups a note's top paths are read from (the latest days with credit for the note).
PATH_DAYS: Final = 90

_COUNT_COLUMNS: Final = (*FRONT_COUNTS, *ACTION_COLUMNS.values(), "gmv", "seeding_value")
SORTABLE: Final = frozenset({*_COUNT_COLUMNS, *METRICS, "note_id", "title", "key"})


def _aggregate_sql(key: str | None, wh: str, order: str) -> str:
    """One GROUP BY over the store's ``wide`` table, then the metrics, the total row count and the page."""
    sums = ",\n".join(f"sum({c}) AS {c}" for c in (*FRONT_COUNTS, *ACTION_COLUMNS.values(), "gmv", "seeding_value"))
    variances = ",\n".join(f"sum({c}_var) AS {c}_var" for c in (*ACTION_COLUMNS.values(), "gmv"))
    metrics = ",\n".join(f"{sql} AS {name}" for name, (sql, _) in METRICS.items())
    return f"""
WITH j AS (
    SELECT {key or "'all'"} AS key, any_value(brand_id) AS brand_id, max(users) AS users, {sums}, {variances}
    FROM wide WHERE {wh} GROUP BY 1
)
SELECT j.*, {metrics}, count(*) OVER () AS total
FROM j
{order}
LIMIT $limit OFFSET $offset
"""


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    """Turn variances into 95 % intervals and NaN into None."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name.endswith("_var") or name == "total":
            continue
        if isinstance(value, float) and not math.isfinite(value):
            out[name] = None
        elif isinstance(value, date):
            out[name] = value.isoformat()
        else:
            out[name] = value
    for column in (*ACTION_COLUMNS.values(), "gmv"):
        floor = None if column == "gmv" else 0.0
        out[f"{column}_ci"] = list(interval(float(row[column]), float(row[f"{column}_var"]), floor=floor))
    spend = float(row["spend"])
    out["roi_ci"] = [v / spend for v in out["gmv_ci"]] if spend > 0 else None
    return out


def aggregate(store: ReportStore, scope: Scope, flt: ReportFilter, *, by: str | None,
              sort: str = "reads", descending: bool = True, limit: int = 50,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Rows grouped ``by`` a key of :data:`GROUP_KEYS` (None: one total row), sorted and paginated."""
    if by is not None and by not in GROUP_KEYS:
        raise ValidationError(f"by must be one of {', '.join(GROUP_KEYS)}", field="by")
    if sort not in SORTABLE:
        raise ValidationError(f"cannot sort by {sort!r}; sortable: {', '.join(sorted(SORTABLE))}", field="sort")
    wh, params = where(scope, flt, credit=True, wide=True)
    order_col = {"note_id": "key", "title": "key"}.get(sort, sort)
    order = f"ORDER BY {order_col} {'DESC' if descending else 'ASC'} NULLS LAST, key NULLS LAST"
    sql = _aggregate_sql(GROUP_KEYS[by] if by else None, wh, order)
    rows = store.query(sql, {**params, "limit": limit, "offset": offset})
    total = int(rows[0]["total"]) if rows else 0
    return [_finish(r) for r in rows], total


def note_table(store: ReportStore, scope: Scope, flt: ReportFilter, *, sort: str = "reads",
               descending: bool = True, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The full-link table: one row per note with front counts, credited counts and the metrics."""
    rows, total = aggregate(store, scope, flt, by="note", sort=sort, descending=descending,
                            limit=limit, offset=offset)
    titles = {n["id"]: n["title"] for n in store.dims.notes.to_pylist()} if rows else {}
    for row in rows:
        row["note_id"] = row.pop("key")
        row["title"] = titles.get(row["note_id"], "")
    return {"total": total, "limit": limit, "offset": offset, "model": flt.model,
            "lookback_days": flt.lookback_days, "rows": rows}


def breakdown(store: ReportStore, scope: Scope, flt: ReportFilter, *, by: str, k: int,
              limit: int = 200) -> dict[str, Any]:
    """Rows per campaign / placement / mode / partner / day; rows under ``k`` users are withheld."""
    rows, total = aggregate(store, scope, flt, by=by, sort="key", descending=False, limit=limit)
    names = {c["id"]: c for c in store.dims.campaigns.to_pylist()} if by == "campaign" else {}
    out = []
    for row in rows:
        item: dict[str, Any]
        if row["users"] < k:
            item = {"key": row["key"], "withheld": True, "reason": f"fewer than {k} users"}
        else:
            item = {**row, "withheld": False}
        if by == "campaign" and row["key"] in names:
            campaign = names[row["key"]]
            item.update(name=campaign["name"], partner_id=campaign["partner_id"], mode=campaign["mode"],
                        bid_type=campaign["bid_type"], bid_price=campaign["bid_price"])
        out.append(item)
    return {"by": by, "k_anonymity": k, "total": total, "model": flt.model, "rows": out}


def model_comparison(store: ReportStore, scope: Scope, flt: ReportFilter, *, notes: int = 8) -> dict[str, Any]:
    """Totals under each attribution model side by side, and how each model splits them over the top notes.

    Every model hands out one unit of credit per back-link event, so brand totals differ little between
    models; ``notes`` shows where they differ: the credited orders and GMV of the ``notes`` notes with the
    most GMV under ``flt.model``, under every model.
    """
    rows = []
    for model in MODELS:
        found, _ = aggregate(store, scope, replace(flt, model=model), by=None, sort="key")
        total = found[0] if found else _empty_total(store, scope, flt)
        rows.append({"model": model, **{k: v for k, v in total.items() if k != "key"}})
    top, _ = aggregate(store, scope, flt, by="note", sort="gmv", limit=notes)
    keep = [r["key"] for r in top]
    titles = {n["id"]: n["title"] for n in store.dims.notes.to_pylist()} if keep else {}
    per_note: list[dict[str, Any]] = [{"note_id": k, "title": titles.get(k, ""), "orders": {}, "gmv": {}}
                                      for k in keep]
    for model in MODELS if keep else ():
        split, _ = aggregate(store, scope, replace(flt, model=model), by="note", sort="gmv", limit=10_000)
        by_note = {r["key"]: r for r in split}
        for item in per_note:
            row = by_note.get(item["note_id"], {})
            item["orders"][model] = row.get("orders", 0.0)
            item["gmv"][model] = row.get("gmv", 0.0)
    return {"rows": rows, "notes": per_note}


def _empty_total(store: ReportStore, scope: Scope, flt: ReportFilter) -> dict[str, Any]:
    zero: dict[str, Any] = dict.fromkeys(_COUNT_COLUMNS, 0)
    zero.update({f"{c}_var": 0.0 for c in (*ACTION_COLUMNS.values(), "gmv")})
    zero.update(dict.fromkeys(METRICS))
    zero.update(key="all", brand_id=scope.brand_id, users=0, total=0)
    return _finish(zero)


def _check_note_visible(store: ReportStore, scope: Scope, note_id: str) -> str:
    """The note's title, or NotFound when the note does not exist or is outside the caller's scope."""
    notes = {n["id"]: n for n in store.dims.notes.to_pylist()}
    note = notes.get(note_id)
    if note is not None and scope.brand_id is not None and note["brand_id"] not in (None, scope.brand_id):
        raise NotFound(f"note {note_id!r} not found", field="note_id")
    wf, pf = where(scope, ReportFilter(note_id=note_id), credit=False)
    wb, pb = where(scope, ReportFilter(note_id=note_id), credit=False)
    seen = store.query(f"SELECT (SELECT count(*) FROM front WHERE {wf}) + (SELECT count(*) FROM back WHERE {wb}) AS n",
                       {**pf, **pb})
    if not seen[0]["n"] and (note is None or scope.campaign_ids is not None):
        raise NotFound(f"note {note_id!r} not found", field="note_id")
    return str(note["title"]) if note else ""


def note_detail(store: ReportStore, scope: Scope, flt: ReportFilter, note_id: str) -> dict[str, Any]:
    """One note: totals, the front-to-back funnel, the daily trend, the lag histogram, ROI(T+x), top paths."""
    title = _check_note_visible(store, scope, note_id)
    flt = replace(flt, note_id=note_id)
    totals, _ = aggregate(store, scope, flt, by=None, sort="key")
    total = totals[0] if totals else _empty_total(store, scope, flt)
    total.pop("key", None)
    trend, _ = aggregate(store, scope, flt, by="day", sort="key", descending=False, limit=10_000)
    for row in trend:
        row["day"] = row.pop("key")
    funnel = [{"step": step, "value": total[step]} for step in
              ("impressions", "reads", "link_clicks", "visits", "carts", "orders")]
    wb, pb = where(scope, flt, credit=True)
    lags = store.query(f"""
        SELECT lag_day, action, sum(credited) AS credited, sum(gmv) AS gmv
        FROM back WHERE {wb} GROUP BY ALL ORDER BY lag_day, action""", pb)
    hist: dict[int, dict[str, Any]] = {}
    for row in lags:
        bucket = hist.setdefault(int(row["lag_day"]), {"lag_day": int(row["lag_day"]), "gmv": 0.0})
        sign = -1.0 if row["action"] in NEGATIVE_ACTIONS else 1.0
        bucket[ACTION_COLUMNS.get(row["action"], row["action"])] = sign * float(row["credited"])
        if row["action"] in GMV_ACTIONS:
            bucket["gmv"] += float(row["gmv"])
    roi_tx, running = [], 0.0
    for lag_day in sorted(hist):
        running += hist[lag_day]["gmv"]
        roi_tx.append({"x": lag_day, "gmv": running,
                       "roi": running / total["spend"] if total["spend"] else None})
    return {"note_id": note_id, "title": title, "model": flt.model, "lookback_days": flt.lookback_days,
            "totals": total, "funnel": funnel, "trend": trend, "lag_histogram": list(hist.values()),
            "roi_tx": roi_tx, "top_paths": top_paths(store, flt, note_id)}


def top_paths(store: ReportStore, flt: ReportFilter, note_id: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """The commonest touch sequences behind back-link events credited to the note.

    A path lists the converting user's candidate touches in time order (``linear`` credit rows hold
    them all; on a day without linear rows, the report model's own rows), then the action.
    Touches on other notes show as ``other``; repeats fold into ``kind ×n``; long paths keep their end.
    The rollup (``rollup_note_path_day``) holds these labels ready (the rule is in its SQL,
    :mod:`seedcart.measure.rollup`); here they are summed over the latest :data:`PATH_DAYS` days on
    which the note was credited within the filter.
    """
    wh, params = where(Scope(), replace(flt, note_id=note_id), credit=True)
    found = store.query(f"SELECT DISTINCT day FROM back WHERE {wh} ORDER BY day DESC LIMIT {PATH_DAYS}", params)
    days = [row["day"].isoformat() for row in found]
    sql = """SELECT path, sum(events) AS events FROM read_parquet($files)
             WHERE note_id = $note AND model = $model GROUP BY path ORDER BY events DESC, path LIMIT $limit"""
    rows, _ = read_listed(lambda: rollup_files(store.root, PATH_DAY, days),
                          lambda files: store.query(sql, {"files": [str(f) for f in files], "note": note_id,
                                                          "model": flt.model, "limit": limit}) if files else [])
    return [{"path": str(row["path"]), "events": float(row["events"])} for row in rows]
