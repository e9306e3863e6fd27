"""The log -> lake flusher: exactly once across crashes, replay before serving, misfits quarantined."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from seedcart.catalog.db import open_catalog
from seedcart.collect.dedupe import DedupeIndex
from seedcart.collect.log import DurableLog
from seedcart.config import Settings
from seedcart.lake.compaction import compact
from seedcart.lake.engines import connect
from seedcart.lake.ingest import CHECKPOINT, LakeFlusher, open_intake
from seedcart.lake.reader import read_table, table_files

DAY_US = 1777636800_000000  # 2026-05-01T12:00:00Z


def touch(i: int, ts: int = DAY_US) -> dict[str, Any]:
    return {"event_id": f"t{i}", "ts": ts, "received_at": ts, "user_id": "u", "kind": "impression",
            "note_id": "n", "is_bot": False, "is_duplicate": False, "source": "api"}


def ids(root: str, table: str = "touch") -> list[str]:
    return sorted(read_table(connect("duckdb"), root, table).to_pyarrow().column("event_id").to_pylist())


def write_log(directory: Path, batches: list[tuple[str, list[dict[str, Any]]]]) -> DurableLog:
    log = DurableLog(directory)
    log.start_sync()
    for table, records in batches:
        log.append_sync(table, records)
    log.stop_sync()
    return log


def test_a_step_redone_after_a_crash_rewrites_its_own_files(tmp_path: Path) -> None:
    log_dir, lake = tmp_path / "log", str(tmp_path / "lake")
    log = write_log(log_dir, [("touch", [touch(1), touch(2)]), ("touch", [touch(3, DAY_US + 86_400_000_000)])])
    index = DedupeIndex(log_dir / "dedupe.sqlite")
    flusher = LakeFlusher(log_dir, lake, index, log.node_id)
    assert flusher.flush(3) == 3
    files = table_files(lake, "touch")
    assert [f.name for f in files] == [f"log-{log.node_id}-{0:020d}-{3:020d}.parquet"] * 2  # one per date
    # Crash between writing the Parquet and saving the checkpoint: the intent is still pending.
    (log_dir / CHECKPOINT).write_text(json.dumps({"flushed": 0, "pending": 3}))
    # ... and more was logged meanwhile, so a naive re-flush would choose a different range.
    more = DurableLog(log_dir)
    more.start_sync()
    more.append_sync("touch", [touch(4)])
    more.stop_sync()
    again = LakeFlusher(log_dir, lake, index, log.node_id)
    assert again.recover(4) == 1  # the pending step is redone first, then (3, 4]
    assert ids(lake) == ["t1", "t2", "t3", "t4"]
    assert again.status()["flushed"] == 4 and again.status()["pending"] is None
    assert index.seen(["t:t1", "t:t4", "t:t9"]) == {"t:t1", "t:t4"}
    index.close()


def test_a_step_whose_files_were_compacted_before_its_redo_is_not_written_twice(tmp_path: Path) -> None:
    log_dir, lake = tmp_path / "log", str(tmp_path / "lake")
    log = write_log(log_dir, [("touch", [touch(1), touch(2)]), ("touch", [touch(3)]), ("touch", [touch(4)])])
    index = DedupeIndex(log_dir / "dedupe.sqlite")
    flusher = LakeFlusher(log_dir, lake, index, log.node_id)
    assert flusher.flush(3) == 3 and flusher.flush(4) == 1  # two files of one day
    # The flush of (3, 4] died after writing its file; compaction merged the day before the redo.
    (log_dir / CHECKPOINT).write_text(json.dumps({"flushed": 3, "pending": 4}))
    assert compact(lake, "touch", min_files=2).files_in == 2
    again = LakeFlusher(log_dir, lake, index, log.node_id)
    again.recover(4)
    assert ids(lake) == ["t1", "t2", "t3", "t4"]  # t4 once: the redo did not write its file again
    assert again.status()["flushed"] == 4 and again.status()["pending"] is None
    index.close()


def test_records_that_do_not_fit_the_schema_are_quarantined_not_stuck(tmp_path: Path) -> None:
    log_dir, lake = tmp_path / "log", str(tmp_path / "lake")
    bad = touch(2) | {"kind": None}  # a required column missing
    log = write_log(log_dir, [("touch", [touch(1), bad])])
    index = DedupeIndex(log_dir / "dedupe.sqlite")
    LakeFlusher(log_dir, lake, index, log.node_id).flush(2)
    index.close()
    assert ids(lake) == ["t1"]
    [q] = read_table(connect("duckdb"), lake, "quarantine").to_pyarrow().to_pylist()
    assert q["target"] == "touch" and q["endpoint"] == "log" and '"t2"' in q["raw"]


def test_open_intake_replays_the_log_before_serving_and_drains_on_exit(settings: Settings) -> None:
    catalog = open_catalog(settings)
    write_log(settings.log_dir, [("touch", [touch(1)]), ("identity", [{"user_id": "u", "match_key": "a" * 64,
                                                                        "ts": DAY_US, "source": "api"}])])
    lake = settings.resolved_lake_root

    async def run() -> list[str]:
        async with open_intake(settings, catalog, background=False) as service:
            seen_at_start = ids(lake)  # replayed before the first request could be served
            assert service.dedupe.seen(["t:t1"]) == {"t:t1"}
            await service.log.append("touch", [touch(2)])
        return seen_at_start

    try:
        assert asyncio.run(run()) == ["t1"]
    finally:
        catalog.close()
    assert ids(lake) == ["t1", "t2"]
    assert len(read_table(connect("duckdb"), lake, "identity").to_pyarrow()) == 1


def test_very_long_records_still_reach_the_lake(tmp_path: Path) -> None:
    log_dir, lake = tmp_path / "log", str(tmp_path / "lake")
    raw = "x" * (17 << 20)  # longer than the JSON reader's block: the slower converter takes it
    quarantine = {"ts": DAY_US, "target": "backflow", "endpoint": "POST /v1/backflow/jd", "reason": "r", "raw": raw}
    log = write_log(log_dir, [("quarantine", [quarantine]), ("touch", [touch(1)])])
    index = DedupeIndex(log_dir / "dedupe.sqlite")
    LakeFlusher(log_dir, lake, index, log.node_id).flush(2)
    index.close()
    assert len(read_table(connect("duckdb"), lake, "quarantine").to_pyarrow().column("raw")[0].as_py()) == len(raw)
    assert ids(lake) == ["t1"]
