"""DuckDB's fast path for :func:`seedcart.attribute.pipeline.attribute_parts` (DESIGN §3: engine fast paths
behind the same function, proven equal to the portable form by ``tests/attribute/test_fast.py``).

The portable form carries every event and touch column through each model's window, one model at a
time. Here every event and touch gets an integer id once, and one narrow pass does the rest:

1. ``_eid`` numbers the prepared events. Candidates are ``(_eid, _row, match, lag_s, t_rank, t_note_id)``
   rows, ``_row`` naming the touch: a click match is the latest of the event's in-window clicks by
   ``(ts, event_id)``; identity matches are equi-joins on (user, brand).
2. ``_tid`` then numbers the touches that are candidates in ``(ts, event_id)`` order and replaces
   ``_row``, so ordering an event's candidates by ``_tid`` is ordering them by time with the portable
   tie-break.
3. One ``GROUP BY`` per event (count, first, last, chosen touch, decay sum) and one pass over the
   candidates give every chosen model's credit as a column (NULL where a single-touch model does not
   choose the touch); the path models join their solved shares, pivoted one column per model
   (``seedcart.attribute.paths.solve_paths``, the same solve as the portable form).
4. The stored credit rows are that table's rows some model credits, joined back to the events' and
   touches' columns by integer id, once, each model's credit in its own column
   (``seedcart.lake.credit``); refunds repeat their orders' rows. Before they are written, every temp
   table but the events, the candidate touches and the scores is dropped; and when the candidate
   touches are many, the rows come in parts by ``_tid`` range (``WRITE_TOUCHES``), written one at a time.

The result is DuckDB views of the same credit: the stored rows (whole, and in parts), and the long
rows readers see.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

import ibis
import ibis.expr.types as ir

from seedcart.attribute.backends import materialise, quote
from seedcart.attribute.candidates import prepare_events, prepare_touches
from seedcart.attribute.config import AttributionConfig
from seedcart.attribute.paths import PART_TOUCHES, PATH_RULES, solve_paths
from seedcart.attribute.pathsolve import SEP
from seedcart.attribute.pathstore import PathStore
from seedcart.lake.credit import unpack_sql
from seedcart.lake.schemas import CREDIT_STORED, credit_column, credited_amount_column
from seedcart.types import MODELS, TOUCH_CLASSES, Model

logger = logging.getLogger(__name__)

#: Whole seconds since the epoch, floored (``candidates.epoch_s`` in SQL).
_EPOCH_S = "CAST(floor(epoch_us({}) / 1000000.0) AS BIGINT)"


def _epoch_s(column: str) -> str:
    return _EPOCH_S.format(column)


def _temp(tag: str) -> str:
    return f"_seedcart_fast_{tag}_{uuid.uuid4().hex[:12]}"


#: The name of every stored view starts so (``planned_as_written`` knows them by it).
_STORED = "_seedcart_fast_credit_stored_"


def _lookback_case(event: str, touch: str) -> str:
    """The event's lookback in seconds for the touch's class (``candidates._lookback_of_touch``)."""
    arms = " ".join(f"WHEN '{cls}' THEN {event}.lb_{cls}" for cls in TOUCH_CLASSES)
    return f"CASE {touch}.t_class {arms} END"


def _window(event: str, touch: str, lookback: str) -> str:
    """Strictly before the event and no further back than the lookback, inclusive (``_in_window``)."""
    return f"{touch}.t_ts < {event}.ts AND {touch}.t_ts >= {event}.ts - to_seconds({lookback})"


def _candidates_sql(ev: str, tt: str, identity_sql: str | None) -> str:
    users = (f"SELECT e.*, e.match_key AS _user FROM {ev} e" if identity_sql is None else
             f"SELECT e.*, i._user FROM {ev} e JOIN ({identity_sql}) i ON e.match_key = i._key")
    keep = "t.rowid AS _row, t.t_rank, t.t_note_id"
    return f"""
