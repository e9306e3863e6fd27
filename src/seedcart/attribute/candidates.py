"""Which touches are candidates for which back-link events (DESIGN §5, issue 5 §1), as Ibis expressions.

Touch columns are renamed with a ``t_`` prefix so that events and touches join without clashes.
A candidate row is one (event, touch) pair with ``match`` = ``click`` (the event's click id) or
``identity`` (the event's match key, through the identity table, on notes of the event's brand).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from seedcart.attribute.config import AttributionConfig
from seedcart.types import TOUCH_CLASS_OF, TOUCH_CLASSES

#: Precedence rank of each touch class: a click beats an engagement beats a view.
CLASS_RANK = {cls: rank for rank, cls in enumerate(TOUCH_CLASSES)}

EVENT_COLUMNS: dict[str, str] = {
    "partner": "string", "event_id": "string", "action": "string", "ts": "timestamp('UTC')",
    "received_at": "timestamp('UTC')", "click_id": "string", "match_key": "string", "brand_id": "int64",
    "product_id": "int64", "category": "string", "order_id": "string", "amount": "int64",
    "sample_rate": "float64",
}
TOUCH_COLUMNS: dict[str, str] = {
    "event_id": "string", "ts": "timestamp('UTC')", "user_id": "string", "kind": "string",
    "note_id": "string", "brand_id": "int64", "campaign_id": "int64", "placement": "string",
    "click_id": "string", "is_bot": "boolean", "is_duplicate": "boolean",
}


def f64(value: float) -> ir.FloatingScalar:
    """A float64 literal (Spark would read a bare 1.0 as DECIMAL; DESIGN §3 rule 2)."""
    return ibis.literal(float(value), type="float64")


def i64(value: int) -> ir.IntegerScalar:
    """An int64 literal."""
    return ibis.literal(int(value), type="int64")


def epoch_s(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since the epoch, floored, the same on every engine (DuckDB's epoch is fractional)."""
    return ts.epoch_seconds().cast("float64").floor().cast("int64")


def _column(table: ir.Table, name: str, dtype: str, default: Any = None) -> ir.Value:
    if name in table.columns:
        return table[name].cast(dtype)
    return ibis.literal(default, type=dtype) if default is not None else ibis.null(dtype)


def _first_per(table: ir.Table, keys: list[str], order: list[Any]) -> ir.Table:
    """Keep the first row of each ``keys`` group in ``order`` (0-based row_number, DESIGN §3 rule 3)."""
    rank = ibis.row_number().over(group_by=[table[k] for k in keys], order_by=order)
    return table.mutate(_rn=rank).filter(lambda t: t._rn == 0).drop("_rn")


def lookback_seconds(events: ir.Table, cls: str, config: AttributionConfig) -> ir.IntegerValue:
    """Per event, the lookback of a touch class in seconds: partner override, else category T+x, else default."""
    branches: list[tuple[Any, Any]] = []
    for partner, overrides in sorted(config.partner_lookback.items()):
        if cls in overrides:
            branches.append((events.partner == partner, i64(config.seconds(overrides[cls]))))
    for category, window in sorted(config.category_lookback.items()):
        branches.append((events.category == category, i64(config.seconds(window))))
    default = i64(config.seconds(config.lookback[cls]))  # type: ignore[index]
    return ibis.cases(*branches, else_=default) if branches else default


def prepare_events(events: ir.Table, config: AttributionConfig) -> ir.Table:
    """Back-link events, typed, deduplicated, with their weight and per-class lookbacks.

    Duplicates count once: the first received of each ``(partner, event_id)``, then of each
    ``(partner, order_id, action)`` for orders and refunds.
    """
    cols = {name: _column(events, name, dtype) for name, dtype in EVENT_COLUMNS.items()}
    cols["partner"] = ibis.coalesce(cols["partner"], ibis.literal("user"))
    cols["received_at"] = ibis.coalesce(cols["received_at"], cols["ts"])
    cols["sample_rate"] = ibis.coalesce(cols["sample_rate"], f64(1.0))
    ev = events.select(**cols)
    order = [ev.received_at, ev.ts, ev.event_id]
    ev = _first_per(ev, ["partner", "event_id"], order)
    is_order = ev.action.isin(["order", "refund"]) & ev.order_id.notnull()
    ev = ev.mutate(_dedupe=ibis.ifelse(is_order, ibis.literal("o:").concat(ev.order_id),
                                       ibis.literal("e:").concat(ev.event_id)))
    ev = _first_per(ev, ["partner", "action", "_dedupe"], [ev.received_at, ev.ts, ev.event_id]).drop("_dedupe")
    if config.actions is not None:
        ev = ev.filter(ev.action.isin([*config.actions, "refund"]))
    return ev.mutate(
        weight=f64(1.0) / ev.sample_rate,
        **{f"lb_{cls}": lookback_seconds(ev, cls, config) for cls in TOUCH_CLASSES},
    )


