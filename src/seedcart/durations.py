"""Durations as people write them: ``15d``, ``24h``, ``90m``, ``30s``, ``0``, or plain seconds."""

from __future__ import annotations

import re
from datetime import timedelta

from seedcart.errors import ValidationError

_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1, "ms": 0.001}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s|ms)?\s*$")


def parse_duration(value: str | int | float | timedelta, *, field: str = "duration") -> timedelta:
    """Parse ``15d``/``24h``/``90m``/``30s``/``250ms``/``0`` or a number of seconds.

    >>> parse_duration("15d")
    datetime.timedelta(days=15)
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValidationError(f"{field}: expected a duration like 15d, got {value!r}", field=field)
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _PATTERN.match(value)
        if match is None:
            raise ValidationError(
                f"{field}: expected a duration like 15d, 24h, 90m, 30s or 0, got {value!r}", field=field
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if seconds < 0:
        raise ValidationError(f"{field}: a duration cannot be negative, got {value!r}", field=field)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: ``15d``, ``36h``, ``90m``, ``45s``, ``0``."""
    seconds = value.total_seconds()
    if seconds == 0:
        return "0"
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"
