"""Attribution of users' own data: touches and conversions as CSV or Parquet files, credit out.

Touches: ``user_id, ts, note_id, kind, click_id`` (optional ``brand``, ``event_id``).
Conversions: ``event_id, user_id`` or ``match_key``, ``ts, action, amount, click_id`` (optional
``brand``, ``sample_rate``, ``partner``, ``order_id``). ``ts`` is ISO 8601 or epoch milliseconds,
UTC. Without brand columns every touch of the user is a candidate.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from seedcart.attribute.config import AttributionConfig
from seedcart.errors import ValidationError
from seedcart.lake.engines import connect, register_arrow
from seedcart.types import Engine, Model

logger = logging.getLogger(__name__)

TS = pa.timestamp("us", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Columns of the output file, in this order, then the rest of the credit table.
OUTPUT_FIRST = ["event_id", "note_id", "model", "credit", "amount", "lag_s"]


def read_frame(path: str | Path, *, field: str) -> pa.Table:
    """A CSV or Parquet file as an Arrow table (by extension), every column read as string for CSV."""
    p = Path(path)
    if not p.exists():
        raise ValidationError(f"{field}: no such file {str(p)!r}", field=field)
    if p.suffix.lower() in (".parquet", ".pq"):
        return pq.read_table(p)
    opts = pacsv.ConvertOptions(strings_can_be_null=True, auto_dict_encode=False,
                                column_types={"ts": pa.string()})
    return pacsv.read_csv(p, convert_options=opts)


def parse_ts(column: pa.ChunkedArray | pa.Array, *, field: str) -> pa.Array:
    """Timestamps from ISO 8601 strings, epoch milliseconds, or timestamps, as UTC microseconds."""
    if pa.types.is_timestamp(column.type):
        return pc.cast(column, TS) if column.type.tz else pc.assume_timezone(column, "UTC").cast(TS)
    if pa.types.is_integer(column.type):
        return pc.multiply(pc.cast(column, pa.int64()), 1000).cast(TS)
    values = pc.cast(column, pa.string())
    if values.null_count:
        raise ValidationError(f"{field}: {values.null_count} empty timestamp(s)", field=field)
    out: list[datetime] = []
    for row, text in enumerate(values.to_pylist()):
        try:
            if text.strip().lstrip("-").isdigit():
                out.append(EPOCH + timedelta(milliseconds=int(text)))
                continue
            parsed = datetime.fromisoformat(text.strip())
        except ValueError as exc:
            raise ValidationError(f"{field}: not ISO 8601 or epoch ms: {text!r}", field=field, row=row) from exc
        out.append(parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC))
    return pa.array(out, type=TS)


def _require(table: pa.Table, columns: list[str], field: str) -> None:
    for name in columns:
        if name not in table.column_names:
            raise ValidationError(f"{field}: missing column {name!r}", field=f"{field}.{name}")


def _with(table: pa.Table, name: str, values: Any) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def normalise_inputs(touches: pa.Table, conversions: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Typed tables in lake-like columns: brands to int ids, timestamps to UTC, ids to strings."""
    _require(touches, ["user_id", "ts", "note_id", "kind"], "touches")
    _require(conversions, ["event_id", "ts", "action"], "conversions")
    if "user_id" not in conversions.column_names and "match_key" not in conversions.column_names:
        raise ValidationError("conversions: need a user_id or a match_key column", field="conversions.user_id")
    t = touches
    for name in ("user_id", "note_id", "kind", "click_id", "event_id"):
        if name in t.column_names:
            t = _with(t, name, pc.cast(t[name], pa.string()))
    t = _with(t, "ts", parse_ts(t["ts"], field="touches.ts"))
    if "event_id" not in t.column_names:
        t = _with(t, "event_id", pa.array([f"t{i}" for i in range(t.num_rows)], pa.string()))
    c = conversions
    key = "match_key" if "match_key" in c.column_names else "user_id"
    c = _with(c, "match_key", pc.cast(c[key], pa.string()))
    for name in ("event_id", "action", "click_id", "partner", "order_id"):
        if name in c.column_names:
            c = _with(c, name, pc.cast(c[name], pa.string()))
    c = _with(c, "ts", parse_ts(c["ts"], field="conversions.ts"))
    if "amount" in c.column_names:
        c = _with(c, "amount", pc.cast(c["amount"], pa.int64()))
    if "sample_rate" in c.column_names:
        c = _with(c, "sample_rate", pc.cast(c["sample_rate"], pa.float64()))
    if "brand" in t.column_names and "brand" in c.column_names:
        names = pc.unique(pa.chunked_array([pc.cast(t["brand"], pa.string()),
                                            pc.cast(c["brand"], pa.string())]))
        t = _with(t, "brand_id", pc.cast(pc.index_in(pc.cast(t["brand"], pa.string()), names), pa.int64()))
        c = _with(c, "brand_id", pc.cast(pc.index_in(pc.cast(c["brand"], pa.string()), names), pa.int64()))
    return t, c