WITH clicked AS (
    SELECT e._eid, arg_max(t.rowid, (t.t_ts, t.t_event_id)) AS _row
    FROM {ev} e JOIN {tt} t ON e.click_id = t.t_click_id
    WHERE e.action <> 'refund' AND t.t_kind = 'link_click' AND {_window('e', 't', 'e.lb_click')}
    GROUP BY e._eid
), users AS (
    SELECT u.* FROM ({users}) u
    WHERE u.action <> 'refund' AND NOT EXISTS (SELECT 1 FROM clicked c WHERE c._eid = u._eid)
)
SELECT c._eid, {keep}, 'click' AS match, {_epoch_s('e.ts')} - {_epoch_s('t.t_ts')} AS lag_s
FROM clicked c JOIN {ev} e ON e._eid = c._eid JOIN {tt} t ON t.rowid = c._row
UNION ALL
SELECT u._eid, {keep}, 'identity' AS match, {_epoch_s('u.ts')} - {_epoch_s('t.t_ts')} AS lag_s
FROM users u JOIN {tt} t ON u._user = t.t_user_id AND u.brand_id = t.t_brand_id
WHERE {_window('u', 't', _lookback_case('u', 't'))}
UNION ALL
SELECT u._eid, {keep}, 'identity' AS match, {_epoch_s('u.ts')} - {_epoch_s('t.t_ts')} AS lag_s
FROM users u JOIN {tt} t ON u._user = t.t_user_id
WHERE u.brand_id IS NULL AND {_window('u', 't', _lookback_case('u', 't'))}
"""


#: Larger than any touch id: ``rank x _RANK + _tid`` orders by class rank, then by touch id.
_RANK = 1 << 40


def _model_columns(cand: str, chosen: list[Model], config: AttributionConfig) -> tuple[str, dict[str, str]]:
    """``(per_event, columns)``: the SQL of the per-event aggregates over the candidates ``cand`` that
    the models share (one ``GROUP BY``, no window), and of each chosen model's credit from them and
    the row's own values (``rules``, ``paths``).

    ``_tid`` is unique and in ``(ts, event_id)`` order, so the first touch of an event is its
    ``min(_tid)``, the last its ``max(_tid)``, and the single-touch models' choice is an ``arg_min``.
    """
    rank = "c.t_rank" if config.precedence else "0"
    rate = math.log(2.0) / config.half_life.total_seconds()
    decay = f"exp(CAST({-rate!r} AS DOUBLE) * CAST(c.lag_s AS DOUBLE))"
    per_event = (
        f"SELECT c._eid, count(*) AS _n, min(c._tid) AS _lo, max(c._tid) AS _hi, "
        f"arg_min(c._tid, {rank} * {_RANK} - c._tid) AS _last, arg_min(c._tid, {rank} * {_RANK} + c._tid) AS _first, "
        f"sum({decay}) AS _wsum FROM {cand} c GROUP BY c._eid")
    one = "CAST(1.0 AS DOUBLE)"
    first, middle, last = (float(w) for w in config.position_weights)
    sql = {
        "last_touch": f"CASE WHEN c._tid = a._last THEN {one} END",
        "first_touch": f"CASE WHEN c._tid = a._first THEN {one} END",
        "linear": f"{one} / CAST(a._n AS DOUBLE)",
        "position_based": (
            f"CASE WHEN a._n = 1 THEN {one} "
            f"WHEN a._n = 2 THEN (CASE WHEN c._tid = a._lo THEN CAST({first / (first + last)!r} AS DOUBLE) "
            f"ELSE CAST({last / (first + last)!r} AS DOUBLE) END) "
            f"WHEN c._tid = a._lo THEN CAST({first!r} AS DOUBLE) WHEN c._tid = a._hi THEN CAST({last!r} AS DOUBLE) "
            f"ELSE CAST({middle!r} AS DOUBLE) / (CAST(a._n AS DOUBLE) - CAST(2.0 AS DOUBLE)) END"),
        "time_decay": f"{decay} / a._wsum",
    }
    same_note = "CAST(n._nn AS DOUBLE)"  # the event's candidates on the touch's note (joined in: no window)
    for model in PATH_RULES:
        sql[model] = f"coalesce(n._s_{model}, CAST(0.0 AS DOUBLE)) / {same_note}"
    return per_event, {model: sql[model] for model in chosen}


def _name_of(table: ir.Table) -> str:
    """The bare name of a materialised table (Ibis qualifies temp tables as ``temp.main.<name>``)."""
    return str(table.get_name()).rsplit(".", 1)[-1]


def _temp_tables(con: Any) -> set[str]:
    """The names of the connection's temp tables."""
    rows = con.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    return {str(row[0]) for row in rows}


