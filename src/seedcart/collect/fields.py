"""Field parsers shared by every intake edge: each returns the clean value or raises ValidationError
naming the field (and the row, when the caller passes one).

Timestamps come back as integer epoch microseconds UTC, the log's representation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from seedcart.errors import ValidationError

#: Timestamps before 2000-01-01 or after 2100-01-01 are refused as clock or unit mistakes.
MIN_US = 946_684_800_000_000
MAX_US = 4_102_444_800_000_000
MAX_ID_LEN = 200
MAX_TEXT_LEN = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class RowError:
    """A refused row: where it was, which field, why, and the row as received (for replay)."""

    row: int
    field: str | None
    reason: str
    raw: str

    def public(self) -> dict[str, Any]:
        """What the caller gets back (without the raw row)."""
        return {"row": self.row, "field": self.field, "reason": self.reason}


def now_us() -> int:
    """The current time in epoch microseconds."""
    return time.time_ns() // 1000


def raw_text(value: Any) -> str:
    """A row as a JSON string for the quarantine (bytes kept as text)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def timestamp_us(value: Any, field: str, row: int | None = None, *, text: bool = False) -> int:
    """An ISO-8601 string (naive means UTC) or unix seconds as epoch microseconds."""
    if text and isinstance(value, str):
        stripped = value.strip()
        if stripped.replace(".", "", 1).isdigit():
            value = float(stripped)
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be an ISO-8601 time or unix seconds", field=field, row=row)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValidationError(f"{field} must be finite", field=field, row=row)
        us = int(value * 1_000_000)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValidationError(f"{field} must be an ISO-8601 time, got {value[:40]!r}", field=field,
                                      row=row) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        us = (moment - _EPOCH) // _ONE_US
    elif isinstance(value, datetime):
        return timestamp_us(value.isoformat(), field, row)
    else:
        raise ValidationError(f"{field} must be an ISO-8601 time or unix seconds", field=field, row=row)
    if not MIN_US <= us < MAX_US:
        raise ValidationError(f"{field} is outside 2000..2100 (seconds, not milliseconds?)", field=field, row=row)
    return us


def identifier(value: Any, field: str, row: int | None = None, *, required: bool = False,
               text: bool = False) -> str | None:
    """A non-empty id string of at most 200 characters (numbers are taken as their decimal text)."""
    if type(value) is str and 0 < len(value) <= MAX_ID_LEN and not value[0].isspace() \
            and not value[-1].isspace():
        return value  # the common case, checked cheaply
    if value is None or (text and value == ""):
        if required:
            raise ValidationError(f"{field} is required", field=field, row=row)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field, row=row)
    if len(value) > MAX_ID_LEN:
        raise ValidationError(f"{field} is longer than {MAX_ID_LEN} characters", field=field, row=row)
    return value.strip()


def text_value(value: Any, field: str, row: int | None = None, *, required: bool = False) -> str | None:
    """A free-text string of at most 1000 characters."""
    if value is None or value == "":
        if required:
            raise ValidationError(f"{field} is required", field=field, row=row)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field, row=row)
    if len(value) > MAX_TEXT_LEN:
        raise ValidationError(f"{field} is longer than {MAX_TEXT_LEN} characters", field=field, row=row)
    return value


def integer(value: Any, field: str, row: int | None = None, *, required: bool = False, minimum: int | None = 0,
            text: bool = False) -> int | None:
    """An integer (``3.0`` is fine, ``3.5`` and booleans are not); digit strings too for text sources."""
    if value is None or (text and value == ""):
        if required:
            raise ValidationError(f"{field} is required", field=field, row=row)
        return None
    if text and isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValidationError(f"{field} must be an integer, got {value[:40]!r}", field=field, row=row) from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer", field=field, row=row)
    if minimum is not None and value < minimum:
        raise ValidationError(f"{field} must be at least {minimum}", field=field, row=row)
    if abs(value) >= 1 << 63:
        raise ValidationError(f"{field} is out of range", field=field, row=row)
    return value


def number(value: Any, field: str, row: int | None = None, *, low: float, high: float,
           low_open: bool = False, text: bool = False) -> float | None:
    """A finite float in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    if value is None or (text and value == ""):
        return None
    if text and isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValidationError(f"{field} must be a number", field=field, row=row) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{field} must be a number", field=field, row=row)
    if value < low or value > high or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ValidationError(f"{field} must be in {bracket}{low}, {high}]", field=field, row=row)
    return float(value)


def choice(value: Any, field: str, allowed: tuple[str, ...], row: int | None = None, *,
           required: bool = False) -> str | None:
    """One of ``allowed``."""
    if value is None or value == "":
        if required:
            raise ValidationError(f"{field} is required (one of {', '.join(allowed)})", field=field, row=row)
        return None
    if value not in allowed:
        raise ValidationError(f"{field} must be one of {', '.join(allowed)}, got {str(value)[:40]!r}",
                              field=field, row=row)
    return str(value)
