"""Ground truth: what each note really caused, computed from the ``truth`` lake table.

A truth row names, for every back-link event that happened, the note (and touch) that caused it,
or null for the organic baseline. The truth is the world's, not the partner's: it also has the
events a partner did not deliver (sampled out, missing days), which attribution must estimate.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

INCREMENTAL = pa.schema([
    pa.field("note_id", pa.string(), nullable=False),
    pa.field("orders", pa.int64(), nullable=False),
    pa.field("refunds", pa.int64(), nullable=False),
    pa.field("gmv", pa.int64(), nullable=False),  # order amounts, minor units
    pa.field("refunded", pa.int64(), nullable=False),
    pa.field("net_gmv", pa.int64(), nullable=False),  # gmv - refunded
    pa.field("visits", pa.int64(), nullable=False),
])


def true_incremental(truth: pa.Table) -> pa.Table:
    """Per note: the orders, refunds and GMV it truly caused (the incremental conversions).

    Organic baseline rows (null note) are left out: no note caused them. Sorted by note id.
    """
    caused = truth.filter(pc.is_valid(truth.column("note_id")))
    action = caused.column("action")
    amount = pc.fill_null(caused.column("amount"), 0)
    is_order = pc.equal(action, "order")
    is_refund = pc.equal(action, "refund")
    zero = pa.scalar(0, pa.int64())
    table = pa.table({
        "note_id": caused.column("note_id"),
        "orders": pc.cast(is_order, pa.int64()),
        "refunds": pc.cast(is_refund, pa.int64()),
        "gmv": pc.if_else(is_order, amount, zero),
        "refunded": pc.if_else(is_refund, amount, zero),
        "visits": pc.cast(pc.equal(action, "visit"), pa.int64()),
    })
    grouped = table.group_by("note_id").aggregate([
        ("orders", "sum"), ("refunds", "sum"), ("gmv", "sum"), ("refunded", "sum"), ("visits", "sum"),
    ])
    gmv = grouped.column("gmv_sum")
    refunded = grouped.column("refunded_sum")
    out = pa.table({
        "note_id": grouped.column("note_id"), "orders": grouped.column("orders_sum"),
        "refunds": grouped.column("refunds_sum"), "gmv": gmv, "refunded": refunded,
        "net_gmv": pc.subtract(gmv, refunded), "visits": grouped.column("visits_sum"),
    })
    return out.cast(INCREMENTAL).sort_by("note_id")


def baseline_share(truth: pa.Table, action: str = "order") -> float:
    """The share of ``action`` events that no note caused (the organic baseline)."""
    rows = truth.filter(pc.equal(truth.column("action"), action))
    if rows.num_rows == 0:
        return 0.0
    nulls = int(rows.column("note_id").null_count)
    return nulls / int(rows.num_rows)
