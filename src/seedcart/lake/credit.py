"""The credit table's two shapes: long rows for readers, one row per (event, touch) on disk.

Readers see the credit table as DESIGN §5 defines it: one row per credited (event, touch, model),
the columns of :data:`~seedcart.lake.schemas.CREDIT`. Its files hold each credited (event, touch)
pair once, with the event's and the touch's columns (:data:`~seedcart.lake.schemas.CREDIT_PAIR`)
and, per model, ``credit_<model>`` and ``credited_amount_<model>`` (null: the model does not
credit that touch): :data:`~seedcart.lake.schemas.CREDIT_STORED`. Seven models repeating the
eighteen pair columns made writing the long rows most of a full attribution pass, and made an
incremental pass rewrite seven copies of every pair of a day it touched.

- :func:`unpack_sql` and :func:`unpack`: long rows from stored ones (DuckDB SQL; any Ibis backend).
- :func:`pack` and :func:`pack_arrow`: stored rows from long ones (any Ibis backend; Arrow).

Both directions are exact: a stored value is the long row's value, not a recomputation.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from seedcart.lake.schemas import CREDIT, CREDIT_PAIR, CREDIT_STORED, conform, credit_column, credited_amount_column
from seedcart.types import MODELS


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def unpack_sql(source: str) -> str:
    """DuckDB SQL of the long credit rows (``CREDIT``'s columns, in order) of ``source``, a relation of
    stored rows (e.g. ``read_parquet([...], union_by_name = true)``), read once."""
    arms = ", ".join(f"({_quote(credit_column(m))}, {_quote(credited_amount_column(m))}) AS {_quote(m)}"
                     for m in MODELS)
    columns = ", ".join(_quote(f.name) for f in CREDIT)
    return (f"SELECT {columns} FROM (SELECT * FROM {source}) AS _stored UNPIVOT INCLUDE NULLS "
            f"((credit, credited_amount) FOR model IN ({arms})) WHERE credit IS NOT NULL")


def unpack(stored: ir.Table) -> ir.Table:
    """The long credit rows of a table of stored rows, on any Ibis backend (one branch per model)."""
    arms = []
    for model in MODELS:
        credit = stored[credit_column(model)]
        values = {"model": ibis.literal(model), "credit": credit,
                  "credited_amount": stored[credited_amount_column(model)]}
        arms.append(stored.filter(credit.notnull()).select(
            *[values[f.name].name(f.name) if f.name in values else stored[f.name] for f in CREDIT]))
    return arms[0].union(*arms[1:], distinct=False)


def pack(long: ir.Table) -> ir.Table:
    """The stored rows of a table of long credit rows, on any Ibis backend: one per (event, touch) pair,
    each model's credit and credited amount in its own columns."""
    pair = [f.name for f in CREDIT_PAIR]
    values = {}
    for model in MODELS:
        mine = long.model == model
        values[credit_column(model)] = long.credit.max(where=mine)
        values[credited_amount_column(model)] = long.credited_amount.max(where=mine)
    packed = long.group_by(pair).aggregate(**values)
    return packed.select(*[f.name for f in CREDIT_STORED])


def pack_arrow(long: pa.Table) -> pa.Table:
    """:func:`pack` of an Arrow table of long credit rows, conformed to the stored schema."""
    if not long.num_rows:
        return CREDIT_STORED.empty_table()
    rows = conform("credit", long, schema=CREDIT)
    return conform("credit", pack(ibis.memtable(rows)).to_pyarrow())
