"""The lake writer: atomic Parquet files per table and UTC date, conformed to the table's schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.lake.conftest import touch_rows

from seedcart.errors import SchemaError
from seedcart.lake import writer as writer_module
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_table, table_files
from seedcart.lake.schemas import TOUCH, schema_of
from seedcart.lake.writer import LakeWriter


def _ids(root: Path, table: str = "touch") -> list[str]:
    con = connect("duckdb")
    return sorted(read_table(con, root, table).to_pyarrow().column("event_id").to_pylist())


def _stray(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ((p.name.startswith(".") and p.name != ".lock")
                                                              or p.name.startswith("_"))]


def test_append_splits_by_utc_date_and_round_trips(tmp_path: Path) -> None:
    rows = touch_rows(30)  # 22:00 on May 1st, hourly: May 1, 2 and 3
    written = LakeWriter(tmp_path).append("touch", rows, prefix="flush")
    assert sorted(p.parent.name for p in written) == ["date=2026-05-01", "date=2026-05-02", "date=2026-05-03"]
    assert all(p.name.startswith("flush-") for p in written)
    for path in written:
        data = pq.read_table(path)
        assert data.schema.equals(TOUCH)  # conformed: every column, in order, nulls where absent
        day = path.parent.name.removeprefix("date=")
        assert {t.strftime("%Y-%m-%d") for t in data.column("ts").to_pylist()} == {day}
    assert sum(pq.read_table(p).num_rows for p in written) == 30
    con = connect("duckdb")
    frame = read_table(con, tmp_path, "touch").to_pyarrow()
    assert sorted(frame.column("event_id").to_pylist()) == sorted(rows.column("event_id").to_pylist())
    assert frame.column("campaign_id").null_count == 30
    assert frame.schema.equals(TOUCH, check_metadata=False) or frame.schema.names == TOUCH.names


def test_appends_leave_no_temp_files_even_when_a_write_fails(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    lake = LakeWriter(tmp_path)
    lake.append("touch", touch_rows(3))
    assert _stray(tmp_path) == []

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer_module.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        lake.append("touch", touch_rows(3, start=100))
    assert _stray(tmp_path) == []
    assert _ids(tmp_path) == ["e0", "e1", "e2"]


def test_conform_refuses_missing_required_columns_naming_them(tmp_path: Path) -> None:
    with pytest.raises(SchemaError) as info:
        LakeWriter(tmp_path).append("touch", touch_rows(2).drop_columns(["kind"]))
    assert info.value.context["field"] == "kind"
    with pytest.raises(SchemaError) as info:
        LakeWriter(tmp_path).append("touch", touch_rows(2).set_column(
            5, "note_id", pa.array([[1], [2]])))
    assert info.value.context["field"] == "note_id"
    with pytest.raises(SchemaError):
        LakeWriter(tmp_path).append("nope", touch_rows(1))
    assert table_files(tmp_path, "touch") == []


def test_an_empty_append_writes_nothing_and_an_absent_table_reads_empty(tmp_path: Path) -> None:
    assert LakeWriter(tmp_path).append("touch", touch_rows(0)) == []
    table = read_table(connect("duckdb"), tmp_path, "backflow")
    assert table.count().to_pyarrow().as_py() == 0
    assert [f.name for f in schema_of("backflow")] == list(table.columns)


def test_replace_table_swaps_every_partition(tmp_path: Path) -> None:
    lake = LakeWriter(tmp_path)
    lake.append("touch", touch_rows(30))
    lake.append("touch", touch_rows(5, start=30))
    lake.replace_table("touch", touch_rows(2, start=500))  # May 1st only: the other days go
    assert _ids(tmp_path) == ["e500", "e501"]
    assert len(table_files(tmp_path, "touch")) == 1
    assert _stray(tmp_path) == []


def test_a_crash_inside_replace_table_never_shows_rows_twice(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lake = LakeWriter(tmp_path)
    lake.append("touch", touch_rows(30))
    rebuilt = touch_rows(30).set_column(10, "source", pa.array(["rebuilt"] * 30))  # same ids, same days
    real = writer_module.write_parquet_atomic
    calls = []

    def dies_second_time(data: pa.Table, path: Path) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")
        real(data, path)

    monkeypatch.setattr(writer_module, "write_parquet_atomic", dies_second_time)
    with pytest.raises(KeyboardInterrupt):
        lake.replace_table("touch", rebuilt)
    got = read_table(connect("duckdb"), tmp_path, "touch").to_pyarrow()
    ids = got.column("event_id").to_pylist()
    assert sorted(ids) == sorted(f"e{i}" for i in range(30))  # each row once: no day shows old and new
    by_day: dict[str, set[str]] = {}
    for ts, source in zip(got.column("ts").to_pylist(), got.column("source").to_pylist(), strict=True):
        by_day.setdefault(ts.strftime("%F"), set()).add(source)
    assert sorted(by_day.values(), key=sorted) == [{"rebuilt"}, {"sim"}, {"sim"}]  # one day switched
    monkeypatch.setattr(writer_module, "write_parquet_atomic", real)
    lake.replace_table("touch", rebuilt)  # recovers, then replaces
    got = read_table(connect("duckdb"), tmp_path, "touch").to_pyarrow()
    assert sorted(got.column("event_id").to_pylist()) == sorted(f"e{i}" for i in range(30))
    assert set(got.column("source").to_pylist()) == {"rebuilt"}
    assert _stray(tmp_path) == []
