"""The attribution pipeline: events and touches in, the ``credit`` table out (Ibis, any engine).

Refunds take back credit where their order was credited: each of the order's credit rows is
repeated for the refund with ``credit = -order credit x f`` (``f`` = refunded / ordered amount,
at most 1; 1 when either amount is unknown) and ``credited_amount = -order credit x refunded amount``.
A refund whose order was not credited credits nothing.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from seedcart.attribute import rules
from seedcart.attribute.backends import materialise, union_all
from seedcart.attribute.candidates import candidates, epoch_s, f64, prepare_events, prepare_touches
from seedcart.attribute.config import AttributionConfig
from seedcart.attribute.fast import fast_credit
from seedcart.attribute.paths import PATH_RULES, PathCredit, path_shares
from seedcart.attribute.pathstore import PathStore
from seedcart.lake.credit import pack
from seedcart.lake.schemas import CREDIT, conform
from seedcart.types import Model

#: Candidate columns carried into the credit table, by their credit-table name.
CREDIT_FROM = {
    "partner": "partner", "event_id": "event_id", "action": "action", "ts": "ts", "brand_id": "brand_id",
    "product_id": "product_id", "order_id": "order_id", "touch_event_id": "t_event_id", "touch_ts": "t_ts",
    "touch_kind": "t_kind", "note_id": "t_note_id", "campaign_id": "t_campaign_id",
    "placement": "t_placement", "user_id": "t_user_id", "match": "match",
}


def _credit_rows(c: ir.Table, model: str) -> ir.Table:
    cols = {name: c[src] for name, src in CREDIT_FROM.items()}
    return c.select(
        **cols, model=ibis.literal(model), credit=c.credit.cast("float64"), weight=c.weight,
        amount=c.amount, credited_amount=c.credit.cast("float64") * c.amount.cast("float64"),
        lag_s=c.lag_s)


def _refund_rows(credit: ir.Table, events: ir.Table) -> ir.Table:
    refunds = events.filter(events.action == "refund", events.order_id.notnull())
    refunds = refunds.select(_rp=refunds.partner, _re=refunds.event_id, _rts=refunds.ts, _ro=refunds.order_id,
                             _rw=refunds.weight, _ra=refunds.amount)
    orders = credit.filter(credit.action == "order")
    j = orders.join(refunds, [orders.partner == refunds._rp, orders.order_id == refunds._ro])
    refunded = j._ra.abs().cast("float64")
    frac = ibis.ifelse(j._ra.isnull() | j.amount.isnull() | (j.amount == 0), f64(1.0),
                       ibis.least(refunded / j.amount.abs().cast("float64"), f64(1.0)))
    lag = epoch_s(j._rts) - epoch_s(j.touch_ts)
    return j.select(
        "partner", event_id=j._re, action=ibis.literal("refund"), ts=j._rts, brand_id=j.brand_id,
        product_id=j.product_id, order_id=j.order_id, touch_event_id=j.touch_event_id, touch_ts=j.touch_ts,
        touch_kind=j.touch_kind, note_id=j.note_id, campaign_id=j.campaign_id, placement=j.placement,
        user_id=j.user_id, match=j.match, model=j.model, credit=-(j.credit * frac), weight=j._rw,
        amount=j._ra, credited_amount=-(j.credit * refunded), lag_s=lag)


def attribute_parts(touches: ir.Table, events: ir.Table, identity: ir.Table | None,
                    config: AttributionConfig | None = None,
                    models: tuple[Model, ...] | None = None, *, paths: PathStore | None = None) -> list[ir.Table]:
    """The credit table's long rows as disjoint parts whose union is :func:`attribute`: one per model,
    then refunds.

    An engine can run the parts one at a time, so only one model's windows hold memory. On DuckDB
    (unless ``config.fast_paths`` is off) the parts are the one view of ``seedcart.attribute.fast``,
    which computes every model in one narrow pass; there ``paths`` keeps the path models' solve
    between runs (``seedcart.attribute.pathstore``).
    """
    return _parts(touches, events, identity, config, models, paths=paths, stored=False)


def stored_parts(touches: ir.Table, events: ir.Table, identity: ir.Table | None,
                 config: AttributionConfig | None = None,
                 models: tuple[Model, ...] | None = None, *, paths: PathStore | None = None) -> list[ir.Table]:
    """The same credit as :func:`attribute_parts`, as the lake's files hold it: one row per credited
    (event, touch), a column per model (``seedcart.lake.credit``). The DuckDB fast path computes
    these rows directly, in parts of its candidate touches when they are many (write them one at a
    time: ``seedcart.attribute.fast.WRITE_TOUCHES``); other engines pack the long parts."""
    return _parts(touches, events, identity, config, models, paths=paths, stored=True)


def _parts(touches: ir.Table, events: ir.Table, identity: ir.Table | None, config: AttributionConfig | None,
           models: tuple[Model, ...] | None, *, paths: PathStore | None, stored: bool) -> list[ir.Table]:
    config = config or AttributionConfig()
    chosen = list(models or config.models)
    if config.fast_paths and events.get_backend().name == "duckdb":
        fast = fast_credit(touches, events, identity, config, chosen, paths=paths)
        if fast is None:
            return []
        return fast.stored_parts if stored else [fast.long]
    parts = _portable_parts(touches, events, identity, config, chosen)
    return [pack(union_all(parts))] if stored and parts else parts


def _portable_parts(touches: ir.Table, events: ir.Table, identity: ir.Table | None, config: AttributionConfig,
                    chosen: list[Model]) -> list[ir.Table]:
    """The long parts in the portable form: every model's rows from the candidates, then the refunds'."""
    ev = materialise(prepare_events(events, config), "events")
    tt = prepare_touches(touches)
    c = materialise(candidates(ev, tt, identity), "candidates")
    path_chosen: list[str] = [m for m in chosen if m in PATH_RULES]
    path_credit = path_shares(c, ev, tt, config, path_chosen) if path_chosen else None
    parts = _model_rows(c, chosen, config, path_credit)
    if not parts:
        return []
    # Refunds repeat their orders' credit rows: every model credits an event from that event's own
    # candidates (and the solved path shares), so only the refunded orders' candidates are re-credited.
    refunds = ev.filter(ev.action == "refund", ev.order_id.notnull())
    refunds = refunds.select(_rp=refunds.partner, _ro=refunds.order_id).distinct()
    refunded = c.filter(c.action == "order").semi_join(
        refunds, [c.partner == refunds._rp, c.order_id == refunds._ro])
    again = _model_rows(refunded, chosen, config, path_credit)
    return [*parts, _refund_rows(union_all(again), ev)]


def attribute(touches: ir.Table, events: ir.Table, identity: ir.Table | None,
              config: AttributionConfig | None = None, models: tuple[Model, ...] | None = None) -> ir.Table:
    """The credit table (schema ``seedcart.lake.schemas.CREDIT``) as one Ibis expression.

    ``touches`` are front-link events (lake ``touch`` columns; ``brand_id``, ``is_bot``...
    optional), ``events`` back-link events (lake ``backflow`` columns; most optional), ``identity``
    the (user_id, match_key) pairs, or None when ``events.match_key`` holds the platform user id.
    The prepared events and the candidate pairs are materialised once (a temp table on DuckDB,
    a cached DataFrame on Spark) and every model reads them; the markov and
    shapley models also run their path summary query first.
    """
    parts = attribute_parts(touches, events, identity, config, models)
    return union_all(parts) if parts else ibis.memtable(CREDIT.empty_table())


def _model_rows(c: ir.Table, chosen: list[Model], config: AttributionConfig,
                path_credit: PathCredit | None) -> list[ir.Table]:
    """The credit rows of the chosen models for candidate rows ``c`` (whole events), one table per model."""
    parts: list[ir.Table] = []
    for model in chosen:
        if model == "last_touch":
            parts.append(_credit_rows(rules.single_touch(c, last=True, precedence=config.precedence), model))
        elif model == "first_touch":
            parts.append(_credit_rows(rules.single_touch(c, last=False, precedence=config.precedence), model))
        elif model == "linear":
            parts.append(_credit_rows(rules.linear(c), model))
        elif model == "position_based":
            parts.append(_credit_rows(rules.position_based(c, config.position_weights), model))
        elif model == "time_decay":
            parts.append(_credit_rows(rules.time_decay(c, config), model))
    if path_credit is not None:
        for path_model, rows in path_credit(c).items():
            parts.append(_credit_rows(rows, path_model))
    return parts


def attribute_arrow(touches: ir.Table, events: ir.Table, identity: ir.Table | None,
                    config: AttributionConfig | None = None, models: tuple[Model, ...] | None = None) -> pa.Table:
    """:func:`attribute`, executed, as an Arrow table conformed to the credit schema, sorted."""
    expr = attribute(touches, events, identity, config, models)
    return conform("credit", expr.order_by(["model", "partner", "event_id", "touch_event_id"]).to_pyarrow(),
                   schema=CREDIT)