def _raw(con: Any, statement: str, stage: str) -> None:
    started = time.perf_counter()
    con.con.execute(statement)
    logger.debug("attribution fast path: %s in %.2f s", stage, time.perf_counter() - started)


def _numbered_candidates(con: Any, touches: str, rows: str) -> tuple[ir.Table, str]:
    """``(candidate touches, candidates)``: the touches some candidate row of ``rows`` names (by the
    ``rowid`` of ``touches``, in ``_row``) with ``_tid``, their rank in ``(t_ts, t_event_id)`` order, and
    the candidate rows with ``_tid`` in place of ``_row``. Only the touches that are candidates go
    through the sort (``_tid`` only has to order the touches of one event): numbering every touch was
    one spilling sort of them all, 119 s at 100M touches, against 46 s for these three steps."""
    ids, numbered, cand = quote(_temp("tid")), _temp("touches"), _temp("candidates")
    _raw(con, f"CREATE TEMP TABLE {ids} AS SELECT d._row, row_number() OVER (ORDER BY t.t_ts, t.t_event_id) AS _tid "
              f"FROM (SELECT DISTINCT _row FROM {rows}) d JOIN {touches} t ON t.rowid = d._row", "touch ids")
    _raw(con, f"CREATE TEMP TABLE {quote(numbered)} AS SELECT t.*, i._tid FROM {touches} t "
              f"JOIN {ids} i ON i._row = t.rowid", "candidate touches")
    _raw(con, f"CREATE TEMP TABLE {quote(cand)} AS SELECT c._eid, i._tid, c.t_rank, c.t_note_id, c.match, c.lag_s "
              f"FROM {rows} c JOIN {ids} i ON i._row = c._row", "candidate ids")
    _raw(con, f"DROP TABLE {rows}; DROP TABLE {ids}", "dropping row ids")
    with warnings.catch_warnings():  # Ibis reads the table's schema with a call DuckDB 2 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        return con.table(numbered), cand


class FastCredit(NamedTuple):
    """The credit of one fast pass, as two DuckDB views of the same rows."""

    #: one row per credited (event, touch), a column per model (``seedcart.lake.schemas.CREDIT_STORED``)
    stored: ir.Table
    #: one row per credited (event, touch, model) (``seedcart.lake.schemas.CREDIT``)
    long: ir.Table
    #: ``stored`` in parts by touch, to be written one at a time (each joins a share of the touches)
    stored_parts: list[ir.Table]


