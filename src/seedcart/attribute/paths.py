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

from seedcart.attribute.backends import materialise
from seedcart.attribute.candidates import f64, i64
from seedcart.attribute.config import AttributionConfig
from seedcart.attribute.markov import markov_shares
from seedcart.attribute.pathsolve import SEP, solve_summary
from seedcart.attribute.pathstore import PathStore
from seedcart.attribute.shapley import ShareRule, shapley_shares
from seedcart.lake.engines import register_arrow
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
                 config: AttributionConfig, *, ordered: bool = False) -> ir.Table:
    """``(_bkey, action, path, conversions, non_conversions, revenue)`` for every path seen.

    ``conv`` is :func:`converting_paths` of the candidates ``c``. ``ordered`` builds the users' paths
    with one order-sensitive aggregate instead of a window and a sort of structs: the same strings, for
    an engine that has such aggregates (DuckDB; Spark has not). The fast path asks for it (the 10M
    summary: 3.95-4.52 s against 4.57-4.82 s), and ``tests/attribute/test_fast.py`` proves it equal.
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
    if ordered:
        notes = tt.t_note_id.collect(order_by=[tt.t_ts, tt.t_event_id])
        user_paths = tt.group_by(["t_user_id", "_bkey"]).aggregate(path=notes.join(SEP))
    else:
        pos = ibis.row_number().over(group_by=[tt.t_user_id, tt._bkey], order_by=[tt.t_ts, tt.t_event_id])
        tt = tt.mutate(_pos=pos)
        user_paths = tt.group_by(["t_user_id", "_bkey"]).aggregate(path=_path(tt._pos, tt.t_note_id))
    cb = c.mutate(_bkey=ibis.coalesce(c.brand_id, i64(-1)))
    actions = cb.select("_bkey", "action").distinct()
    converters = cb.select(_cbkey=cb._bkey, _caction=cb.action, _cuser=cb.t_user_id).distinct()
    nonconv = user_paths.join(actions, "_bkey")
    nonconv = nonconv.anti_join(converters, [nonconv._bkey == converters._cbkey,
                                             nonconv.action == converters._caction,
                                             nonconv.t_user_id == converters._cuser])
    non_sum = nonconv.group_by(["_bkey", "action", "path"]).aggregate(
        non_conversions=nonconv.t_user_id.count().cast("float64"))
    non_sum = non_sum.mutate(conversions=f64(0.0), revenue=f64(0.0))
    both = conv_sum.union(non_sum.select(*conv_sum.columns))
    return both.group_by(["_bkey", "action", "path"]).aggregate(
        conversions=both.conversions.sum(), non_conversions=both.non_conversions.sum(),
        revenue=both.revenue.sum())


def solve_shares(summary: pa.Table, models: list[str]) -> tuple[pa.Table, pa.Table]:
    """``(paths, shares)``: an id for every converting path ``(_sbkey, _saction, _spath, _pid)``, and
    ``(_pid, _snote, _smodel, _share)`` for every note of those paths, per model (solved for the
    whole summary at once by ``seedcart.attribute.pathsolve``; the rules are ``PATH_RULES``)."""
    unknown = [m for m in models if m not in PATH_RULES]
    if unknown:
        raise ValueError(f"not a path model: {unknown}")
    return solve_summary(summary, models)


def solve_paths(c: ir.Table, events: ir.Table, touches: ir.Table, config: AttributionConfig,
                models: list[str], *, conv: ir.Table | None = None, store: PathStore | None = None,
                ordered: bool = False) -> tuple[ir.Table, ir.Table]:
    """Solve the path models once for candidate rows ``c``: ``(per_event, shares)``.

    ``per_event`` gives each event's converting path id ``(_pp, _pe, _ppid)`` (partner, event id,
    path id); ``shares`` each note's share of one conversion on a path ``(_pid, _snote, _smodel,
    _share)``. Paths are joined back by this small integer id: the long path strings are matched once
    per event, not once per (event, touch). ``conv``, when given, is :func:`converting_paths` of ``c``
    computed by an engine's fast path, as is ``ordered`` (:func:`path_summary`). With a ``store``, a full
    solve is saved to it, or (``store.reuse``) the shares come from its saved solve instead
    (``seedcart.attribute.pathstore``).
    """
    started = time.perf_counter()
    conv = conv if conv is not None else materialise(converting_paths(c), "paths")
    converted = time.perf_counter()
    if store is not None and store.reuse:
        path_ids, share_rows = store.shares_for(conv.to_pyarrow(), models)
        logger.debug("paths: %d from the stored solve in %.2f s", path_ids.num_rows, time.perf_counter() - converted)
    else:
        summary = path_summary(c, conv, events, touches, config, ordered=ordered).to_pyarrow()
        summarised = time.perf_counter()
        path_ids, share_rows = solve_shares(summary, models)
        if store is not None:
            store.save(summary, path_ids, share_rows, models)
        logger.debug("paths: converting %.2f s, summary of %d paths %.2f s, solved in %.2f s", converted - started,
                     summary.num_rows, summarised - converted, time.perf_counter() - summarised)
    con = c.get_backend()
    ids, shares = register_arrow(con, path_ids, "path_ids"), register_arrow(con, share_rows, "shares")
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
