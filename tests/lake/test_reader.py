"""Reading lake tables as Ibis tables: schema columns only, old files, absent tables, pending journals."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.lake.conftest import touch_rows

from seedcart.errors import SchemaError
from seedcart.lake import journal
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_listed, read_table, table_files
from seedcart.lake.schemas import TOUCH, conform
from seedcart.lake.writer import LakeWriter, partition_dir


def test_files_written_before_a_column_existed_read_it_as_null(tmp_path: Path) -> None:
    LakeWriter(tmp_path).append("touch", touch_rows(3, hours=0))
    older = conform("touch", touch_rows(2, start=10, hours=0)).drop_columns(["position", "referrer"]
                                                                            if "referrer" in TOUCH.names
                                                                            else ["position"])
    pq.write_table(older, partition_dir(tmp_path, "touch", "2026-05-01") / "a-older.parquet")  # sorts first
    got = read_table(connect("duckdb"), tmp_path, "touch").to_pyarrow()
    assert got.schema.names == TOUCH.names
    assert sorted(got.column("event_id").to_pylist()) == ["e0", "e1", "e10", "e11", "e2"]
    assert got.column("position").null_count == 5


def test_a_required_column_missing_everywhere_is_a_schema_error(tmp_path: Path) -> None:
    data = conform("touch", touch_rows(2, hours=0)).drop_columns(["source"])
    partition = partition_dir(tmp_path, "touch", "2026-05-01")
    partition.mkdir(parents=True)
    pq.write_table(data, partition / "x.parquet")
    with pytest.raises(SchemaError) as info:
        read_table(connect("duckdb"), tmp_path, "touch")
    assert info.value.context["field"] == "source"


def test_table_files_skip_temp_files_and_resolve_pending_journals(tmp_path: Path) -> None:
    written = LakeWriter(tmp_path).append("touch", touch_rows(2, hours=0))
    partition = written[0].parent
    (partition / ".part-x.parquet.1234.tmp").write_bytes(b"half")
    assert table_files(tmp_path, "touch") == written
    # a journal whose output is not written yet hides nothing but that (absent) output
    journal.begin(partition, kind="compact", inputs=[written[0].name], outputs=["compact-new.parquet"])
    assert table_files(tmp_path, "touch") == written
    # once its output exists, the inputs are superseded
    pq.write_table(pq.read_table(written[0]), partition / "compact-new.parquet")
    assert [f.name for f in table_files(tmp_path, "touch")] == ["compact-new.parquet"]
    assert table_files(tmp_path, "never-written") == []


def test_a_change_committing_while_a_reader_lists_never_hides_both_sides(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    written = LakeWriter(tmp_path).append("touch", touch_rows(2, hours=0))
    partition = written[0].parent
    journal.begin(partition, kind="compact", inputs=[written[0].name], outputs=["compact-new.parquet"])
    listing_before_commit = os.listdir(partition)
    pq.write_table(pq.read_table(written[0]), partition / "compact-new.parquet")  # commits after the listing
    monkeypatch.setattr(journal.os, "listdir", lambda path: list(listing_before_commit))
    assert journal.visible_files(partition) == written  # the snapshot still shows the inputs


def test_an_unreadable_journal_is_an_error_not_a_guess(tmp_path: Path) -> None:
    written = LakeWriter(tmp_path).append("touch", touch_rows(2, hours=0))
    (written[0].parent / "_txn-broken.json").write_text("{not json")
    with pytest.raises(SchemaError):
        table_files(tmp_path, "touch")


def test_a_read_whose_files_were_retired_meanwhile_lists_them_again(tmp_path: Path) -> None:
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), old)
    listings: list[list[Path]] = []

    def list_files() -> list[Path]:
        if not listings:  # a replacement lands between this listing and the read
            listings.append([old])
            pq.write_table(pa.table({"x": [1, 2, 3]}), new)
            old.unlink()
            return [old]
        listings.append([new])
        return [new]

    def total(files: list[Path]) -> int:
        return int(duckdb.sql(f"SELECT sum(x) FROM read_parquet({[str(f) for f in files]})").fetchall()[0][0])

    result, files = read_listed(list_files, total)
    assert (result, files) == (6, [new])
    assert listings == [[old], [new]]


def test_a_read_that_fails_with_its_files_in_place_is_not_retried(tmp_path: Path) -> None:
    present = tmp_path / "a.parquet"
    pq.write_table(pa.table({"x": [1]}), present)
    calls: list[int] = []

    def broken(files: list[Path]) -> int:
        calls.append(len(files))
        raise ValueError("bad query")

    with pytest.raises(ValueError, match="bad query"):
        read_listed(lambda: [present], broken)
    assert calls == [1]