def fast_credit(touches: ir.Table, events: ir.Table, identity: ir.Table | None, config: AttributionConfig,
                chosen: list[Model], *, paths: PathStore | None = None) -> FastCredit | None:
    """The credit table as DuckDB views (see the module docstring); None when no model is chosen.

    ``paths`` keeps the path models' solve between runs (``paths.solve_paths``)."""
    if not chosen:
        return None
    ev_expr = prepare_events(events, config)
    ev_t = materialise(ev_expr.mutate(_eid=ibis.row_number()), "events")
    con = ev_t.get_backend()
    before = _temp_tables(con)  # the events, and what the caller holds on this connection
    all_t = materialise(prepare_touches(touches), "touches_unnumbered")
    ev, every = quote(_name_of(ev_t)), quote(_name_of(all_t))
    identity_sql = None
    if identity is not None:
        ids = identity.select(_key=identity.match_key.cast("string"), _user=identity.user_id.cast("string"))
        identity_sql = "SELECT * FROM " + quote(_name_of(materialise(ids.distinct(), "identity")))
    rows = quote(_temp("candidate_rows"))
    _raw(con, f"CREATE TEMP TABLE {rows} AS {_candidates_sql(ev, every, identity_sql)}", "candidates")
    tt_t, cand_name = _numbered_candidates(con, every, rows)
    tt, cand = quote(_name_of(tt_t)), quote(cand_name)

    joins = ""
    path_chosen: list[str] = [m for m in chosen if m in PATH_RULES]
    if path_chosen:
        conv_name = _temp("paths")
        conv = quote(conv_name)
        _raw(con, f"CREATE TEMP TABLE {conv} AS SELECT e.partner, e.event_id, coalesce(e.brand_id, -1) AS _bkey, "
                  f"e.action, e.weight, e.amount, p.path FROM (SELECT _eid, array_to_string(list(t_note_id "
                  f"ORDER BY _tid), chr({ord(SEP)})) AS path FROM {cand} GROUP BY _eid) p "
                  f"JOIN {ev} e ON e._eid = p._eid",
             "converting paths")
        c_t = con.table(cand_name).select("_eid", "_tid")
        wide = c_t.join(ev_t.drop("match_key", "click_id", "received_at", "category", "sample_rate"), "_eid")
        wide = wide.join(tt_t.select("_tid", "t_ts", "t_event_id", "t_note_id", "t_user_id"), "_tid")
        touch_count = int(con.con.execute(f"SELECT count(*) FROM {every}").fetchall()[0][0])
        per_event, shares = solve_paths(wide, ev_t, all_t, config, path_chosen, conv=con.table(conv_name), store=paths,
                                        ordered=True, user_parts=max(1, math.ceil(touch_count / PART_TOUCHES)))
        path_of = quote(_temp("path_of"))
        _raw(con, f"CREATE TEMP TABLE {path_of} AS SELECT e._eid, p._ppid FROM {ev} e "
                  f"JOIN ({ibis.to_sql(per_event, dialect='duckdb')}) p ON e.partner = p._pp AND e.event_id = p._pe",
             "path ids")
        shares_t = quote(_temp("shares"))  # one row per (path, note), a column per path model
        pivot = ", ".join(f"max(_share) FILTER (WHERE _smodel = '{m}') AS {quote('_s_' + m)}" for m in path_chosen)
        _raw(con, f"CREATE TEMP TABLE {shares_t} AS SELECT _pid, _snote, {pivot} "
                  f"FROM ({ibis.to_sql(shares, dialect='duckdb')}) GROUP BY _pid, _snote", "shares")
        # per (event, note): its candidates there and the note's shares of the event's path, so the
        # candidates meet the note-keyed tables in one join (these are fewer rows than candidates)
        by_note = quote(_temp("by_note"))
        solved = ", ".join(f"s.{quote('_s_' + m)}" for m in path_chosen)
        _raw(con, f"CREATE TEMP TABLE {by_note} AS SELECT g._eid, g.t_note_id, g._nn, {solved} "
                  f"FROM (SELECT _eid, t_note_id, count(*) AS _nn FROM {cand} GROUP BY _eid, t_note_id) g "
                  f"LEFT JOIN {path_of} p ON p._eid = g._eid "
                  f"LEFT JOIN {shares_t} s ON s._pid = p._ppid AND s._snote = g.t_note_id", "shares by note")
        joins = f" JOIN {by_note} n ON n._eid = c._eid AND n.t_note_id IS NOT DISTINCT FROM c.t_note_id"

    per_event_sql, columns = _model_columns(cand, chosen, config)
    per_event_t = quote(_temp("per_event"))
    _raw(con, f"CREATE TEMP TABLE {per_event_t} AS {per_event_sql}", "per-event aggregates")
    scored_name = _temp("scored")
    scored = quote(scored_name)
    select = ", ".join(f"{expr} AS {quote(model)}" for model, expr in columns.items())
    _raw(con, f"CREATE TEMP TABLE {scored} AS SELECT c._eid, c._tid, c.match, c.lag_s, {select} "
              f"FROM {cand} c JOIN {per_event_t} a ON a._eid = c._eid{joins}", "models")
    # Only the events, the candidate touches and the scores are read from here on: the rest (every
    # touch, the candidates, the path summary and solve) is dropped before the credit is written, so
    # its blocks are let go rather than written out to make room for the write's joins.
    dead = _temp_tables(con) - before - {_name_of(tt_t), scored_name}
    _raw(con, "".join(f"DROP TABLE {quote(name)};" for name in sorted(dead)), f"dropping {len(dead)} temp tables")

    ev = f"(SELECT _eid, partner, event_id, action, ts, brand_id, product_id, order_id, weight, amount FROM {ev})"
    stored_rows = _StoredRows(scored, ev, tt, tuple(columns))
    stored = _stored_view(con, stored_rows, None, None)
    ranges = _tid_ranges(int(con.con.execute(f"SELECT count(*) FROM {tt}").fetchall()[0][0]), WRITE_TOUCHES)
    parts = [stored] if len(ranges) == 1 else [_stored_view(con, stored_rows, lo, hi) for lo, hi in ranges]
    long = _temp("credit")
    _raw(con, f"CREATE TEMP VIEW {quote(long)} AS {unpack_sql(quote(stored))}", "long view")
    with warnings.catch_warnings():  # Ibis reads the views' schemas with a call DuckDB 2 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        return FastCredit(stored=con.table(stored), long=con.table(long),
                          stored_parts=[con.table(name) for name in parts])