def attribute_tables(touches: pa.Table, conversions: pa.Table, *, config: AttributionConfig | None = None,
                     models: tuple[Model, ...] | None = None, engine: Engine = "duckdb") -> pa.Table:
    """Credit of users' own touches and conversions (Arrow in, Arrow out), one row per (event, touch)."""
    from seedcart.attribute.pipeline import attribute_arrow

    t, c = normalise_inputs(touches, conversions)
    con = connect(engine)
    ti, ci = register_arrow(con, t, "touches"), register_arrow(con, c, "conversions")
    out = attribute_arrow(ti, ci, None, config, models)
    rest = [n for n in out.column_names if n not in OUTPUT_FIRST]
    return out.select([*OUTPUT_FIRST, *rest])


def attribute_files(touches: str | Path, conversions: str | Path, out: str | Path, *,
                    config: AttributionConfig | None = None, models: tuple[Model, ...] | None = None,
                    engine: Engine = "duckdb") -> dict[str, Any]:
    """Read the two files, attribute, write ``out`` (CSV or Parquet by extension); returns a summary."""
    table = attribute_tables(read_frame(touches, field="touches"), read_frame(conversions, field="conversions"),
                             config=config, models=models, engine=engine)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, target)
    else:
        pacsv.write_csv(table, target)
    events = pc.count_distinct(table["event_id"]).as_py() if table.num_rows else 0
    logger.info("wrote %d credit rows for %d events to %s", table.num_rows, events, target)
    return {"out": str(target), "rows": table.num_rows, "events": events,
            "models": sorted(set(table["model"].to_pylist()))}


def attribute_files_cli(touches: str, conversions: str, out: str, *, models: list[str] | None = None,
                        lookback_click: str = "15d", lookback_engagement: str = "15d", lookback_view: str = "15d",
                        half_life: str = "7d", engine: str = "duckdb") -> dict[str, Any]:
    """:func:`attribute_files` from command-line strings (durations like ``15d``, ``24h``, ``0``)."""
    from seedcart.durations import parse_duration
    from seedcart.types import ENGINES, MODELS

    if engine not in ENGINES:
        raise ValidationError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}", field="engine")
    for model in models or []:
        if model not in MODELS:
            raise ValidationError(f"model must be one of {', '.join(MODELS)}, got {model!r}", field="model")
    chosen = tuple(m for m in MODELS if m in (models or MODELS))
    config = AttributionConfig(
        lookback={"click": parse_duration(lookback_click, field="lookback_click"),
                  "engagement": parse_duration(lookback_engagement, field="lookback_engagement"),
                  "view": parse_duration(lookback_view, field="lookback_view")},
        half_life=parse_duration(half_life, field="half_life"), models=chosen)
    return attribute_files(touches, conversions, out, config=config, models=chosen,
                           engine=engine)
