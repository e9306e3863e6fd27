"""Rollups: the lake's touch and credit tables summed per note x UTC day x placement x campaign x partner,
and the credited events' paths per note x day (what a note's detail page shows as top paths).

Built incrementally: a day's rollups are rebuilt only when that day's input files changed since
the last build (the front rollup on touch changes, the credit and path rollups on credit changes),
or the catalog columns they depend on did, recorded in ``<root>/rollup_note_day/_manifest.json``.
Rows are written sorted by their keys, so a rerun over the same input writes the same rows.

Definitions (also in the API description):
- Bot and duplicate touches (``is_bot``, ``is_duplicate``) are excluded from every front count.
- A deep read is a ``deep_read`` event or a ``read`` with dwell >= 5 s (image) or >= 50 % watched
  (video); per row the larger of the two counts is kept, so senders that emit both are not double counted.
- True-interest readers: distinct users with a deep read or a deep interaction (like, comment,
  collect, share, follow).
- Spend: a CPM campaign costs bid_price / 1000 per impression, a CPC campaign bid_price per link click.
- Credited counts are sum(credit x weight), weight = 1 / sample_rate; their variance is the
  Horvitz-Thompson sum in :mod:`seedcart.measure.intervals`. Credit rows are filed under the UTC day
  of the back-link event, and ``lag_day = floor(lag_s / 86400)``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from seedcart.catalog.db import Catalog
from seedcart.lake.credit import unpack_sql
from seedcart.lake.reader import partition_files, read_listed, table_files
from seedcart.lake.writer import partition_dir, write_parquet_atomic
from seedcart.measure.dimensions import Dimensions, load_dimensions
from seedcart.measure.intervals import VARIANCE_SQL
from seedcart.measure.schemas import (
    CREDIT_DAY,
    NOTE_DAY,
    PATH_DAY,
    ROLLUP_CREDIT_DAY,
    ROLLUP_NOTE_DAY,
    ROLLUP_PATH_DAY,
)

logger = logging.getLogger(__name__)

ROLLUP_FILE = "rollup.parquet"
MANIFEST = "_manifest.json"
#: Bump when the rollup SQL changes: every day is rebuilt once.
ROLLUP_VERSION = 3

DEEP_READ_DWELL_MS = 5_000
DEEP_READ_WATCH_RATIO = 0.5

_DEEP_READ = (f"(kind = 'read' AND (coalesce(dwell_ms, 0) >= {DEEP_READ_DWELL_MS} "
              f"OR coalesce(watch_ratio, 0) >= {DEEP_READ_WATCH_RATIO}))")
_DEEP_INTEREST = f"(kind IN ('deep_read', 'like', 'comment', 'collect', 'share', 'follow') OR {_DEEP_READ})"

_FRONT_SQL = f"""
WITH t AS (
    SELECT t.kind, t.note_id, t.placement, t.campaign_id, t.user_id, t.dwell_ms, t.watch_ratio,
           coalesce(t.brand_id, n.brand_id, c.brand_id) AS brand_id,
           coalesce(t.partner, c.partner_id) AS partner, c.mode, c.bid_type, c.bid_price
    FROM read_parquet($files, union_by_name = true) t
    LEFT JOIN campaigns c ON c.id = t.campaign_id
    LEFT JOIN notes n ON n.id = t.note_id
    WHERE t.note_id IS NOT NULL AND NOT t.is_bot AND NOT t.is_duplicate
)
SELECT CAST($day AS DATE) AS day, brand_id, note_id, placement, campaign_id, partner, mode,
    count(*) FILTER (WHERE kind = 'impression') AS impressions,
    count(*) FILTER (WHERE kind = 'read') AS reads,
    greatest(count(*) FILTER (WHERE kind = 'deep_read'), count(*) FILTER (WHERE {_DEEP_READ})) AS deep_reads,
    count(*) FILTER (WHERE kind = 'like') AS likes,
    count(*) FILTER (WHERE kind = 'comment') AS comments,
    count(*) FILTER (WHERE kind = 'collect') AS collects,
    count(*) FILTER (WHERE kind = 'share') AS shares,
    count(*) FILTER (WHERE kind = 'follow') AS follows,
    count(*) FILTER (WHERE kind = 'link_click') AS link_clicks,
    count(DISTINCT user_id) FILTER (WHERE kind IN ('read', 'deep_read')) AS unique_readers,
    count(DISTINCT user_id) FILTER (WHERE {_DEEP_INTEREST}) AS true_interest_readers,
    count(DISTINCT user_id) AS users,
    coalesce(sum(CASE WHEN bid_type = 'CPM' AND kind = 'impression' THEN bid_price / 1000.0
                      WHEN bid_type = 'CPC' AND kind = 'link_click' THEN CAST(bid_price AS DOUBLE)
                      ELSE 0.0 END), 0.0) AS spend
FROM t
GROUP BY ALL
ORDER BY brand_id NULLS FIRST, note_id, placement NULLS FIRST, campaign_id NULLS FIRST,
         partner NULLS FIRST, mode NULLS FIRST
