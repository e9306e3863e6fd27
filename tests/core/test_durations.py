"""Durations as people write them, and back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedcart.durations import format_duration, parse_duration
from seedcart.errors import ValidationError


@pytest.mark.parametrize(("text", "expected"), [
    ("15d", timedelta(days=15)), ("24h", timedelta(hours=24)), ("90m", timedelta(minutes=90)),
    ("30s", timedelta(seconds=30)), ("250ms", timedelta(milliseconds=250)), ("0", timedelta(0)),
    (" 7 d ", timedelta(days=7)), ("1.5h", timedelta(minutes=90)), ("45", timedelta(seconds=45)),
    (60, timedelta(minutes=1)), (0.5, timedelta(milliseconds=500)), (timedelta(days=2), timedelta(days=2)),
])
def test_parse(text: str | int | float | timedelta, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["15 days", "-1d", "d", "", "1w", -5, True])
def test_refusals_name_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(bad, field="lookback.click")  # type: ignore[arg-type]
    assert info.value.field == "lookback.click" and "lookback.click" in str(info.value)


@pytest.mark.parametrize(("value", "text"), [
    (timedelta(days=15), "15d"), (timedelta(hours=36), "36h"), (timedelta(minutes=90), "90m"),
    (timedelta(seconds=45), "45s"), (timedelta(0), "0"), (timedelta(milliseconds=1500), "1500ms"),
])
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_is_exact(milliseconds: int) -> None:
    value = timedelta(milliseconds=milliseconds)
    assert parse_duration(format_duration(value)) == value
