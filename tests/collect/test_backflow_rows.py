"""Backflow rows: validation naming field and row, identifiers hashed at the edge and dropped."""

from __future__ import annotations

from typing import Any

import pytest

from seedcart.collect.backflow import parse_rows, scrub, validate_row
from seedcart.errors import ValidationError
from seedcart.matchkey import match_key

SECRET = b"alliance-secret-for-tests-0123456789"
ORDER = {"event_id": "e1", "action": "order", "ts": "2026-05-01T12:00:00+08:00", "click_id": "c1",
         "order_id": "o1", "amount": 19900, "currency": "CNY", "item_id": "100"}


def validate(row: Any, **kw: Any) -> dict[str, Any]:
    return validate_row(row, 4, partner="jd", secret=SECRET, received_us=1, default_sample_rate=1.0, **kw)


def test_a_valid_order_becomes_a_backflow_record() -> None:
    record = validate(ORDER)
    assert record["partner"] == "jd" and record["amount"] == 19900 and record["sample_rate"] == 1.0
    assert record["ts"] == 1777608000_000000  # 04:00 UTC


def test_raw_identifiers_are_hashed_and_never_kept() -> None:
    row = {k: v for k, v in ORDER.items() if k != "click_id"} | {"identifiers": {"phone": "+86 138-0013-8000"}}
    record = validate(row)
    assert record["match_key"] == match_key(SECRET, "phone", "13800138000")
    assert "identifiers" not in record and "13800138000" not in str(record)
    scrubbed = scrub(row | {"amount": "bad"}, SECRET)
    assert "13800138000" not in str(scrubbed) and scrubbed["match_key"] == record["match_key"]


@pytest.mark.parametrize(("change", "field"), [
    ({"action": "buy"}, "action"),
    ({"event_id": None}, "event_id"),
    ({"ts": None}, "ts"),
    ({"ts": 1777608000000}, "ts"),  # milliseconds, not seconds
    ({"amount": 19.5}, "amount"),
    ({"amount": None}, "amount"),
    ({"currency": "yuan"}, "currency"),
    ({"order_id": None}, "order_id"),
    ({"click_id": None}, "click_id"),  # neither click id nor match key
    ({"match_key": "13800138000"}, "match_key"),  # a raw value where a hash belongs
    ({"sample_rate": 0}, "sample_rate"),
    ({"click_id": None, "identifiers": {"phone": "12"}}, "identifiers.phone"),
])
def test_invalid_rows_name_the_field_and_the_row(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate(ORDER | change)
    assert (info.value.field, info.value.row) == (field, 4)


def test_search_needs_a_keyword_and_visits_need_no_order() -> None:
    with pytest.raises(ValidationError) as info:
        validate({"event_id": "s", "action": "search", "ts": 1777608000, "click_id": "c"})
    assert info.value.field == "keyword"
    assert validate({"event_id": "v", "action": "visit", "ts": 1777608000, "click_id": "c"})["action"] == "visit"


def test_text_rows_from_csv_are_parsed() -> None:
    row = {"event_id": "e", "action": "order", "ts": "1777608000", "click_id": "", "identifiers.oaid": "ABC-1",
           "order_id": "o", "amount": "100", "currency": "CNY", "sample_rate": "0.5", "product_id": ""}
    record = validate(row, text=True)
    assert record["amount"] == 100 and record["sample_rate"] == 0.5 and record["match_key"]


def test_parse_rows_reads_arrays_and_ndjson_with_bad_lines_as_rows() -> None:
    assert [i for i, _ in parse_rows(b'[{"a":1},{"a":2}]')] == [0, 1]
    rows = list(parse_rows(b'{"a":1}\nnot json\n\n{"a":3}\n'))
    assert [i for i, _ in rows] == [0, 1, 2] and rows[1][1] == b"not json"