def prepare_touches(touches: ir.Table) -> ir.Table:
    """Touches that may be credited (a class, a note, not a bot, not a duplicate), ``t_``-prefixed."""
    cols = {f"t_{name}": _column(touches, name, dtype) for name, dtype in TOUCH_COLUMNS.items()}
    cols["t_is_bot"] = ibis.coalesce(cols["t_is_bot"], ibis.literal(False))
    cols["t_is_duplicate"] = ibis.coalesce(cols["t_is_duplicate"], ibis.literal(False))
    t = touches.select(**cols)
    t = t.filter(t.t_kind.isin(list(TOUCH_CLASS_OF)), t.t_note_id.notnull(), ~t.t_is_bot, ~t.t_is_duplicate)
    klass = ibis.cases(*[(t.t_kind == kind, ibis.literal(cls)) for kind, cls in TOUCH_CLASS_OF.items()])
    rank = ibis.cases(*[(t.t_kind == kind, i64(CLASS_RANK[cls])) for kind, cls in TOUCH_CLASS_OF.items()])
    return t.mutate(t_class=klass, t_rank=rank).drop("t_is_bot", "t_is_duplicate")


def _lookback_of_touch(j: ir.Table) -> ir.IntegerValue:
    return ibis.cases(*[(j.t_class == cls, j[f"lb_{cls}"]) for cls in TOUCH_CLASSES])


def _in_window(j: ir.Table, lookback: ir.IntegerValue) -> ir.BooleanValue:
    """Strictly before the event, and no further back than the lookback (inclusive)."""
    return (j.t_ts < j.ts) & (j.t_ts >= j.ts - lookback.as_interval("s"))


def click_matches(events: ir.Table, touches: ir.Table) -> ir.Table:
    """Events whose click id is a recorded, counted link click within the click lookback: one row each."""
    ev = events.filter(events.action != "refund", events.click_id.notnull())
    clicks = touches.filter(touches.t_kind == "link_click", touches.t_click_id.notnull())
    j = ev.join(clicks, ev.click_id == clicks.t_click_id)
    j = j.filter(_in_window(j, j.lb_click))
    j = _first_per(j, ["partner", "event_id"], [j.t_ts.desc(), j.t_event_id.desc()])
    return j.mutate(match=ibis.literal("click"))


def identity_matches(events: ir.Table, touches: ir.Table, identity: ir.Table | None,
                     clicked: ir.Table) -> ir.Table:
    """Events without a click match: their users' touches on notes of the event's brand in the lookbacks.

    Without an identity table the event's ``match_key`` is taken to be the platform ``user_id``.
    An event without a brand takes touches on any note.
    """
    ev = events.filter(events.action != "refund")
    done = clicked.select("partner", "event_id")
    ev = ev.anti_join(done, ["partner", "event_id"])
    if identity is None:
        users = ev.mutate(_user=ev.match_key)
    else:
        ids = identity.select(_key=identity.match_key.cast("string"), _user=identity.user_id.cast("string")).distinct()
        users = ev.join(ids, ev.match_key == ids._key).drop("_key")
    # Two equi-joins rather than one with an OR in its condition (which engines run as a filtered
    # user-only join): events with a brand on (user, brand), events without one on the user alone.
    branded = users.filter(users.brand_id.notnull())
    j = branded.join(touches, [branded._user == touches.t_user_id, branded.brand_id == touches.t_brand_id])
    unbranded = users.filter(users.brand_id.isnull())
    k = unbranded.join(touches, unbranded._user == touches.t_user_id)
    j = j.drop("_user").union(k.drop("_user").select(*j.drop("_user").columns))
    j = j.filter(_in_window(j, _lookback_of_touch(j)))
    return j.mutate(match=ibis.literal("identity"))


def candidates(events: ir.Table, touches: ir.Table, identity: ir.Table | None) -> ir.Table:
    """Every candidate (event, touch) pair of prepared events and touches, with ``lag_s``."""
    clicked = click_matches(events, touches)
    matched = identity_matches(events, touches, identity, clicked)
    both = clicked.union(matched.select(*clicked.columns))
    lag = epoch_s(both.ts) - epoch_s(both.t_ts)
    return both.mutate(lag_s=lag)