"""

#: The long credit rows of the day's files (they hold one row per credited event and touch).
_CREDIT_ROWS = unpack_sql("read_parquet($files, union_by_name = true)")

_CREDIT_SQL = f"""
WITH per_event AS (
    SELECT coalesce(r.brand_id, n.brand_id, c.brand_id) AS brand_id, r.note_id, r.placement, r.campaign_id,
           r.partner, c.mode, r.model, r.action, r.lag_s // 86400 AS lag_day, r.event_id,
           sum(r.credit) AS x, sum(coalesce(r.credited_amount, 0.0)) AS a, max(r.weight) AS w,
           min(r.user_id) AS user_id
    FROM ({_CREDIT_ROWS}) r
    LEFT JOIN campaigns c ON c.id = r.campaign_id
    LEFT JOIN notes n ON n.id = r.note_id
    WHERE r.note_id IS NOT NULL
    GROUP BY ALL
)
SELECT CAST($day AS DATE) AS day, brand_id, note_id, placement, campaign_id, partner, mode, model, action,
    lag_day,
    sum(x * w) AS credited, sum({VARIANCE_SQL.format(w="w", x="x")}) AS credited_var,
    sum(a * w) AS gmv, sum({VARIANCE_SQL.format(w="w", x="a")}) AS gmv_var,
    count(*) AS events, count(DISTINCT user_id) AS users
FROM per_event
GROUP BY brand_id, note_id, placement, campaign_id, partner, mode, model, action, lag_day
ORDER BY brand_id NULLS FIRST, note_id, placement NULLS FIRST, campaign_id NULLS FIRST,
         partner NULLS FIRST, mode NULLS FIRST, model, action, lag_day
"""

#: Runs of equal steps a path label keeps: its last ones, after ``…`` when earlier runs are cut.
PATH_STEPS = 6

#: Paths are labelled here, the one place that knows the rule: each credited event's touches as the
#: note sees them (its own touch's kind, else ``other``), runs of equal steps folded into ``kind ×n``,
#: only the last :data:`PATH_STEPS` runs kept (whole), then the action, joined by `` → ``. Grouping
#: these short labels, not the events' raw step lists (~100 steps each), is what keeps the build cheap.
_PATH_SQL = f"""
WITH c AS (
    SELECT partner, event_id, note_id, model, action, weight, touch_kind, touch_ts, touch_event_id
    FROM ({_CREDIT_ROWS})
),
source AS (SELECT bool_or(model = 'linear') AS linear FROM c),
paths AS (  -- every event's touches in order: from its linear rows, else per model from the model's own
    SELECT partner, event_id, CASE WHEN (SELECT linear FROM source) THEN NULL ELSE model END AS own_model,
        any_value(action) AS action, max(weight) AS w,
        list({{'n': note_id, 'k': touch_kind}} ORDER BY touch_ts, touch_event_id) AS touches
    FROM c
    WHERE model = 'linear' OR NOT (SELECT linear FROM source)
    GROUP BY ALL
),
credited AS (SELECT DISTINCT partner, event_id, note_id, model FROM c WHERE note_id IS NOT NULL),
seen AS (  -- each credited event's path as the note sees it
    SELECT e.note_id, e.model, p.action, p.w,
        list_transform(p.touches, lambda t: CASE WHEN t.n = e.note_id THEN t.k ELSE 'other' END) AS steps
    FROM credited e JOIN paths p ON p.partner = e.partner AND p.event_id = e.event_id
        AND (p.own_model IS NULL OR p.own_model = e.model)
),
bounds AS (  -- the (1-based) position where each run of equal steps starts
    SELECT *, list_filter(range(1, len(steps) + 1), lambda i: i = 1 OR steps[i] <> steps[i - 1]) AS starts
    FROM seen
),
folded AS (  -- each run of equal steps: the step and how many times it repeats
    SELECT note_id, model, action, w, list_transform(starts, lambda s, i:
        {{'step': steps[s], 'n': coalesce(starts[i + 1], len(steps) + 1) - s}}) AS runs
    FROM bounds
)
SELECT CAST($day AS DATE) AS day, note_id, model, action,
    array_to_string(list_concat(
        CASE WHEN len(runs) > {PATH_STEPS} THEN ['…'] ELSE [] END,
        list_transform(runs[-{PATH_STEPS}:], lambda r: CASE WHEN r.n > 1 THEN r.step || ' ×' || r.n ELSE r.step END),
        [action]), ' → ') AS path,
    sum(w) AS events
FROM folded
GROUP BY ALL
ORDER BY note_id, model, action, path
"""


@dataclass
class RefreshResult:
    """What one refresh did: the days rebuilt and removed, per rollup table."""

    rebuilt: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any rollup file was written or removed."""
        return bool(self.rebuilt or self.removed)


def _files_by_day(root: str, table: str) -> dict[str, list[Path]]:
    days: dict[str, list[Path]] = defaultdict(list)
    for path in table_files(root, table):
        days[path.parent.name.removeprefix("date=")].append(path)
    return days


