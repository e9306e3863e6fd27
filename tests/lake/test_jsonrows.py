"""Log records into Arrow in C (``seedcart.lake.jsonrows``): the same table as the record-by-record way
for every record that fits, and a refusal (so that way decides) for every one that does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedcart.collect.dedupe import DedupeIndex, touch_keys, touch_keys_of_table
from seedcart.collect.log import DurableLog, encode_payload, iter_entries, iter_raw_entries, split_payload
from seedcart.collect.segment import TouchRecord
from seedcart.lake.engines import connect
from seedcart.lake.ingest import LakeFlusher, to_arrow
from seedcart.lake.jsonrows import RecordsReader, join_arrays
from seedcart.lake.reader import read_table
from seedcart.lake.schemas import schema_of

DAY_US = 1777636800_000000
_INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
_TEXT = st.text(max_size=40)  # any code point orjson can write: controls, NUL, astral planes
_TS = st.integers(min_value=0, max_value=4_102_444_800_000_000)  # 1970 to 2100


def _value(dtype: pa.DataType) -> st.SearchStrategy[Any]:
    if pa.types.is_timestamp(dtype):
        return _TS
    if pa.types.is_int64(dtype):
        return _INT64
    if pa.types.is_string(dtype):
        return _TEXT
    if pa.types.is_boolean(dtype):
        return st.booleans()
    return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(1 << 53), 1 << 53)


def _records(table: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Records that fit ``table``'s schema: required columns always, the others given, null or absent."""
    schema = schema_of(table)
    required = {f.name: _value(f.type) for f in schema if not f.nullable}
    optional = {f.name: st.none() | _value(f.type) for f in schema if f.nullable}
    return st.lists(st.fixed_dictionaries(required, optional=optional), min_size=1, max_size=12)


@pytest.fixture(scope="module")
def reader() -> RecordsReader:
    return RecordsReader()


