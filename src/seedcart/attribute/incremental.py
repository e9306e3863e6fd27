"""Incremental crediting: re-credit only the back-link events that new lake files can change.

Given the input files added since the last pass (``Delta``), the events whose credit they can change
are (DESIGN §5 candidate rules, taken wide so that nothing is missed):

- every event of the new backflow files;
- every event whose match key gained an identity pair in the new identity files;
- every event a new touch could be a candidate of: the touch's user behind the event's match key,
  or the touch's click id on the event, and ``touch.ts < event.ts <= touch.ts + the longest lookback``;
- closed over duplicates and orders: every row sharing an affected event's ``(partner, event_id)``,
  and every order and refund sharing an affected order's ``(partner, order_id)``, so that the
  "first received counts" rule and the refunds' repetition of their orders' rows see the same rows
  as a full run.

Those events are credited again from all the touches that can be their candidates (the users and
click ids behind them), with the same pipeline as a full run. Every per-event model therefore gives
exactly the rows a full rebuild gives; the path models credit from the last full solve
(``seedcart.attribute.pathstore``). The affected events' old rows are then replaced, day by day, under
the lake's replacement journals: a day's files that hold affected rows are rewritten with the new
rows, without the old ones, into one file. New events alone (the usual trickle of fresh orders) hold
no old rows: their rows go into a small file of their own, and once a day has
``SMALL_FILES_TO_MERGE`` small files they are merged with the next change, so live traffic leaves a
day in a few files without rewriting its big ones each time (the next full pass writes each day afresh).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis.expr.types as ir

from seedcart.attribute.backends import quote
from seedcart.attribute.config import AttributionConfig
from seedcart.attribute.fast import planned_as_written
from seedcart.attribute.lake import credit_sql, fsync_file, open_inputs, stage_replacement
from seedcart.attribute.pathstore import PathStore
from seedcart.attribute.pipeline import stored_parts
from seedcart.config import Settings
from seedcart.lake import journal
from seedcart.lake.reader import files_sql, table_files
from seedcart.lake.schemas import CREDIT_COMPRESSION, CREDIT_STORED
from seedcart.lake.writer import partition_dir
from seedcart.types import TOUCH_CLASS_OF, Model

logger = logging.getLogger(__name__)

#: A credit file under this size counts as small ...
SMALL_FILE_BYTES = 32 << 20
#: ... and a day's small files are merged into its next change once there are this many.
SMALL_FILES_TO_MERGE = 8


@dataclass(frozen=True)
class Delta:
    """Input files added since the last pass, per lake table."""

    touch: tuple[Path, ...] = ()
    backflow: tuple[Path, ...] = ()
    identity: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.touch or self.backflow or self.identity)


@dataclass
class PassResult:
    """What one incremental pass did."""

    events: int = 0
    rows: int = 0
    days: list[str] = field(default_factory=list)
    #: The delta changes too many events for a pass of its own: run a full pass instead.
    too_many: bool = False


def longest_lookback(config: AttributionConfig) -> int:
    """The longest lookback in seconds any event can have, over classes, partners and categories."""
    spans = [*config.lookback.values(), *config.category_lookback.values(),
             *(v for overrides in config.partner_lookback.values() for v in overrides.values())]
    return max(config.seconds(v) for v in spans)


def _scan(paths: tuple[Path, ...] | list[Path], columns: str) -> str:
    return f"(SELECT {columns} FROM read_parquet({files_sql(paths)}, union_by_name = true, hive_partitioning = false))"


def affected_sql(delta: Delta, backflow: list[Path], identity: list[Path], lookback_s: int) -> str:
    """SQL of the ``(partner, event_id, day)`` of every event whose credit the delta can change (module
    docstring); ``day`` is the credit partition of the event's rows."""
    bf = _scan(backflow, "coalesce(partner, 'user') AS partner, event_id, action, order_id, ts, match_key, click_id, "
                         "brand_id")
    arms: list[str] = []
    if delta.backflow:
        arms.append(f"SELECT coalesce(partner, 'user') AS partner, event_id FROM {_scan(delta.backflow, '*')}")
    if delta.identity:
        arms.append(f"SELECT e.partner, e.event_id FROM bf e "
                    f"JOIN {_scan(delta.identity, 'match_key')} i ON i.match_key = e.match_key")
    if delta.touch:
        window = f"e.ts > t.ts AND e.ts <= t.ts + to_seconds({lookback_s})"
        kinds = ", ".join(f"'{kind}'" for kind in TOUCH_CLASS_OF)
        new = (f"(SELECT user_id, click_id, ts, brand_id FROM {_scan(delta.touch, '*')} WHERE kind IN ({kinds}) "
               "AND note_id IS NOT NULL AND NOT coalesce(is_bot, false) AND NOT coalesce(is_duplicate, false))")
        if identity:
            arms.append(f"SELECT e.partner, e.event_id FROM bf e "
                        f"JOIN {_scan(identity, 'user_id, match_key')} i ON i.match_key = e.match_key "
                        f"JOIN {new} t ON t.user_id = i.user_id "
                        f"WHERE {window} AND (e.brand_id IS NULL OR e.brand_id = t.brand_id)")
        arms.append(f"SELECT e.partner, e.event_id FROM bf e JOIN {new} t ON t.click_id = e.click_id WHERE {window}")
    return f"""
WITH bf AS {bf},
k0 AS ({' UNION '.join(arms)}),
orders AS (
    SELECT DISTINCT e.partner, e.order_id FROM bf e SEMI JOIN k0 k ON k.partner = e.partner AND k.event_id = e.event_id
    WHERE e.order_id IS NOT NULL AND e.action IN ('order', 'refund'))
SELECT DISTINCT e.partner, e.event_id, strftime(e.ts, '%Y-%m-%d') AS day FROM bf e
WHERE EXISTS (SELECT 1 FROM k0 k WHERE k.partner = e.partner AND k.event_id = e.event_id)
   OR (e.action IN ('order', 'refund') AND EXISTS (
       SELECT 1 FROM orders o WHERE o.partner = e.partner AND o.order_id = e.order_id))"""


