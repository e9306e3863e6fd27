"""Freshness of in-server crediting: an incremental pass against the full pass it replaces, same lake.

``python -m benchmarks.incremental [--quick] [--touches 1M] [--workdir DIR]``

A simulated world (``benchmarks.attribution.generate``) is loaded into a fresh lake, except for the
backflow of its last two hours and 2 % of its last day's touches (arriving late). The attribution service then runs:

1. a full pass over the lake (the reference: what every change cost before incremental passes);
2. an incremental pass after the held-back backflow lands (new orders, "credited within seconds");
3. an incremental pass after the held-back touches land (late touches re-credit the events after them).

Printed: seconds of each, the events each re-credited, and full / incremental. The run ends with a
check that the per-event models' credit equals a full rebuild's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.attribution import _label, _size, generate

#: Of the last day's touches, the share that arrives late (phones that were offline, SDK retries).
LATE_SHARE = 0.02
PER_EVENT = ("last_touch", "first_touch", "linear", "position_based", "time_decay")


def _load(world: Path, root: Path) -> tuple[pa.Table, pa.Table]:
    """Load the world into the lake at ``root``; returns the held-back backflow and touches."""
    from seedcart.lake.writer import LakeWriter

    writer = LakeWriter(root)
    touch = pq.read_table(world / "touch.parquet")
    backflow = pq.read_table(world / "backflow.parquet")
    rng = np.random.default_rng(7)
    end = pc.max(backflow["ts"]).as_py()
    ts_type = backflow.schema.field("ts").type
    last_day = pc.greater(touch["ts"], pa.scalar(end - timedelta(days=1), touch.schema.field("ts").type))
    late = pc.and_(last_day, pa.array(rng.random(touch.num_rows) < LATE_SHARE))
    recent = pc.greater(backflow["ts"], pa.scalar(end - timedelta(hours=2), ts_type))
    writer.append("touch", touch.filter(pc.invert(late)))
    writer.append("backflow", backflow.filter(pc.invert(recent)))
    writer.append("identity", pq.read_table(world / "identity.parquet"))
    return backflow.filter(recent), touch.filter(late)


def _credit(root: Path, models: tuple[str, ...]) -> pa.Table:
    """The credit rows of ``models``, five columns of them (the whole long table does not fit in memory)."""
    import duckdb

    from seedcart.lake.credit import unpack_sql
    from seedcart.lake.reader import files_sql, table_files

    names = ", ".join(f"'{m}'" for m in models)
    rows = unpack_sql(f"read_parquet({files_sql(table_files(root, 'credit'))}, union_by_name = true)")
    return duckdb.sql(f"SELECT model, partner, event_id, touch_event_id, credit FROM ({rows}) "
                      f"WHERE model IN ({names}) ORDER BY ALL").to_arrow_table()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--touches", default="1M")
    parser.add_argument("--quick", action="store_true", help="300K touches")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "seedcart-bench")
    args = parser.parse_args(argv)

    from seedcart.attribute import rebuild_credit
    from seedcart.attribute.service import AttributionService
    from seedcart.config import load_settings
    from seedcart.lake.writer import LakeWriter

    touches = _size("300K" if args.quick else args.touches)
    world = generate(args.workdir, touches)
    data = Path(tempfile.mkdtemp(prefix="incremental-", dir=args.workdir))
    settings = load_settings({"SEEDCART__DATA_DIR": str(data)})
    root = Path(settings.resolved_lake_root)
    held_backflow, held_touches = _load(world, root)
    settings.attribution.incremental_max_share = 1.0  # measure the incremental pass, however large
    service = AttributionService(settings)
    writer = LakeWriter(root)
    rows = []
    for label, land in (("full pass (reference)", None),
                        (f"new backflow: {held_backflow.num_rows:,} events", ("backflow", held_backflow)),
                        (f"late touches: {held_touches.num_rows:,} of the last day", ("touch", held_touches))):
        if land is not None:
            writer.append(*land)
        started = time.perf_counter()
        assert service.run_once(), label
        seconds = time.perf_counter() - started
        assert (service.last_kind == "full") == (land is None), service.last_kind
        rows.append((label, service.last_kind, service.last_events, seconds))
    reference = rows[0][3]
    print(f"\nincremental crediting, {_label(touches)} touches (world {world.name})")
    print("| change | pass | events re-credited | seconds | full / this |\n|---|---|---|---|---|")
    for label, kind, events, seconds in rows:
        shown = "all" if events is None else f"{events:,}"
        print(f"| {label} | {kind} | {shown} | {seconds:.2f} | {reference / seconds:.1f}× |")
    incremental = _credit(root, PER_EVENT)
    rebuild_credit(settings)
    full = _credit(root, PER_EVENT)
    keys = ["model", "partner", "event_id", "touch_event_id"]
    same = incremental.select(keys).equals(full.select(keys)) and (
        pc.max(pc.abs(pc.subtract(incremental["credit"], full["credit"]))).as_py() or 0.0) < 1e-9
    print(f"per-event models equal to a full rebuild afterwards: {same}")
    if not same:
        raise SystemExit("incremental credit differs from a full rebuild")


if __name__ == "__main__":
    main()