#: Candidate touches per stored part: each part's rows join the touches of one ``_tid`` range only, so
#: that join's hash table (strings: event, user and note ids) stays small. At 100M touches (18.4M
#: candidate touches, 3 parts), planned as written, the write took 144 s; in one piece, over 215 s.
WRITE_TOUCHES = 8_000_000


#: DuckDB's optimizers that choose a join's order and build side (from estimates) and share a subplan
#: between the two branches of the stored rows (by materialising it).
_PLANNERS = "join_order,build_side_probe_side,common_subplan"


@contextlib.contextmanager
def planned_as_written(parts: list[ir.Table]) -> Iterator[None]:
    """While the block writes ``parts``: when they are this fast path's stored views, DuckDB plans their
    joins as their SQL writes them, each join's small side (the events, one range of the candidate
    touches) to build its hash table from. Other tables are planned as usual.

    Why: DuckDB's estimates for these joins of temp tables are far off (at 100M touches: 180k rows for
    11M), and it built each hash table from the big side, the scores; the write of a third of the rows
    spilled and read back about 51 GB.
    """
    fast = [part for part in parts if _is_stored_view(part)]
    if not fast:
        yield
        return
    raw = fast[0].get_backend().con
    previous = raw.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    raw.execute(f"SET disabled_optimizers = '{_PLANNERS}'")
    try:
        yield
    finally:
        raw.execute(f"SET disabled_optimizers = '{previous}'" if previous else "RESET disabled_optimizers")


def _is_stored_view(table: ir.Table) -> bool:
    try:
        return _name_of(table).startswith(_STORED)
    except AttributeError:  # an expression, not a named table
        return False


def _tid_ranges(count: int, per_part: int) -> list[tuple[int | None, int | None]]:
    """``_tid`` ranges ``[lo, hi)`` of at most ``per_part`` touches covering ``1..count``; one open
    range when one part holds them all."""
    parts = max(1, math.ceil(count / per_part))
    if parts == 1:
        return [(None, None)]
    step = math.ceil(count / parts)
    return [(1 + k * step, 1 + (k + 1) * step) for k in range(parts)]


