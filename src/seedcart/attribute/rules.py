"""The rule-based models as Ibis window expressions over candidate rows.

Each function takes candidate rows (one per event and touch) and returns the rows it credits with
a ``credit`` column (float64, summing to 1 per event). Order within an event is ``(t_ts, t_event_id)``
so that equal timestamps give the same answer on every engine.
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir

from seedcart.attribute.candidates import f64
from seedcart.attribute.config import AttributionConfig

EVENT_KEY = ("partner", "event_id")


def _event(c: ir.Table) -> list[ir.Value]:
    return [c[k] for k in EVENT_KEY]


def single_touch(c: ir.Table, *, last: bool, precedence: bool) -> ir.Table:
    """last_touch / first_touch: the latest (earliest) touch, of the best class when ``precedence``."""
    order: list[ir.Value] = [c.t_rank.asc()] if precedence else []
    if last:
        order += [c.t_ts.desc(), c.t_event_id.desc()]
    else:
        order += [c.t_ts.asc(), c.t_event_id.asc()]
    rank = ibis.row_number().over(group_by=_event(c), order_by=order)
    chosen = c.mutate(_rn=rank)
    return chosen.filter(chosen._rn == 0).drop("_rn").mutate(credit=f64(1.0))


def _positioned(c: ir.Table) -> ir.Table:
    window = ibis.window(group_by=_event(c), order_by=[c.t_ts.asc(), c.t_event_id.asc()])
    whole = ibis.window(group_by=_event(c))
    return c.mutate(_pos=ibis.row_number().over(window), _n=c.t_event_id.count().over(whole))


def linear(c: ir.Table) -> ir.Table:
    """Every candidate the same share."""
    p = _positioned(c)
    return p.mutate(credit=f64(1.0) / p._n.cast("float64")).drop("_pos", "_n")


def position_based(c: ir.Table, weights: tuple[float, float, float]) -> ir.Table:
    """First and last touches ``weights[0]`` and ``weights[2]``, the middle ones share ``weights[1]``.

    One touch takes everything; two split first:last in proportion (50/50 at the defaults).
    """
    first, middle, last = weights
    p = _positioned(c)
    n = p._n.cast("float64")
    two = ibis.ifelse(p._pos == 0, f64(first / (first + last)), f64(last / (first + last)))
    many = ibis.cases((p._pos == 0, f64(first)), (p._pos == p._n - 1, f64(last)),
                      else_=f64(middle) / (n - f64(2.0)))
    credit = ibis.cases((p._n == 1, f64(1.0)), (p._n == 2, two), else_=many)
    return p.mutate(credit=credit).drop("_pos", "_n")


def time_decay(c: ir.Table, config: AttributionConfig) -> ir.Table:
    """Weights ``2 ** (-lag / half_life)``, normalised within the event."""
    rate = math.log(2.0) / config.half_life.total_seconds()
    w = c.mutate(_w=(f64(-rate) * c.lag_s.cast("float64")).exp())
    total = w._w.sum().over(ibis.window(group_by=_event(w)))
    return w.mutate(credit=w._w / total).drop("_w")
