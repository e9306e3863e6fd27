"""Lake compaction: what many small flush files cost a reader, and what merging them buys back.

``python -m benchmarks.compaction [--quick] [--files 2000] [--rows 500] [--days 5]``

Writes a touch table as many small files (one per simulated flush, spread over a few UTC days),
times a typical reader query (a per-note funnel over DuckDB) before compaction, times the
compaction, then times the same query again. The reference is the query before compaction,
measured in the same run; the ratio says how much faster the reader got.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from seedcart.lake.compaction import compact
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_table, table_files
from seedcart.lake.writer import LakeWriter

T0 = datetime(2026, 5, 1, tzinfo=UTC)
KINDS = np.array(["impression", "read", "deep_read", "like", "link_click"])


def _flush(rng: np.random.Generator, index: int, rows: int, days: int) -> pa.Table:
    seconds = rng.integers(0, days * 86_400, rows)
    ts = pa.array([T0 + timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", tz="UTC"))
    return pa.table({
        "event_id": [f"f{index}-{i}" for i in range(rows)],
        "ts": ts,
        "received_at": ts,
        "user_id": [f"u{u}" for u in rng.integers(0, 50_000, rows)],
        "kind": KINDS[rng.integers(0, len(KINDS), rows)],
        "note_id": [f"n{n}" for n in rng.integers(0, 2_000, rows)],
        "brand_id": rng.integers(1, 20, rows),
        "is_bot": np.zeros(rows, dtype=bool),
        "is_duplicate": np.zeros(rows, dtype=bool),
        "source": ["bench"] * rows,
    })


def _query_seconds(root: Path, repeats: int) -> tuple[float, int]:
    best = float("inf")
    total = 0
    for _ in range(repeats):
        started = time.perf_counter()
        con = connect("duckdb", threads=2)
        touch = read_table(con, root, "touch")
        funnel = touch.group_by("note_id").aggregate(
            views=(touch.kind == "impression").sum(), clicks=(touch.kind == "link_click").sum())
        total = int(funnel.clicks.sum().to_pyarrow().as_py())
        best = min(best, time.perf_counter() - started)
    return best, total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compaction", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 flushes of 200 rows")
    parser.add_argument("--files", type=int, default=2000, help="flushes to write (each one file per day touched)")
    parser.add_argument("--rows", type=int, default=500, help="rows per flush")
    parser.add_argument("--days", type=int, default=5, help="UTC days the rows spread over")
    parser.add_argument("--repeats", type=int, default=3, help="query runs; the best is kept")
    args = parser.parse_args(argv)
    files, rows = (100, 200) if args.quick else (args.files, args.rows)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="seedcart-bench-") as tmp:
        root = Path(tmp)
        lake = LakeWriter(root)
        started = time.perf_counter()
        for index in range(files):
            lake.append("touch", _flush(rng, index, rows, args.days))
        write_s = time.perf_counter() - started
        small_files = len(table_files(root, "touch"))
        before_s, clicks_before = _query_seconds(root, args.repeats)
        started = time.perf_counter()
        report = compact(root, "touch", min_files=2)
        compact_s = time.perf_counter() - started
        after_s, clicks_after = _query_seconds(root, args.repeats)
    assert clicks_before == clicks_after, "compaction changed the answer"
    print(f"touch table: {files * rows:,} rows written as {small_files:,} files in {write_s:.1f} s")
    print(f"{'measurement':<44}{'seconds':>10}{'ratio':>10}")
    print(f"{'per-note funnel, small files (reference)':<44}{before_s:>10.3f}{1.0:>10.2f}")
    print(f"{'compaction (' + str(report.files_in) + ' -> ' + str(report.files_out) + ' files)':<44}"
          f"{compact_s:>10.3f}{compact_s / before_s:>10.2f}")
    print(f"{'per-note funnel, compacted':<44}{after_s:>10.3f}{after_s / before_s:>10.2f}")
    print(f"reader speed-up after compaction: {before_s / after_s:.1f}x "
          f"(bytes {report.bytes_in:,} -> {report.bytes_out:,})")


if __name__ == "__main__":
    main()
