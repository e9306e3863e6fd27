"""Small hand-built worlds for the attribution tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa

from seedcart.attribute import AttributionConfig, attribute_arrow
from seedcart.lake.schemas import BACKFLOW, IDENTITY, TOUCH, conform

T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: Whether :func:`run` takes DuckDB's fast path (the ``both_forms`` fixture runs a test both ways).
FAST_PATHS = True
DAY = timedelta(days=1)


def at(days: float = 0.0, seconds: float = 0.0) -> datetime:
    """T0 plus days and seconds."""
    return T0 + timedelta(days=days, seconds=seconds)


def touch(event_id: str, ts: datetime, note: str, kind: str = "impression", user: str = "u1", brand: int = 1,
          **extra: Any) -> dict[str, Any]:
    row = {"event_id": event_id, "ts": ts, "received_at": ts, "user_id": user, "kind": kind, "note_id": note,
           "brand_id": brand, "is_bot": False, "is_duplicate": False, "source": "sim"}
    row.update(extra)
    return row


def event(event_id: str, ts: datetime, action: str = "order", key: str | None = "k1", brand: int = 1,
          amount: int | None = 100, **extra: Any) -> dict[str, Any]:
    row = {"partner": "jd", "event_id": event_id, "action": action, "ts": ts, "received_at": ts, "match_key": key,
           "brand_id": brand, "amount": amount, "sample_rate": 1.0, "source": "sim",
           "order_id": f"o-{event_id}" if action == "order" else None}
    row.update(extra)
    return row


def tables(touches: list[dict[str, Any]], events: list[dict[str, Any]],
           identity: list[tuple[str, str]] | None = None) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Arrow tables in lake schemas; identity defaults to u1<->k1, u2<->k2."""
    pairs = identity if identity is not None else [("u1", "k1"), ("u2", "k2")]
    ident = pa.table({"user_id": [u for u, _ in pairs], "match_key": [k for _, k in pairs],
                      "ts": [T0] * len(pairs), "source": ["sim"] * len(pairs)})
    return (conform("touch", pa.Table.from_pylist(touches, schema=_loose(TOUCH, touches)))
            if touches else TOUCH.empty_table(),
            conform("backflow", pa.Table.from_pylist(events, schema=_loose(BACKFLOW, events)))
            if events else BACKFLOW.empty_table(),
            conform("identity", ident.cast(IDENTITY)))


def _loose(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Schema:
    names = {k for r in rows for k in r}
    return pa.schema([f.with_nullable(True) for f in schema if f.name in names])


def run(touches: list[dict[str, Any]], events: list[dict[str, Any]], identity: list[tuple[str, str]] | None = None,
        config: AttributionConfig | None = None,
        models: tuple[Any, ...] | None = ("last_touch", "first_touch", "linear")) -> list[dict[str, Any]]:
    """Credit rows as dicts (the three cheap models unless told; ``models=None`` runs all)."""
    t, e, i = tables(touches, events, identity)
    config = replace(config or AttributionConfig(), fast_paths=FAST_PATHS)
    out = attribute_arrow(ibis.memtable(t), ibis.memtable(e), ibis.memtable(i), config, models)
    return out.to_pylist()


def credit_of(rows: list[dict[str, Any]], model: str, event_id: str | None = None) -> dict[str, float]:
    """touch_event_id -> credit for one model (and one event)."""
    out: dict[str, float] = {}
    for r in rows:
        if r["model"] == model and (event_id is None or r["event_id"] == event_id):
            out[r["touch_event_id"]] = out.get(r["touch_event_id"], 0.0) + r["credit"]
    return out