def affected_inputs(con: Any, tables: dict[str, ir.Table], affected: str) -> tuple[ir.Table, ir.Table, ir.Table]:
    """The affected events, the touches that can be their candidates, and their identity pairs.

    ``tables`` are the lake's ``touch``, ``backflow`` and ``identity`` tables; ``affected`` the name of
    a temp table of ``(partner, event_id, day)`` (:func:`affected_sql`).
    """
    keys = con.table(affected)
    events = tables["backflow"]
    events = events.semi_join(keys, [events.partner == keys.partner, events.event_id == keys.event_id])
    identity = tables["identity"]
    identity = identity.semi_join(events, identity.match_key == events.match_key)
    touches = tables["touch"]
    by_user = touches.user_id.isin(identity.user_id)
    by_click = touches.click_id.isin(events.click_id)
    return touches.filter(by_user | by_click), events, identity


def recredit(settings: Settings, catalog: Any, delta: Delta, paths: PathStore, *,
             models: tuple[Model, ...] | None = None, max_share: float = 1.0) -> PassResult:
    """Re-credit the events ``delta`` can change and swap their rows into the lake's credit table.

    When they are more than ``max_share`` of all events nothing is done and ``too_many`` is set: a full
    pass is then cheaper (re-crediting rewrites every day file holding an affected event).
    """
    root = Path(settings.resolved_lake_root)
    con, touches, events, identity, config = open_inputs(settings, catalog, "duckdb", models, None)
    raw = con.con
    backflow_files = table_files(root, "backflow")
    affected = f"_seedcart_affected_{uuid.uuid4().hex[:12]}"
    keys = affected_sql(delta, backflow_files, table_files(root, "identity"), longest_lookback(config))
    raw.execute(f"CREATE TEMP TABLE {affected} AS {keys}").fetchall()
    result = PassResult(events=_count(raw, f"SELECT count(DISTINCT (partner, event_id)) FROM {affected}"))
    if not result.events:
        return result
    total = _count(raw, f"SELECT count(*) FROM {_scan(backflow_files, 'event_id')}")
    if result.events > max_share * total:
        result.too_many = True
        return result
    tables = {"touch": touches, "backflow": events, "identity": identity}
    parts = stored_parts(*affected_inputs(con, tables, affected), config, models, paths=paths)
    if not parts:
        return result
    fresh = f"_seedcart_recredit_{uuid.uuid4().hex[:12]}"
    with planned_as_written(parts):
        union = " UNION ALL ".join(f"({credit_sql(p)})" for p in parts)
        raw.execute(f"CREATE TEMP TABLE {fresh} AS {union}").fetchall()
    result.rows = _count(raw, f"SELECT count(*) FROM {fresh}")
    days = [str(r[0]) for r in raw.execute(f"SELECT DISTINCT day FROM {affected} ORDER BY 1").fetchall()]
    staging = root / "credit" / f".recredit-{uuid.uuid4().hex}"
    result.days = _replace_days(raw, root, days, affected, fresh, staging=staging)
    logger.info("re-credited %d events: %d rows over %d days", result.events, result.rows, len(result.days))
    return result


