"""Paths for the markov and shapley models: aggregated in Ibis, solved in numpy, joined back in Ibis.

Paths are built per brand and back-link action. A converting path is an event's candidate touches
in time order; a non-converting path is a user's touches on the brand's notes within the default
lookbacks before the end of the window, for users with no such event. Conversions and revenue are
weighted by 1 / sample_rate. Within an event a note's share is split equally among its touches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from seedcart.attribute.backends import materialise, union_all
from seedcart.attribute.candidates import f64, i64
from seedcart.attribute.config import AttributionConfig
from seedcart.attribute.markov import markov_shares
from seedcart.attribute.pathsolve import SEP, solve_summary
from seedcart.attribute.pathstore import PathStore
from seedcart.attribute.shapley import ShareRule, shapley_shares
from seedcart.lake.engines import copy_arrow, register_arrow
from seedcart.types import TOUCH_CLASSES

logger = logging.getLogger(__name__)

PATH_RULES: dict[str, ShareRule] = {"markov": markov_shares, "shapley": shapley_shares}
GROUP = ("_bkey", "action")
#: Credits candidate rows (whole events) under the solved path models: ``{model: rows with credit}``.
PathCredit = Callable[[ir.Table], dict[str, ir.Table]]


def _path(pos: ir.IntegerValue, note: ir.StringValue) -> ir.StringScalar:
    """The notes of a group joined in ``pos`` order (portable: sort an array of structs)."""
    return ibis.struct({"p": pos, "n": note}).collect().sort().map(lambda s: s.n).join(SEP)


def _window_end(events: ir.Table, config: AttributionConfig) -> datetime | None:
    if config.window_end is not None:
        return config.window_end.astimezone(UTC)
    value: Any = events.ts.max().to_pyarrow().as_py()
    return value if isinstance(value, datetime) else None


def converting_paths(c: ir.Table) -> ir.Table:
    """One row per event: its brand key, action, weight, amount and path string."""
    c = c.mutate(_bkey=ibis.coalesce(c.brand_id, i64(-1)))
    pos = ibis.row_number().over(group_by=[c.partner, c.event_id], order_by=[c.t_ts, c.t_event_id])
    c = c.mutate(_pos=pos)
    return c.group_by(["partner", "event_id", "_bkey", "action", "weight", "amount"]).aggregate(
        path=_path(c._pos, c.t_note_id))


def path_summary(c: ir.Table, conv: ir.Table, events: ir.Table, touches: ir.Table,
                 config: AttributionConfig, *, ordered: bool = False, user_parts: int = 1) -> ir.Table:
    """``(_bkey, action, path, conversions, non_conversions, revenue)`` for every path seen.

    ``conv`` is :func:`converting_paths` of the candidates ``c``. ``ordered`` builds the users' paths
    with one order-sensitive aggregate instead of a window and a sort of structs: the same strings, for
    an engine that has such aggregates (DuckDB; Spark has not). The fast path asks for it (the 10M
    summary: 3.95-4.52 s against 4.57-4.82 s), and ``tests/attribute/test_fast.py`` proves it equal.

    ``user_parts`` above 1 builds the non-converting paths that many times, each time for the users
    whose id hashes to that part, and keeps each part's counts per path (computed then: a temp table
    on DuckDB), so no step holds every user's path at once. DuckDB's ordered aggregate does not spill:
    at 100M touches, one pass ran out of memory under a 4 GB limit.
    """
    conv_sum = conv.group_by(["_bkey", "action", "path"]).aggregate(
        conversions=conv.weight.sum(),
        revenue=(conv.weight * ibis.coalesce(conv.amount, i64(0)).cast("float64")).sum())
    conv_sum = conv_sum.select("_bkey", "action", "path", "conversions", non_conversions=f64(0.0),
                               revenue=conv_sum.revenue)
    end = _window_end(events, config)
    if end is None:
        return conv_sum
    end_lit = ibis.literal(end, type="timestamp('UTC')")
    lookback = ibis.cases(*[(touches.t_class == cls, i64(config.seconds(config.lookback[cls])))
                            for cls in TOUCH_CLASSES])
    tt = touches.filter(touches.t_ts < end_lit, touches.t_ts >= end_lit - lookback.as_interval("s"))
    tt = tt.mutate(_bkey=ibis.coalesce(tt.t_brand_id, i64(-1)))
    cb = c.mutate(_bkey=ibis.coalesce(c.brand_id, i64(-1)))
    actions = cb.select("_bkey", "action").distinct()
    converters = cb.select(_cbkey=cb._bkey, _caction=cb.action, _cuser=cb.t_user_id).distinct()
    if user_parts > 1:  # what every part reads is computed once: the window's touches, narrow, by part
        started = time.perf_counter()
        actions, converters = materialise(actions, "actions"), materialise(converters, "converters")
        tt = materialise(tt.select("t_user_id", "_bkey", "t_ts", "t_event_id", "t_note_id",
                                   _part=(tt.t_user_id.hash() % user_parts).abs()), "window_touches")
        logger.debug("paths: converters and the window's touches in %.2f s", time.perf_counter() - started)
        non_sums = []
        for k in range(user_parts):
            started = time.perf_counter()
            non_sums.append(materialise(_non_converting(tt.filter(tt._part == k), actions, converters,
                                                        ordered=ordered), f"non_converting_{k}"))
            logger.debug("paths: non-converting paths of user part %d/%d in %.2f s", k + 1, user_parts,
                         time.perf_counter() - started)
        non_sum = union_all(non_sums)
    else:
        non_sum = _non_converting(tt, actions, converters, ordered=ordered)
    non_sum = non_sum.mutate(conversions=f64(0.0), revenue=f64(0.0))
    both = conv_sum.union(non_sum.select(*conv_sum.columns))
    return both.group_by(["_bkey", "action", "path"]).aggregate(
        conversions=both.conversions.sum(), non_conversions=both.non_conversions.sum(),
        revenue=both.revenue.sum())


def _non_converting(tt: ir.Table, actions: ir.Table, converters: ir.Table, *, ordered: bool) -> ir.Table:
    """``(_bkey, action, path, non_conversions)``: how many users of the touches ``tt`` (in the window,
    with ``_bkey``) have each path and no event of that brand and action (``converters``)."""
    if ordered:
        notes = tt.t_note_id.collect(order_by=[tt.t_ts, tt.t_event_id])
        user_paths = tt.group_by(["t_user_id", "_bkey"]).aggregate(path=notes.join(SEP))
    else:
        pos = ibis.row_number().over(group_by=[tt.t_user_id, tt._bkey], order_by=[tt.t_ts, tt.t_event_id])
        tt = tt.mutate(_pos=pos)
        user_paths = tt.group_by(["t_user_id", "_bkey"]).aggregate(path=_path(tt._pos, tt.t_note_id))
    nonconv = user_paths.join(actions, "_bkey")
    nonconv = nonconv.anti_join(converters, [nonconv._bkey == converters._cbkey,
                                             nonconv.action == converters._caction,
                                             nonconv.t_user_id == converters._cuser])
    return nonconv.group_by(["_bkey", "action", "path"]).aggregate(
        non_conversions=nonconv.t_user_id.count().cast("float64"))


def solve_shares(summary: pa.Table, models: list[str]) -> tuple[pa.Table, pa.Table]:
    """``(paths, shares)``: an id for every converting path ``(_sbkey, _saction, _spath, _pid)``, and
    ``(_pid, _snote, _smodel, _share)`` for every note of those paths, per model (solved for the
    whole summary at once by ``seedcart.attribute.pathsolve``; the rules are ``PATH_RULES``)."""
    unknown = [m for m in models if m not in PATH_RULES]
    if unknown:
        raise ValueError(f"not a path model: {unknown}")
    return solve_summary(summary, models)


#: Touches of the path summary solved at once (whole groups; a larger group is solved alone): the
#: solve's arrays take about 100-150 bytes a touch, and each group is solved on its own anyway.
CHUNK_TOUCHES = 10_000_000
#: Touches in the window per part of the users when the non-converting paths are built
#: (:func:`path_summary`'s ``user_parts``; the fast path counts them).
PART_TOUCHES = 20_000_000


def _touch_count(path: ir.StringValue) -> ir.IntegerValue:
    """The number of notes in a path string (0 for an empty or missing one)."""
    seps = path.length() - path.replace(SEP, "").length()
    return ibis.ifelse(path.isnull() | (path == ""), i64(0), seps + 1)


_GROUP_SCHEMA = pa.schema([("_bkey", pa.int64()), ("action", pa.string())])


def summary_chunks(summary: ir.Table, chunk_touches: int = CHUNK_TOUCHES) -> list[pa.Table]:
    """The groups ``(_bkey, action)`` of ``summary`` packed, in order, into chunks of at most
    ``chunk_touches`` touches (a group with more is a chunk of its own), each chunk a table of its
    groups ``(_bkey, action)``; an empty summary is one chunk of no group."""
    sizes = summary.group_by(["_bkey", "action"]).aggregate(_touches=_touch_count(summary.path).sum())
    rows = sizes.order_by(["_bkey", "action"]).to_pyarrow().to_pylist()
    plans: list[pa.Table] = []
    chunk: list[dict[str, Any]] = []
    held = 0
    for row in rows:
        touches = int(row["_touches"] or 0)
        if chunk and held + touches > chunk_touches:
            plans.append(pa.Table.from_pylist(chunk))
            chunk, held = [], 0
        chunk.append({"_bkey": row["_bkey"], "action": row["action"]})
        held += touches
    if chunk or not plans:
        plans.append(pa.Table.from_pylist(chunk, schema=_GROUP_SCHEMA))
    return plans


def _shift(table: pa.Table, offset: int) -> pa.Table:
    """``table`` with ``offset`` added to its ``_pid`` column."""
    if not offset:
        return table
    index = table.column_names.index("_pid")
    return table.set_column(index, "_pid", pc.add(table["_pid"], pa.scalar(offset, pa.int64())))


def solve_paths(c: ir.Table, events: ir.Table, touches: ir.Table, config: AttributionConfig,
                models: list[str], *, conv: ir.Table | None = None, store: PathStore | None = None,
                ordered: bool = False, user_parts: int = 1,
                chunk_touches: int | None = None) -> tuple[ir.Table, ir.Table]:
    """Solve the path models once for candidate rows ``c``: ``(per_event, shares)``.

    ``per_event`` gives each event's converting path id ``(_pp, _pe, _ppid)`` (partner, event id,
    path id); ``shares`` each note's share of one conversion on a path ``(_pid, _snote, _smodel,
    _share)``. Paths are joined back by this small integer id: the long path strings are matched once
    per event, not once per (event, touch). ``conv``, when given, is :func:`converting_paths` of ``c``
    computed by an engine's fast path, as are ``ordered`` and ``user_parts`` (:func:`path_summary`).
    With a ``store``, a full solve is saved to it, or (``store.reuse``) the shares come from its saved
    solve instead (``seedcart.attribute.pathstore``).

    The summary stays in the engine and is solved in chunks of whole groups of about ``chunk_touches``
    touches (:data:`CHUNK_TOUCHES` by default; :func:`summary_chunks`), each chunk's ids and shares
    copied into the engine before the next, so the process holds one chunk's arrays at a time.
    """
    started = time.perf_counter()
    conv = conv if conv is not None else materialise(converting_paths(c), "paths")
    converted = time.perf_counter()
    con = c.get_backend()
    if store is not None and store.reuse:
        path_ids, share_rows = store.shares_for(conv.to_pyarrow(), models)
        logger.debug("paths: %d from the stored solve in %.2f s", path_ids.num_rows, time.perf_counter() - converted)
        ids, shares = register_arrow(con, path_ids, "path_ids"), register_arrow(con, share_rows, "shares")
    else:
        summary = materialise(path_summary(c, conv, events, touches, config, ordered=ordered, user_parts=user_parts),
                              "summary")
        summarised = time.perf_counter()
        id_parts, share_parts = [], []
        summaries, solved_ids, solved_shares = [], [], []  # kept for the store only
        offset = 0
        plans = summary_chunks(summary, CHUNK_TOUCHES if chunk_touches is None else chunk_touches)
        for plan in plans:
            part = summary.semi_join(register_arrow(con, plan, "summary_chunk"), ["_bkey", "action"]).to_pyarrow()
            part_ids, part_shares = solve_shares(part, models)
            part_ids, part_shares = _shift(part_ids, offset), _shift(part_shares, offset)
            offset += part_ids.num_rows
            id_parts.append(copy_arrow(con, part_ids, "path_ids"))
            share_parts.append(copy_arrow(con, part_shares, "shares"))
            if store is not None:
                summaries.append(part)
                solved_ids.append(part_ids)
                solved_shares.append(part_shares)
        if store is not None:
            store.save(pa.concat_tables(summaries), pa.concat_tables(solved_ids), pa.concat_tables(solved_shares),
                       models)
        ids, shares = union_all(id_parts), union_all(share_parts)
        logger.debug("paths: converting %.2f s, summary %.2f s, %d chunks solved in %.2f s", converted - started,
                     summarised - converted, len(plans), time.perf_counter() - summarised)
    per_event = conv.join(ids, [conv._bkey == ids._sbkey, conv.action == ids._saction, conv.path == ids._spath])
    per_event = materialise(per_event.select(_pp=per_event.partner, _pe=per_event.event_id,
                                             _ppid=per_event._pid), "path_of_event")
    return per_event, shares


def path_shares(c: ir.Table, events: ir.Table, touches: ir.Table, config: AttributionConfig,
                models: list[str]) -> PathCredit:
    """Solve the path models once for candidate rows ``c`` (:func:`solve_paths`); returns the function
    that credits any subset of ``c`` (whole events) under them, ``{model: rows with credit}``.

    Within an event a note's share is split equally among that note's touches.
    """
    per_event, shares = solve_paths(c, events, touches, config, models)

    def credit_of(rows: ir.Table) -> dict[str, ir.Table]:
        j = rows.left_join(per_event, [rows.partner == per_event._pp, rows.event_id == per_event._pe])
        j = j.drop("_pp", "_pe")
        same_note = ibis.window(group_by=[j.partner, j.event_id, j.t_note_id])
        j = j.mutate(_k=j.t_event_id.count().over(same_note).cast("float64"))
        out = {}
        for model in models:
            s = shares.filter(shares._smodel == model)
            m = j.left_join(s, [j._ppid == s._pid, j.t_note_id == s._snote])
            m = m.mutate(credit=ibis.coalesce(m._share, f64(0.0)) / m._k)
            out[model] = m.drop("_ppid", "_pid", "_snote", "_smodel", "_share", "_k")
        return out

    return credit_of


def path_models(c: ir.Table, events: ir.Table, touches: ir.Table, config: AttributionConfig,
                models: list[str]) -> dict[str, ir.Table]:
    """Credit rows of the path models (``markov``, ``shapley``) for candidate rows ``c``."""
    return path_shares(c, events, touches, config, models)(c)
