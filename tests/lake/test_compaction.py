"""Compaction: small files merged per partition, and a crash at any step repaired without a row lost
or read twice."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.lake.conftest import touch_rows

from seedcart.errors import ValidationError
from seedcart.lake import compaction
from seedcart.lake.compaction import compact, compact_lake, recover
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_table, table_files
from seedcart.lake.writer import LakeWriter


class Crash(BaseException):
    """Stands for the process dying at a crash point."""


def _rows(root: Path) -> Counter[str]:
    table = read_table(connect("duckdb"), root, "touch").to_pyarrow()
    return Counter(table.column("event_id").to_pylist())


def _lake(root: Path, flushes: int = 6) -> Counter[str]:
    lake = LakeWriter(root)
    for i in range(flushes):  # half-hourly from 22:00: the first flush on day one, the others on day two
        lake.append("touch", touch_rows(4, start=4 * i, hours=0.5), prefix="flush")
    lake.append("touch", touch_rows(1, start=1000, hours=0))  # a second small file on day one
    rows = _rows(root)
    assert set(rows.values()) == {1}
    return rows


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file() and p.name != ".lock"
                  and (p.name.startswith((".", "_"))))


def test_small_files_are_merged_per_partition(tmp_path: Path) -> None:
    rows = _lake(tmp_path)
    files_before = len(table_files(tmp_path, "touch"))
    report = compact(tmp_path, "touch", min_files=2, target_bytes=1 << 20)
    assert report.files_in == files_before and report.rows == sum(rows.values())
    assert report.partitions_seen >= 2 and report.files_out == report.partitions_compacted
    files = table_files(tmp_path, "touch")
    assert len(files) == report.files_out and all(f.name.startswith("compact-") for f in files)
    assert _rows(tmp_path) == rows
    assert _leftovers(tmp_path) == []
    again = compact(tmp_path, "touch", min_files=2, target_bytes=1 << 20)  # nothing small left to pair
    assert (again.files_in, again.recovered) == (0, 0)


def test_partitions_with_few_small_files_or_only_big_ones_are_left_alone(tmp_path: Path) -> None:
    _lake(tmp_path)
    before = table_files(tmp_path, "touch")
    assert compact(tmp_path, "touch", min_files=50).files_in == 0
    assert compact(tmp_path, "touch", min_files=2, target_bytes=100).files_in == 0  # none is "small"
    assert table_files(tmp_path, "touch") == before
    assert compact(tmp_path, "absent", min_files=2).partitions_seen == 0


def test_target_bytes_bounds_the_merged_files(tmp_path: Path) -> None:
    _lake(tmp_path)
    size = max(f.stat().st_size for f in table_files(tmp_path, "touch"))
    report = compact(tmp_path, "touch", min_files=2, target_bytes=2 * size + 1)
    assert report.files_out > report.partitions_compacted  # several groups per partition


@pytest.mark.parametrize("step", ["journal_written", "output_committed", "delete:first", "delete:third", "journal"])
def test_a_crash_at_any_step_is_repaired_without_loss_or_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    step: str) -> None:
    rows = _lake(tmp_path)
    seen: list[str] = []

    def crash_point(name: str) -> None:
        seen.append(name)
        deletes = [s for s in seen if s.startswith("delete:")]
        hit = (name == step
               or (step == "delete:first" and name.startswith("delete:") and len(deletes) == 1)
               or (step == "delete:third" and name.startswith("delete:") and len(deletes) == 3))
        if hit:
            raise Crash(step)

    monkeypatch.setattr(compaction, "_crash_point", crash_point)
    with pytest.raises(Crash):
        compact(tmp_path, "touch", min_files=2, target_bytes=1 << 20)
    assert _rows(tmp_path) == rows  # before any repair, readers resolve the journal
    assert any(name.startswith("_txn-") for name in _leftovers(tmp_path))

    monkeypatch.setattr(compaction, "_crash_point", lambda name: None)
    report = compact(tmp_path, "touch", min_files=2, target_bytes=1 << 20)
    assert report.recovered == 1
    assert _rows(tmp_path) == rows
    assert _leftovers(tmp_path) == []
    assert all(f.name.startswith("compact-") for f in table_files(tmp_path, "touch"))


def test_a_kill_while_writing_the_merged_file_leaves_nothing_behind(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _lake(tmp_path)

    def killed(data: pa.Table, path: Path) -> None:  # the temp file is half written when the process dies
        (path.parent / f".{path.name}.deadbeef.tmp").write_bytes(b"PAR1 half")
        raise Crash("killed")

    monkeypatch.setattr(compaction, "write_parquet_atomic", killed)
    with pytest.raises(Crash):
        compact(tmp_path, "touch", min_files=2, target_bytes=1 << 20)
    assert _rows(tmp_path) == rows
    assert recover(tmp_path, "touch") == 1
    assert _leftovers(tmp_path) == []
    assert _rows(tmp_path) == rows


def test_files_appended_beside_a_pending_journal_stay_visible(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _lake(tmp_path)

    def crash_point(name: str) -> None:
        if name == "output_committed":
            raise Crash(name)

    monkeypatch.setattr(compaction, "_crash_point", crash_point)
    with pytest.raises(Crash):
        compact(tmp_path, "touch", min_files=2, target_bytes=1 << 20)
    LakeWriter(tmp_path).append("touch", touch_rows(2, start=2000, hours=0))
    expected = rows + Counter({"e2000": 1, "e2001": 1})
    assert _rows(tmp_path) == expected
    monkeypatch.setattr(compaction, "_crash_point", lambda name: None)
    compact(tmp_path, "touch", min_files=2, target_bytes=1 << 20)
    assert _rows(tmp_path) == expected


def test_bad_arguments_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        compact(tmp_path, "touch", min_files=1)
    assert info.value.field == "min_files"
    with pytest.raises(ValidationError) as info:
        compact(tmp_path, "touch", target_bytes=0)
    assert info.value.field == "target_bytes"


def test_the_whole_lake_is_compacted_table_by_table(tmp_path: Path) -> None:
    rows = _lake(tmp_path)
    reports = compact_lake(tmp_path, min_files=2, target_bytes=1 << 20)
    assert [r.table for r in reports] == ["touch"] and reports[0].rows == sum(rows.values())
    assert _rows(tmp_path) == rows
    assert compact_lake(tmp_path / "absent") == []


def _file_rows(root: Path) -> Counter[str]:
    return Counter(i for f in table_files(root, "touch") for i in pq.read_table(f, columns=["event_id"])
                   .column("event_id").to_pylist())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.tuples(st.integers(0, 6), st.sampled_from([0.0, 1.0, 7.0])), min_size=1, max_size=8),
       min_files=st.integers(2, 4), target_kb=st.sampled_from([1, 12, 1024]))
def test_compaction_keeps_every_row_once_whatever_the_files(batches: list[tuple[int, float]], min_files: int,
                                                             target_kb: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lake = LakeWriter(root)
        start = 0
        for size, hours in batches:
            lake.append("touch", touch_rows(size, start=start, hours=hours))
            start += size
        before = _file_rows(root)
        files_before = len(table_files(root, "touch"))
        report = compact(root, "touch", min_files=min_files, target_bytes=target_kb * 1024)
        assert _file_rows(root) == before and sum(before.values()) == start
        assert len(table_files(root, "touch")) == files_before - report.files_in + report.files_out
        assert _leftovers(root) == []


def test_a_merged_file_names_the_files_it_replaced(tmp_path: Path) -> None:
    _lake(tmp_path)
    before = {p.name for p in table_files(tmp_path, "touch")}
    compact(tmp_path, "touch", min_files=2)
    merged = [p for p in table_files(tmp_path, "touch") if p.name not in before]
    sources = [s.name for p in merged for s in compaction.compacted_from(p)]
    assert merged and sorted(sources) == sorted(before - {p.name for p in table_files(tmp_path, "touch")})
    assert all(s.parent == p.parent for p in merged for s in compaction.compacted_from(p))  # same partition
    assert not [p for p in table_files(tmp_path, "touch") if p.name in before and compaction.compacted_from(p)]


def test_the_server_compacts_the_input_tables_on_its_schedule(tmp_path: Path) -> None:
    import asyncio
    from datetime import timedelta

    from seedcart.config import load_settings

    config = load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "data")})
    config.intake.compact_every = timedelta(seconds=0.05)
    config.intake.compact_min_files = 2
    root = Path(config.resolved_lake_root)
    rows = _lake(root)
    files = len(table_files(root, "touch"))

    async def serve() -> dict[str, object]:
        async with compaction.compaction_service(config, None) as compactor:
            for _ in range(200):
                await asyncio.sleep(0.05)
                if compactor.runs:
                    break
            return compactor.status()

    status = asyncio.run(serve())
    assert status["runs"] and status["last_error"] is None and status["files_in"] == files
    assert len(table_files(root, "touch")) == 2 and _rows(root) == rows  # one file per day, every row once

    config.intake.compact_every = timedelta(0)  # off: nothing is scheduled

    async def off() -> int:
        async with compaction.compaction_service(config, None) as compactor:
            await asyncio.sleep(0.2)
            return compactor.runs

    assert asyncio.run(off()) == 0


def test_the_cli_compacts_the_lake_and_reports_per_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from seedcart.cli import app

    monkeypatch.setenv("SEEDCART__DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / "data" / "lake"
    rows = _lake(root)
    result = CliRunner().invoke(app, ["lake", "compact", "--table", "touch", "--min-files", "2"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert report["table"] == "touch" and report["files_out"] == 2 and _rows(root) == rows
    bad = CliRunner().invoke(app, ["lake", "compact", "--min-files", "1"])
    assert bad.exit_code == 1 and "min_files" in bad.output