def _signature(files: list[Path]) -> list[list[Any]]:
    out = []
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:  # compacted away between listing and stat: the next refresh sees it
            continue
        out.append([path.name, st.st_size, st.st_mtime_ns])
    return out


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data


def _write_manifest(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


def _connect(dims: Dimensions) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 2})
    con.execute("SET TimeZone = 'UTC'").fetchall()
    con.register("campaigns", dims.campaigns)
    con.register("notes", dims.notes)
    return con


def _build(con: duckdb.DuckDBPyConnection, sql: str, files: list[Path], *, day: str,
           schema: pa.Schema) -> pa.Table:
    if not files:
        return schema.empty_table()
    result = con.sql(sql, params={"files": [str(f) for f in files], "day": day}).to_arrow_table()
    return result.cast(schema)


def _store(root: str, table: str, day: str, data: pa.Table, row_group_rows: int | None) -> None:
    path = partition_dir(root, table, day) / ROLLUP_FILE
    if data.num_rows:
        write_parquet_atomic(data, path, options={"row_group_size": row_group_rows} if row_group_rows else None)
    else:
        path.unlink(missing_ok=True)


#: What each input table of a day is rolled up into: ``(sql, rollup table, schema, row group rows)``.
#: Path rollups are read one note at a time: small row groups of rows sorted by note let a read skip
#: every group whose note_id range misses the note (Parquet min/max statistics).
_BUILDS: dict[str, list[tuple[str, str, pa.Schema, int | None]]] = {
    "touch": [(_FRONT_SQL, NOTE_DAY, ROLLUP_NOTE_DAY, None)],
    "credit": [(_CREDIT_SQL, CREDIT_DAY, ROLLUP_CREDIT_DAY, None), (_PATH_SQL, PATH_DAY, ROLLUP_PATH_DAY, 2048)],
}


def _build_all(con: duckdb.DuckDBPyConnection, builds: list[tuple[str, str, pa.Schema, int | None]],
               files: list[Path], *, day: str) -> list[pa.Table]:
    """Every rollup of one input table's day, from the same listing of its files."""
    return [_build(con, sql, files, day=day, schema=schema) for sql, _, schema, _ in builds]


def refresh_rollups(root: str, catalog: Catalog, *, full: bool = False,
                    dims: Dimensions | None = None) -> RefreshResult:
    """Rebuild the rollup days whose inputs changed (every day when ``full``); returns what changed."""
    dims = dims or load_dimensions(catalog)
    manifest_path = Path(root) / NOTE_DAY / MANIFEST
    manifest = {} if full else _read_manifest(manifest_path)
    stamp = {"version": ROLLUP_VERSION, "dims": dims.fingerprint}
    if {k: manifest.get(k) for k in stamp} != stamp:
        manifest = {}
    built: dict[str, Any] = dict(manifest.get("days", {}))
    touch_days = _files_by_day(root, "touch")
    credit_days = _files_by_day(root, "credit")
    result = RefreshResult()
    con: duckdb.DuckDBPyConnection | None = None
    try:
        for day in sorted(set(touch_days) | set(credit_days)):
            inputs = {"touch": touch_days.get(day, []), "credit": credit_days.get(day, [])}
            before = built.get(day) or {}
            stale = {table for table, files in inputs.items() if before.get(table) != _signature(files)}
            if not stale:
                continue
            con = con or _connect(dims)
            read: dict[str, Any] = dict(before)
            for table in sorted(stale):  # live traffic changes touch files every second, credit far less often
                builds = _BUILDS[table]
                tables, files = read_listed(partial(partition_files, root, table, day),
                                            partial(_build_all, con, builds, day=day))
                for (_, target, _, row_group_rows), data in zip(builds, tables, strict=True):
                    _store(root, target, day, data, row_group_rows)
                read[table] = _signature(files)
            built[day] = read
            result.rebuilt.append(day)
        for day in sorted(set(built) - set(touch_days) - set(credit_days)):
            for _, target, _, _ in (build for builds in _BUILDS.values() for build in builds):
                (partition_dir(root, target, day) / ROLLUP_FILE).unlink(missing_ok=True)
            del built[day]
            result.removed.append(day)
    finally:
        if con is not None:
            con.close()
    if result.changed or manifest.get("days") != built:
        _write_manifest(manifest_path, {**stamp, "days": built})
    if result.changed:
        logger.info("rollups: rebuilt %d day(s), removed %d", len(result.rebuilt), len(result.removed))
    return result


def rollup_files(root: str, table: str, days: list[str] | None = None) -> list[Path]:
    """The committed rollup files of ``table`` (one per day), or of the given ``YYYY-MM-DD`` days that have one."""
    if days is None:
        return sorted((Path(root) / table).glob(f"date=*/{ROLLUP_FILE}"))
    return [f for f in (partition_dir(root, table, day) / ROLLUP_FILE for day in days) if f.exists()]
