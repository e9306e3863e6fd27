"""A world's rows on the wire, as senders send them: Segment batches and partner backflow files.

Malformed rows live only here (a typed lake table cannot hold them): with ``malformed > 0`` a
seeded share of rows is replaced by a broken variant, and ``WireExport.malformed`` counts them,
with ``bad_rows`` giving their positions, so intake tests can expect exactly those refusals.

Front events: ``deep_read`` rows are left out (intake derives them from ``dwell_ms`` /
``watch_ratio`` of ``note_read``), and so are bot clicks (they only ever hit the redirect).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from seedcart.sim.world import World

#: Segment event names of the front kinds (``deep_read`` is derived by intake, never sent).
EVENT_NAMES: Final = {
    "impression": "note_impression", "read": "note_read", "like": "note_like", "comment": "note_comment",
    "collect": "note_collect", "share": "note_share", "follow": "note_follow", "link_click": "link_click",
    "search": "search",
}
_PROPERTIES: Final = ("note_id", "placement", "campaign_id", "position", "dwell_ms", "watch_ratio", "query",
                      "link_id", "partner", "product_id", "brand_id")
CSV_COLUMNS: Final = ("event_id", "action", "ts", "click_id", "match_key", "identifiers.phone", "identifiers.oaid",
                      "item_id", "product_id", "brand_id", "keyword", "order_id", "amount", "currency",
                      "sample_rate")


@dataclass
class WireExport:
    """Rendered rows plus how many of them are malformed and where (0-based positions)."""

    rows: list[dict[str, Any]]
    malformed: int = 0
    bad_rows: list[int] = field(default_factory=list)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _malformed_mask(count: int, share: float, seed: int) -> np.ndarray:
    if share <= 0 or count == 0:
        return np.zeros(count, dtype=bool)
    return np.random.default_rng([seed, 0x3A1F]).random(count) < share


def segment_messages(touch: pa.Table, *, malformed: float = 0.0, seed: int = 0) -> WireExport:
    """Touch rows as Segment ``track`` messages (``messageId`` is the event id)."""
    keep = pc.and_(pc.not_equal(touch.column("kind"), "deep_read"), pc.invert(touch.column("is_bot")))
    rows = touch.filter(keep).to_pylist()
    bad = _malformed_mask(len(rows), malformed, seed)
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        message: dict[str, Any] = {
            "type": "track", "event": EVENT_NAMES[row["kind"]], "userId": row["user_id"],
            "messageId": row["event_id"], "timestamp": _iso(row["ts"]),
            "context": {"device": {"type": row["device"]}} if row["device"] else {},
            "properties": {k: row[k] for k in _PROPERTIES if row.get(k) is not None},
        }
        if bad[i]:
            message = _break_message(message, i)
        out.append(message)
    return WireExport(rows=out, malformed=int(bad.sum()), bad_rows=[int(i) for i in np.flatnonzero(bad)])


def _break_message(message: dict[str, Any], i: int) -> dict[str, Any]:
    broken = dict(message)
    variant = i % 4
    if variant == 0:
        broken.pop("messageId")
    elif variant == 1:
        broken["event"] = "note_teleport"
    elif variant == 2:
        broken["timestamp"] = "yesterday-ish"
    else:
        broken["properties"] = {**message["properties"], "position": "first"}
    return broken


def segment_batches(export: WireExport, batch_size: int = 100) -> Iterator[dict[str, Any]]:
    """``{"batch": [...]}`` payloads of at most ``batch_size`` messages, in order."""
    for start in range(0, len(export.rows), batch_size):
        yield {"batch": export.rows[start:start + batch_size]}


def _identity_lookup(world: World) -> dict[str, tuple[str, str]]:
    """match key -> (identifier kind, raw value), for partners that send raw identifiers."""
    lookup: dict[str, tuple[str, str]] = {}
    for key, phone in zip(world.mk_phone.to_pylist(), world.phones, strict=True):
        lookup[key] = ("phone", phone)
    for key, oaid in zip(world.mk_oaid.to_pylist(), world.oaids, strict=True):
        if key is not None and oaid is not None:
            lookup[key] = ("oaid", oaid)
    return lookup


def backflow_rows(backflow: pa.Table, *, world: World | None = None, raw_identifiers: float = 0.2,
                  malformed: float = 0.0, seed: int = 0) -> WireExport:
    """Backflow rows as a partner posts them.

    With ``world``, a share ``raw_identifiers`` of rows carries ``identifiers`` (raw phone / OAID) instead
    of ``match_key``, as partners that leave hashing to seedcart do. Half the rows name the partner's
    ``item_id``, the others seedcart's ``product_id``.
    """
    rows = backflow.to_pylist()
    rng = np.random.default_rng([seed, 0xBF])
    raw = rng.random(len(rows)) < raw_identifiers
    use_item = rng.random(len(rows)) < 0.5
    lookup = _identity_lookup(world) if world is not None and raw_identifiers > 0 else {}
    bad = _malformed_mask(len(rows), malformed, seed)
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        item: dict[str, Any] = {"event_id": row["event_id"], "action": row["action"], "ts": _iso(row["ts"])}
        if row["click_id"]:
            item["click_id"] = row["click_id"]
        key = row["match_key"]
        if key and raw[i] and key in lookup:
            kind, value = lookup[key]
            item["identifiers"] = {kind: value}
        elif key:
            item["match_key"] = key
        if use_item[i]:
            item["item_id"] = row["item_id"]
        else:
            item["product_id"] = row["product_id"]
        item["brand_id"] = row["brand_id"]
        for name in ("keyword", "order_id", "amount", "currency"):
            if row[name] is not None:
                item[name] = row[name]
        item["sample_rate"] = row["sample_rate"]
        if bad[i]:
            item = _break_backflow(item, i)
        out.append(item)
    return WireExport(rows=out, malformed=int(bad.sum()), bad_rows=[int(i) for i in np.flatnonzero(bad)])


def _break_backflow(row: dict[str, Any], i: int) -> dict[str, Any]:
    broken = dict(row)
    variant = i % 5
    if variant == 0:
        broken["action"] = "teleport"
    elif variant == 1:
        broken["amount"] = "12.50 yuan"
    elif variant == 2:
        broken.pop("ts")
    elif variant == 3:
        for name in ("click_id", "match_key", "identifiers"):
            broken.pop(name, None)
    else:
        broken["match_key"] = "not-a-match-key"
        broken.pop("identifiers", None)
    return broken


def to_ndjson(rows: Iterable[dict[str, Any]]) -> bytes:
    """One JSON object per line."""
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def to_json(rows: Iterable[dict[str, Any]]) -> bytes:
    """A JSON array."""
    return orjson.dumps(list(rows))


def to_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    """CSV with a header of ``CSV_COLUMNS``; identifiers flattened to ``identifiers.<kind>``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        flat = {k: v for k, v in row.items() if k != "identifiers"}
        for kind, value in (row.get("identifiers") or {}).items():
            flat[f"identifiers.{kind}"] = value
        writer.writerow(flat)
    return buffer.getvalue().encode()


def by_partner(backflow: pa.Table) -> dict[str, pa.Table]:
    """A backflow table split by partner (each partner posts only its own rows)."""
    return {str(p): backflow.filter(pc.equal(backflow.column("partner"), p))
            for p in sorted(pc.unique(backflow.column("partner")).to_pylist())}
