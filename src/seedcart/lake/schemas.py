"""Arrow schemas of the lake tables: the contract between every stage.

Conventions:
- Every timestamp is ``timestamp[us, tz=UTC]`` (DESIGN §3 rule 1). Each table is partitioned by
  the UTC date of its ``ts`` column: ``<root>/<table>/date=YYYY-MM-DD/<file>.parquet``.
- Ids minted by the catalog (brand, product, campaign, link) are ``int64``; ids minted by
  the platform or a partner (user, note, event, click, order) are strings.
- Every weight and ratio is ``float64`` (DESIGN §3 rule 2). Money is integer minor units (fen).
- ``event_id`` is the sender's idempotency key (Segment ``messageId``; the partner's event id);
  it is unique per table (touch) or per partner (backflow).
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from seedcart.errors import SchemaError
from seedcart.types import MODELS, Table

TS = pa.timestamp("us", tz="UTC")

TOUCH: Final = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),  # messageId of the sender, or minted
        pa.field("ts", TS, nullable=False),  # when it happened on the device (sentAt-corrected)
        pa.field("received_at", TS, nullable=False),
        pa.field("user_id", pa.string()),  # platform user (Segment userId, else anonymousId)
        pa.field("kind", pa.string(), nullable=False),  # a FrontKind
        pa.field("note_id", pa.string()),  # null for in-platform searches
        pa.field("brand_id", pa.int64()),  # brand the note seeds, when the catalog knows it
        pa.field("campaign_id", pa.int64()),
        pa.field("placement", pa.string()),  # search / feed / video
        pa.field("surface", pa.string()),  # ad_link / blue_link for link clicks; app surface otherwise
        pa.field("link_id", pa.int64()),
        pa.field("click_id", pa.string()),  # minted by the redirect, link_click only
        pa.field("partner", pa.string()),  # link_click: the partner the link leads to
        pa.field("product_id", pa.int64()),  # link_click: the product the link leads to
        pa.field("query", pa.string()),  # search: what was typed
        pa.field("device", pa.string()),  # ios / android / web
        pa.field("dwell_ms", pa.int64()),  # read: image dwell
        pa.field("watch_ratio", pa.float64()),  # read: share of a video watched
        pa.field("position", pa.int64()),  # rank of the note in the feed or results
        pa.field("ip_hash", pa.string()),  # link_click: keyed hash of the client IP, never the IP
        pa.field("ua_class", pa.string()),  # link_click: ios / android / wechat / desktop / bot
        pa.field("is_bot", pa.bool_(), nullable=False),
        pa.field("is_duplicate", pa.bool_(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # redirect / api / bulk / sim
        pa.field("referrer", pa.string()),  # link_click: the Referer the redirect saw (truncated)
    ]
)

BACKFLOW: Final = pa.schema(
    [
        pa.field("partner", pa.string(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),  # unique per partner
        pa.field("action", pa.string(), nullable=False),  # a BackAction
        pa.field("ts", TS, nullable=False),
        pa.field("received_at", TS, nullable=False),
        pa.field("click_id", pa.string()),  # sc_cid returned by the partner
        pa.field("match_key", pa.string()),  # hex HMAC-SHA256 of a normalised identifier
        pa.field("product_id", pa.int64()),  # catalog product, when resolved
        pa.field("item_id", pa.string()),  # the partner's own item id
        pa.field("brand_id", pa.int64()),
        pa.field("category", pa.string()),
        pa.field("keyword", pa.string()),  # search on the partner
        pa.field("order_id", pa.string()),  # order and refund
        pa.field("amount", pa.int64()),  # order and refund, minor units
        pa.field("currency", pa.string()),
        pa.field("sample_rate", pa.float64(), nullable=False),  # declared; 1.0 when unsampled
        pa.field("source", pa.string(), nullable=False),  # api / file / sim
        pa.field("load_id", pa.string()),  # bulk file load that brought it, if any
    ]
)

IDENTITY: Final = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("match_key", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),  # when the pair was registered
        pa.field("source", pa.string(), nullable=False),
    ]
)

QUARANTINE: Final = pa.schema(
    [
        pa.field("ts", TS, nullable=False),  # when it was refused
        pa.field("target", pa.string(), nullable=False),  # the table the row was meant for
        pa.field("endpoint", pa.string(), nullable=False),  # e.g. POST /v1/backflow/jd
        pa.field("partner", pa.string()),
        pa.field("load_id", pa.string()),
        pa.field("row", pa.int64()),  # 0-based index in the batch or file
        pa.field("field", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),  # the row as received, for replay
    ]
)

CREDIT: Final = pa.schema(
    [
        pa.field("partner", pa.string(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),  # the back-link event's time
        pa.field("brand_id", pa.int64()),
        pa.field("product_id", pa.int64()),
        pa.field("order_id", pa.string()),
        pa.field("touch_event_id", pa.string(), nullable=False),
        pa.field("touch_ts", TS, nullable=False),
        pa.field("touch_kind", pa.string(), nullable=False),
        pa.field("note_id", pa.string()),
        pa.field("campaign_id", pa.int64()),
        pa.field("placement", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("match", pa.string(), nullable=False),  # click (click id) / identity (match key)
        pa.field("model", pa.string(), nullable=False),  # a Model
        pa.field("credit", pa.float64(), nullable=False),  # share of one unit; negative for refunds
        pa.field("weight", pa.float64(), nullable=False),  # 1 / sample_rate
        pa.field("amount", pa.int64()),  # the event's amount, minor units
        pa.field("credited_amount", pa.float64()),  # credit x amount (x weight not applied)
        pa.field("lag_s", pa.int64(), nullable=False),  # event ts - touch ts, seconds
    ]
)

#: The credit columns a model does not decide: the event's and the touch's, and how they matched.
CREDIT_PAIR: Final = [f for f in CREDIT if f.name not in ("model", "credit", "credited_amount")]


def credit_column(model: str) -> str:
    """The stored credit table's column of ``model``'s credit."""
    return f"credit_{model}"


def credited_amount_column(model: str) -> str:
    """The stored credit table's column of ``model``'s credited amount."""
    return f"credited_amount_{model}"


#: The credit table as its files hold it: one row per credited (event, touch), and per model its
#: credit and credited amount (null: that model does not credit the touch). Readers see the long
#: rows of ``CREDIT`` (``seedcart.lake.credit``).
CREDIT_STORED: Final = pa.schema(
    [
        *(pa.field(f.name, f.type, nullable=f.nullable) for f in CREDIT_PAIR),
        *(field for model in MODELS for field in (pa.field(credit_column(model), pa.float64()),
                                                  pa.field(credited_amount_column(model), pa.float64()))),
    ]
)

#: The codec of credit files: they are derived and rewritten by every full pass, so writing speed
#: counts more than size (LZ4_RAW wrote the stored rows ~18 % faster than zstd, measured at 1M touches).
CREDIT_COMPRESSION: Final = "lz4_raw"

TRUTH: Final = pa.schema(
    [
        pa.field("partner", pa.string(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("note_id", pa.string()),  # the note that caused it; null for organic baseline
        pa.field("touch_event_id", pa.string()),  # the touch that caused it, when one did
        pa.field("amount", pa.int64()),
    ]
)

SCHEMAS: Final[dict[str, pa.Schema]] = {
    "touch": TOUCH,
    "backflow": BACKFLOW,
    "identity": IDENTITY,
    "quarantine": QUARANTINE,
    "credit": CREDIT_STORED,
    "truth": TRUTH,
}

#: Column that gives each table's UTC date partition.
PARTITION_COLUMN: Final[dict[str, str]] = dict.fromkeys(SCHEMAS, "ts")


def schema_of(table: Table | str) -> pa.Schema:
    """The Arrow schema of a lake table, or SchemaError naming the unknown table."""
    try:
        return SCHEMAS[table]
    except KeyError:
        raise SchemaError(f"unknown lake table {table!r}; known: {sorted(SCHEMAS)}", table=table) from None


def conform(table: Table | str, batch: pa.Table | pa.RecordBatch, schema: pa.Schema | None = None) -> pa.Table:
    """Cast ``batch`` to the table's schema (or ``schema``, e.g. the long ``CREDIT`` rows readers see):
    columns in order, missing nullable columns as nulls.

    Raises SchemaError naming the column when a required column is missing or cannot be cast.
    """
    schema = schema if schema is not None else schema_of(table)
    data = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    columns = []
    for field in schema:
        if field.name in data.column_names:
            column = data.column(field.name)
            if column.type != field.type:
                try:
                    column = column.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SchemaError(
                        f"{table}.{field.name}: cannot cast {column.type} to {field.type}: {exc}",
                        table=table, field=field.name,
                    ) from exc
            if not field.nullable and column.null_count:
                raise SchemaError(
                    f"{table}.{field.name}: {column.null_count} null value(s) in a required column",
                    table=table, field=field.name,
                )
            columns.append(column)
        elif field.nullable:
            columns.append(pa.nulls(data.num_rows, field.type))
        else:
            raise SchemaError(f"{table}: required column {field.name!r} is missing", table=table,
                              field=field.name)
    return pa.Table.from_arrays(columns, schema=schema)