@pytest.mark.parametrize("table", ["touch", "backflow", "identity", "quarantine"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_records_that_fit_give_the_table_the_record_by_record_way_gives(reader: RecordsReader, table: str,
                                                                         data: st.DataObject) -> None:
    batches = data.draw(st.lists(_records(table), min_size=1, max_size=3))
    arrays = [orjson.dumps(batch) for batch in batches]
    fast = reader.read(table, arrays)
    slow, refused = to_arrow(table, [r for batch in batches for r in batch])
    assert not refused
    assert fast is not None, "a record that fits was refused"
    assert fast.equals(slow, check_metadata=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_log_writes_dicts_and_touch_structs_as_the_same_rows(reader: RecordsReader, data: st.DataObject) -> None:
    """The log encodes records with msgspec (the Segment endpoints log ``TouchRecord`` structs): what it
    writes reads back as the same table as the dicts would, whichever form the records had."""
    columns = set(TouchRecord.__struct_fields__)
    drawn = data.draw(_records("touch"))
    dicts = [{k: v for k, v in r.items() if k in columns} | {"user_id": r.get("user_id") or "u"} for r in drawn]
    expected, refused = to_arrow("touch", dicts)
    assert not refused
    structs = [TouchRecord(**r) for r in dicts]
    for records in (dicts, structs):
        table, array = split_payload(encode_payload("touch", records))
        read = reader.read("touch", [array])
        assert table == "touch" and read is not None and read.equals(expected, check_metadata=True)
    # a struct's properties not given are left out of its JSON, not written as nulls
    written = orjson.loads(split_payload(encode_payload("touch", structs))[1])
    assert written == [{k: v for k, v in r.items() if v is not None} for r in dicts]


@pytest.mark.parametrize(("field", "value"), [
    ("position", "12"),  # a string in an integer column (DuckDB alone would read 12)
    ("position", 1.5),  # a fraction in an integer column (DuckDB alone would round it)
    ("position", 1 << 63),  # past int64
    ("note_id", 5),  # a number in a string column
    ("note_id", {"a": 1}),
    ("is_bot", 1),  # a number in a boolean column
    ("watch_ratio", "0.5"),
    ("event_id", None),  # a required column null
    ("ts", "2026-05-01T00:00:00Z"),  # a timestamp column holds integer microseconds
])
def test_a_record_that_does_not_fit_is_refused_so_the_record_by_record_way_decides(
        reader: RecordsReader, field: str, value: Any) -> None:
    good = {"event_id": "e1", "ts": DAY_US, "received_at": DAY_US, "kind": "impression", "is_bot": False,
            "is_duplicate": False, "source": "api"}
    assert reader.read("touch", [orjson.dumps([good])]) is not None
    assert reader.read("touch", [orjson.dumps([good, good | {field: value}])]) is None


def test_a_required_column_absent_or_unknown_keys(reader: RecordsReader) -> None:
    record = {"event_id": "e1", "ts": DAY_US, "received_at": DAY_US, "kind": "impression", "is_bot": False,
              "is_duplicate": False, "source": "api"}
    missing = {k: v for k, v in record.items() if k != "kind"}
    assert reader.read("touch", [orjson.dumps([missing])]) is None
    extra = reader.read("touch", [orjson.dumps([record | {"not_a_column": [1, 2]}])])  # ignored, as from_pylist does
    assert extra is not None and extra.equals(to_arrow("touch", [record])[0])


def test_arrays_are_joined_into_one_and_empty_ones_skipped() -> None:
    assert join_arrays([b"[]", b'[{"a":1}]', b"[ ]", b'[{"b":2},{"c":3}]']) == b'[{"a":1},{"b":2},{"c":3}]'
    assert join_arrays([b"[]"]) == b"[]"


def test_touch_keys_from_the_table_are_those_from_the_records() -> None:
    records = [{"event_id": f"e{i}", "ts": DAY_US, "received_at": DAY_US, "kind": "link_click", "is_bot": False,
                "is_duplicate": False, "source": "redirect" if i % 3 == 0 else "api"} for i in range(10)]
    table, _ = to_arrow("touch", records)
    assert touch_keys_of_table(table) == touch_keys(records) == [f"t:e{i}" for i in range(10) if i % 3]
    assert touch_keys_of_table(table.slice(0, 0)) == []


@pytest.mark.parametrize("table", ["touch", "a\"b", "x\\y", "é"])
def test_a_payload_splits_back_into_its_table_and_records(table: str) -> None:
    records = [{"event_id": "e", "n": 1, "s": "\u0000\n\"]}"}]
    payload = encode_payload(table, records)
    assert orjson.loads(payload) == {"t": table, "r": records}  # the documented entry, as before
    name, array = split_payload(payload)
    assert name == table and orjson.loads(array) == records
    with pytest.raises(ValueError, match="payload"):
        split_payload(b'{"r": []}')


def test_raw_entries_are_the_entries_undecoded(tmp_path: Path) -> None:
    log = DurableLog(tmp_path)
    log.start_sync()
    log.append_sync("touch", [{"event_id": "a"}, {"event_id": "b"}])
    log.append_sync("backflow", [{"event_id": "c"}])
    log.stop_sync()
    raw = [(end, table, orjson.loads(array)) for end, table, array in iter_raw_entries(tmp_path)]
    assert raw == list(iter_entries(tmp_path)) == [
        (2, "touch", [{"event_id": "a"}, {"event_id": "b"}]), (3, "backflow", [{"event_id": "c"}])]


def test_a_flush_writes_many_entries_through_c_and_records_their_keys(tmp_path: Path) -> None:
    log_dir, lake = tmp_path / "log", str(tmp_path / "lake")
    log = DurableLog(log_dir)
    log.start_sync()
    for entry in range(20):
        log.append_sync("touch", [{"event_id": f"t{entry}-{i}", "ts": DAY_US + i, "received_at": DAY_US,
                                   "kind": "impression", "note_id": "n\u0000é", "is_bot": False,
                                   "is_duplicate": False, "source": "redirect" if i == 0 else "api"}
                                  for i in range(50)])
    log.stop_sync()
    index = DedupeIndex(log_dir / "dedupe.sqlite")
    flusher = LakeFlusher(log_dir, lake, index, log.node_id, max_records=300)  # runs of 6 entries
    assert flusher.flush(1000) == 1000
    table = read_table(connect("duckdb"), lake, "touch").to_pyarrow()
    assert table.num_rows == 1000 and set(table.column("note_id").to_pylist()) == {"n\u0000é"}
    assert index.position == 1000
    # every touch but the redirect's clicks claims its key (the redirect dedupes clicks its own way)
    assert index.seen(["t:t3-1", "t:t19-49", "t:t3-0"]) == {"t:t3-1", "t:t19-49"}
    index.close()