class _StoredRows(NamedTuple):
    """The stored rows (``seedcart.lake.credit``) of a fast pass: one per candidate some model credits,
    each model's credit in its own column, joined back to the events' and touches' columns; refunds
    repeat their orders' rows."""

    #: the candidates' scores (``_eid``, ``_tid``, ``match``, ``lag_s``, a column per chosen model)
    scored: str
    #: the events' SQL (``_eid`` and the columns the rows carry)
    events: str
    #: the candidate touches (``_tid`` and the touch columns)
    touches: str
    #: the chosen models
    models: tuple[str, ...]

    def _values(self, credit: str, amount: str) -> str:
        """Each model's two columns: ``credit`` and ``amount`` formatted with its score column, or NULLs."""
        none = "CAST(NULL AS DOUBLE)"
        return ", ".join(
            f"{credit.format(quote(m)) if m in self.models else none} AS {quote(credit_column(m))}, "
            f"{amount.format(quote(m)) if m in self.models else none} AS {quote(credited_amount_column(m))}"
            for m in MODELS)

    def sql(self, lo: int | None, hi: int | None) -> str:
        """The rows whose touch has a ``_tid`` in ``[lo, hi)``, or every row when the range is open. The
        range is written on both sides of the touch join, so each side is cut before the join."""
        def within(alias: str) -> str:
            return "TRUE" if lo is None or hi is None else f"{alias}._tid >= {lo} AND {alias}._tid < {hi}"

        ev, scored = self.events, self.scored
        some = "(" + " OR ".join(f"u.{quote(m)} IS NOT NULL" for m in self.models) + f") AND {within('u')}"
        tt = (f"(SELECT _tid, t_event_id, t_ts, t_kind, t_note_id, t_campaign_id, t_placement, t_user_id "
              f"FROM {self.touches} t WHERE {within('t')})")
        touch_cols = ("t.t_event_id AS touch_event_id, t.t_ts AS touch_ts, t.t_kind AS touch_kind, "
                      "t.t_note_id AS note_id, t.t_campaign_id AS campaign_id, t.t_placement AS placement, "
                      "t.t_user_id AS user_id")
        credited = f"""
SELECT e.partner, e.event_id, e.action, e.ts, e.brand_id, e.product_id, e.order_id, {touch_cols},
       u.match, e.weight, e.amount, u.lag_s, {self._values("u.{}", "u.{} * CAST(e.amount AS DOUBLE)")}
FROM {scored} u JOIN {ev} e ON e._eid = u._eid JOIN {tt} t ON t._tid = u._tid
WHERE {some}"""
        refunded = "abs(CAST(r.amount AS DOUBLE))"
        frac = (f"CASE WHEN r.amount IS NULL OR e.amount IS NULL OR e.amount = 0 THEN CAST(1.0 AS DOUBLE) "
                f"ELSE least({refunded} / abs(CAST(e.amount AS DOUBLE)), CAST(1.0 AS DOUBLE)) END")
        refunds = f"""
SELECT r.partner, r.event_id, 'refund' AS action, r.ts, e.brand_id, e.product_id, e.order_id, {touch_cols},
       u.match, r.weight, r.amount, {_epoch_s('r.ts')} - {_epoch_s('t.t_ts')} AS lag_s,
       {self._values(f"-(u.{{}} * {frac})", f"-(u.{{}} * {refunded})")}
FROM {scored} u JOIN {ev} e ON e._eid = u._eid AND e.action = 'order'
JOIN {ev} r ON r.action = 'refund' AND r.order_id IS NOT NULL AND r.partner = e.partner AND r.order_id = e.order_id
JOIN {tt} t ON t._tid = u._tid
WHERE {some}"""
        names = ", ".join(quote(f.name) for f in CREDIT_STORED)
        return f"SELECT {names} FROM ({credited} UNION ALL {refunds})"


def _stored_view(con: Any, rows: _StoredRows, lo: int | None, hi: int | None) -> str:
    """A temp view of the stored rows whose touch has a ``_tid`` in ``[lo, hi)`` (all when open); its name."""
    name = f"{_STORED}{uuid.uuid4().hex[:12]}"
    _raw(con, f"CREATE TEMP VIEW {quote(name)} AS {rows.sql(lo, hi)}",
         "view" if lo is None else f"view of touches {lo}..{hi}")
    return name