def _count(raw: Any, sql: str) -> int:
    rows = raw.execute(sql).fetchall()  # fetch to the end: DuckDB 2 keeps a half-read result open
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def _replace_days(raw: Any, root: Path, days: list[str], affected: str, fresh: str, *, staging: Path) -> list[str]:
    """Per day: the files holding affected rows (and the small ones, when merging) + the fresh rows → one
    new file (module docstring)."""
    columns = ", ".join(quote(f.name) for f in CREDIT_STORED)
    changed: list[str] = []
    staging.mkdir(parents=True, exist_ok=True)
    try:
        with journal.table_lock(root, "credit"):
            for day in days:
                partition = partition_dir(root, "credit", day)
                if partition.is_dir():
                    journal.recover(partition)
                    files = journal.visible_files(partition)
                else:
                    files = []
                hits = _files_with(raw, files, affected)
                small = [f for f in files if f.stat().st_size < SMALL_FILE_BYTES]
                inputs = sorted({*hits, *(small if hits or len(small) + 1 >= SMALL_FILES_TO_MERGE else ())})
                new_rows = _count(raw, f"SELECT count(*) FROM {fresh} WHERE date = '{day}'")
                if not inputs and not new_rows:
                    continue
                kept = (f"SELECT {columns} FROM read_parquet({files_sql(inputs)}, union_by_name = true, "
                        f"hive_partitioning = false) c ANTI JOIN {affected} k "
                        "ON k.partner = c.partner AND k.event_id = c.event_id UNION ALL ") if inputs else ""
                out = staging / f"part-{uuid.uuid4().hex}.parquet"
                written = _count(raw, f"COPY ({kept}SELECT {columns} FROM {fresh} WHERE date = '{day}') "
                                      f"TO '{out}' (FORMAT parquet, COMPRESSION {CREDIT_COMPRESSION})")
                if written:
                    fsync_file(out)
                journal.finish(stage_replacement(partition, [f.name for f in inputs], [out] if written else []))
                changed.append(day)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed


def _files_with(raw: Any, files: list[Path], affected: str) -> list[Path]:
    """The files among ``files`` holding a row of an affected event."""
    if not files:
        return []
    rows = raw.execute(
        f"SELECT DISTINCT filename FROM read_parquet({files_sql(files)}, filename = true, union_by_name = true, "
        f"hive_partitioning = false) c SEMI JOIN {affected} k ON k.partner = c.partner AND k.event_id = c.event_id"
    ).fetchall()
    found = {str(r[0]) for r in rows}
    return [f for f in files if str(f) in found]

