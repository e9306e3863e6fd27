"""Input checks shared by the repository modules; each refusal names the field."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from seedcart.catalog.models import Base
from seedcart.errors import NotFound, ValidationError

M = TypeVar("M", bound=Base)


def require(session: Session, model: type[M], key: Any, field: str) -> M:
    """The row of ``model`` with primary key ``key``, or NotFound naming ``field``."""
    row = session.get(model, key)
    if row is None:
        noun = model.__tablename__.rstrip("s").replace("_", " ")
        raise NotFound(f"{noun} {key!r} does not exist", field=field, id=key)
    return row


def text(value: Any, field: str, *, max_len: int, required: bool = True) -> str:
    """A stripped string of at most ``max_len`` characters (non-empty when ``required``)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    clean: str = value.strip()
    if required and not clean:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(clean) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters", field=field)
    return clean


def optional_text(value: Any, field: str, *, max_len: int) -> str | None:
    """Like :func:`text` but None (or blank) stays None."""
    if value is None:
        return None
    return text(value, field, max_len=max_len, required=False) or None


def choice(value: Any, choices: Sequence[str], field: str) -> str:
    """``value`` when it is one of ``choices``."""
    if value not in choices:
        raise ValidationError(f"{field} must be one of {', '.join(choices)}, got {value!r}", field=field)
    return str(value)


def choices(values: Iterable[Any], allowed: Sequence[str], field: str) -> list[str]:
    """A de-duplicated list whose every item is one of ``allowed``, in the order given."""
    if isinstance(values, str):
        raise ValidationError(f"{field} must be a list, not a string", field=field)
    out: list[str] = []
    for value in values:
        choice(value, allowed, field)
        if value not in out:
            out.append(value)
    return out


def integer(value: Any, field: str, *, minimum: int | None = None) -> int:
    """An int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer, got {value!r}", field=field)
    if minimum is not None and value < minimum:
        raise ValidationError(f"{field} must be at least {minimum}, got {value}", field=field)
    return value


def fraction(value: Any, field: str, *, low: float, high: float, include_low: bool = True) -> float:
    """A finite float in ``[low, high]`` (or ``(low, high]``), as float64."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{field} must be a number, got {value!r}", field=field)
    below = value < low if include_low else value <= low
    if below or value > high:
        bracket = "[" if include_low else "("
        raise ValidationError(f"{field} must be in {bracket}{low}, {high}], got {value}", field=field)
    return float(value)


def aware(value: Any, field: str) -> datetime:
    """A timezone-aware datetime (seedcart stores UTC only)."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime, got {value!r}", field=field)
    if value.tzinfo is None:
        raise ValidationError(f"{field} must carry a time zone (UTC)", field=field)
    return value
