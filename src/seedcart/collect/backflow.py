"""Partner backflow rows: parsing request bodies and validating each row into a backflow record.

A row::

    event_id      the partner's id of the event, unique per partner (idempotency key)
    action        visit / search / favorite / cart / order / refund
    ts            ISO-8601 time or unix seconds
    click_id      the ``sc_cid`` seedcart minted, and/or
    match_key     a hashed identifier (64 hex), or
    identifiers   {"phone"|"oaid"|"idfa": raw value}: hashed here and dropped, never stored
    item_id       the partner's item id, or product_id (seedcart's), resolved via the catalog
    brand_id      optional; taken from the catalog product when known
    keyword       required for search
    order_id, amount (integer minor units), currency   required for order and refund
    sample_rate   declared fraction in (0, 1]; default the partner's

Text sources (CSV) give every value as a string: numbers are parsed, empty cells are nulls and
``identifiers.phone`` style columns build the identifiers object.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from seedcart.collect import fields
from seedcart.errors import ValidationError
from seedcart.matchkey import IDENTIFIER_KINDS, is_match_key, match_key
from seedcart.types import BACK_ACTIONS

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MONEY_ACTIONS = ("order", "refund")


def parse_rows(body: bytes) -> Iterator[tuple[int, Any]]:
    """``(index, row)`` for a JSON array or NDJSON body; an unparseable NDJSON line is yielded as bytes."""
    stripped = body.lstrip()
    if stripped[:1] == b"[":
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"the body is not a JSON array: {exc}", field="body") from None
        yield from enumerate(data)
        return
    index = 0
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            yield index, orjson.loads(line)
        except orjson.JSONDecodeError:
            yield index, bytes(line)
        index += 1


def text_identifiers(row: dict[str, Any]) -> dict[str, Any]:
    """Fold ``identifiers.<kind>`` columns of a flat (CSV/Parquet) row into an identifiers object."""
    found = {}
    for kind in IDENTIFIER_KINDS:
        value = row.pop(f"identifiers.{kind}", None)
        if value not in (None, ""):
            found[kind] = value
    if found and not isinstance(row.get("identifiers"), dict):
        row["identifiers"] = found
    elif row.get("identifiers") in ("", None):
        row.pop("identifiers", None)
    return row


def hashed_identity(row: dict[str, Any], index: int, secret: bytes) -> str | None:
    """The match key of a row: given hashed, or computed from its raw identifiers (first valid kind)."""
    given = row.get("match_key")
    if given not in (None, ""):
        if not is_match_key(given):
            raise ValidationError("match_key must be a hashed key (64 lower-case hex characters); send raw "
                                  "identifiers in 'identifiers' instead", field="match_key", row=index)
        return str(given)
    ids = row.get("identifiers")
    if ids is None:
        return None
    if not isinstance(ids, dict) or not ids:
        raise ValidationError("identifiers must be an object like {\"phone\": ...}", field="identifiers", row=index)
    for kind in IDENTIFIER_KINDS:
        if kind in ids:
            try:
                return match_key(secret, kind, ids[kind])
            except ValidationError as exc:
                raise ValidationError(exc.message, field=exc.field, row=index) from None
    raise ValidationError(f"identifiers needs one of {', '.join(IDENTIFIER_KINDS)}", field="identifiers", row=index)


def scrub(row: Any, secret: bytes) -> Any:
    """The row safe to store: raw identifiers replaced by their match key (or dropped when unhashable)."""
    if not isinstance(row, dict) or "identifiers" not in row:
        return row
    clean = {k: v for k, v in row.items() if k != "identifiers" and not k.startswith("identifiers.")}
    ids = row.get("identifiers")
    if isinstance(ids, dict) and "match_key" not in clean:
        for kind in IDENTIFIER_KINDS:
            if isinstance(ids.get(kind), str):
                try:
                    clean["match_key"] = match_key(secret, kind, ids[kind])
                except ValidationError:
                    continue
                break
    clean["identifiers_dropped"] = True
    return clean


def validate_row(row: Any, index: int, *, partner: str, secret: bytes, received_us: int,
                 default_sample_rate: float, text: bool = False, source: str = "api",
                 load_id: str | None = None) -> dict[str, Any]:
    """The backflow record of one row, or ValidationError naming the field and the row."""
    if isinstance(row, bytes):
        raise ValidationError("the line is not JSON", field="body", row=index)
    if not isinstance(row, dict):
        raise ValidationError("a row must be a JSON object", field="row", row=index)
    if text:
        row = text_identifiers(dict(row))
    action = fields.choice(row.get("action"), "action", BACK_ACTIONS, index, required=True)
    record: dict[str, Any] = {
        "partner": partner,
        "event_id": fields.identifier(row.get("event_id"), "event_id", index, required=True, text=text),
        "action": action,
        "ts": fields.timestamp_us(row.get("ts"), "ts", index, text=text) if row.get("ts") not in (None, "")
        else _missing("ts", index),
        "received_at": received_us,
        "click_id": fields.identifier(row.get("click_id"), "click_id", index, text=text),
        "match_key": hashed_identity(row, index, secret),
        "product_id": fields.integer(row.get("product_id"), "product_id", index, text=text),
        "item_id": fields.identifier(row.get("item_id"), "item_id", index, text=text),
        "brand_id": fields.integer(row.get("brand_id"), "brand_id", index, text=text),
        "keyword": fields.text_value(row.get("keyword"), "keyword", index, required=action == "search"),
        "order_id": fields.identifier(row.get("order_id"), "order_id", index, required=action in MONEY_ACTIONS,
                                      text=text),
        "amount": fields.integer(row.get("amount"), "amount", index, required=action in MONEY_ACTIONS, text=text),
        "currency": _currency(row.get("currency"), index, required=action in MONEY_ACTIONS),
        "sample_rate": fields.number(row.get("sample_rate"), "sample_rate", index, low=0.0, high=1.0,
                                     low_open=True, text=text) or default_sample_rate,
        "source": source,
        "load_id": load_id,
    }
    if record["click_id"] is None and record["match_key"] is None:
        raise ValidationError("a row needs click_id or match_key (or identifiers)", field="click_id", row=index)
    return {k: v for k, v in record.items() if v is not None}


def _missing(field: str, index: int) -> int:
    raise ValidationError(f"{field} is required", field=field, row=index)


def _currency(value: Any, index: int, *, required: bool) -> str | None:
    if value in (None, ""):
        if required:
            raise ValidationError("currency is required for orders and refunds (ISO 4217, e.g. CNY)",
                                  field="currency", row=index)
        return None
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise ValidationError("currency must be an ISO 4217 code like CNY", field="currency", row=index)
    return value


def validate_identity(row: Any, index: int, *, received_us: int) -> dict[str, Any]:
    """An identity record ``(user_id, match_key)``; raw identifiers are refused here, not hashed."""
    if not isinstance(row, dict):
        raise ValidationError("a row must be a JSON object", field="row", row=index)
    if "identifiers" in row:
        raise ValidationError("identities take hashed match keys only; hash identifiers on the platform",
                              field="identifiers", row=index)
    user_id = fields.identifier(row.get("user_id"), "user_id", index, required=True)
    key = row.get("match_key")
    if not is_match_key(key):
        raise ValidationError("match_key must be a hashed key (64 lower-case hex characters)",
                              field="match_key", row=index)
    ts = fields.timestamp_us(row["ts"], "ts", index) if row.get("ts") is not None else received_us
    return {"user_id": user_id, "match_key": key, "ts": ts, "source": "api"}
