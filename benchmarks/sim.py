"""Simulator throughput: lake events per second and peak memory, vs pyarrow writing as many rows.

``python -m benchmarks.sim [--quick] [--events N] [--users-per-block B]``

The reference is measured in the same run: pyarrow writing the same number of rows of random
data (an event id, two timestamps, a user, a number, a flag) to zstd Parquet through the same
atomic writer, in chunks of a million rows. Peak memory is the process's maximum resident set
(``resource.getrusage``), read after the simulation and before the reference runs.

Wall-clock rates depend on what else runs on the machine, so CPU time (``time.process_time``,
every thread of the process) is reported too: events per CPU-second times the cores is the
rate the simulator reaches when it has the cores to itself (its generator and writer threads
keep them all busy), printed as the "idle-machine bound". The calling thread generates the chunks
and its work cannot be spread over cores, so events / max(its CPU s, CPU s / cores) is printed
too: the "critical-path bound", which is the lower of the two when generation is the bottleneck.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from seedcart.config import load_settings
from seedcart.lake.schemas import TS
from seedcart.lake.writer import write_parquet_atomic
from seedcart.sim import WorldConfig
from seedcart.sim.ids import hex_strings
from seedcart.sim.run import write_lake
from seedcart.sim.world import build_world

#: Lake events (touch + backflow rows) per user-day at the default behaviour.
EVENTS_PER_USER_DAY = 16.5


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def reference(rows: int, root: Path) -> tuple[float, float]:
    """Wall and CPU seconds pyarrow takes to write ``rows`` rows of random data to Parquet, a million at a time."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    cpu = time.process_time()
    done, part = 0, 0
    while done < rows:
        n = min(1 << 20, rows - done)
        ts = rng.integers(1_790_000_000_000_000, 1_790_086_400_000_000, size=n)
        table = pa.table({
            "event_id": hex_strings(rng.integers(0, 2**63, size=n).astype(np.uint64)),
            "ts": pa.array(ts, TS), "received_at": pa.array(ts + 1_000_000, TS),
            "user_id": pa.array(rng.integers(0, 100_000, size=n).astype(str)),
            "value": pa.array(rng.integers(0, 1_000, size=n)), "flag": pa.array(rng.random(n) < 0.1),
        })
        write_parquet_atomic(table, root / f"ref-{part}.parquet")
        done += n
        part += 1
    return time.perf_counter() - started, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.sim", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 1M events")
    parser.add_argument("--events", type=int, default=None, help="target lake events (default 20M; quick 1M)")
    parser.add_argument("--days", type=int, default=10, help="days simulated")
    parser.add_argument("--users-per-block", type=int, default=20_000, help="users per generation chunk")
    args = parser.parse_args(argv)
    target = args.events or (1_000_000 if args.quick else 20_000_000)
    users = max(100, round(target / (args.days * EVENTS_PER_USER_DAY)))
    config = WorldConfig(users=users, days=args.days, seed=1, block_users=min(users, args.users_per_block))
    with tempfile.TemporaryDirectory(prefix="seedcart-bench-sim-") as tmp:
        settings = load_settings({"SEEDCART__DATA_DIR": tmp, "SEEDCART__ALLIANCE_SECRET": "benchmark-alliance-secret"})
        rss_before = _current_rss_mb()
        started = time.perf_counter()
        world = build_world(config, settings.alliance_key())
        built = time.perf_counter() - started
        load_before = os.getloadavg()[0]
        started, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
        stats, files = write_lake(world, settings.resolved_lake_root)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        main_cpu_seconds = time.thread_time() - main_cpu
        load_after = os.getloadavg()[0]
        peak = _rss_mb()
        ref_dir = Path(tmp) / "reference"
        ref_seconds, ref_cpu = reference(stats.events, ref_dir)
    sim_rate = stats.events / seconds
    ref_rate = stats.events / ref_seconds
    print(f"world: {users} users x {args.days} days, {config.block_users} users per block; "
          f"built in {built:.2f} s (match keys included)")
    print(f"{'measure':<44}{'value':>16}{'ratio':>10}")
    print(f"{'lake events written (touch + backflow)':<44}{stats.events:>16,}")
    print(f"{'truth + identity rows (not counted)':<44}{stats.rows['truth'] + stats.rows['identity']:>16,}")
    print(f"{'parquet files':<44}{files:>16,}")
    print(f"{'simulator events/s':<44}{sim_rate:>16,.0f}{sim_rate / ref_rate:>10.2f}")
    print(f"{'reference: pyarrow random rows -> parquet /s':<44}{ref_rate:>16,.0f}{1.0:>10.2f}")
    cpu_rate, ref_cpu_rate = stats.events / cpu_seconds, stats.events / ref_cpu
    print(f"{'simulator events per CPU-second':<44}{cpu_rate:>16,.0f}{cpu_rate / ref_cpu_rate:>10.2f}")
    print(f"{'reference rows per CPU-second':<44}{ref_cpu_rate:>16,.0f}{1.0:>10.2f}")
    cores = os.cpu_count() or 1
    print(f"{'idle-machine bound: cores x events/CPU-s':<44}{cores * cpu_rate:>16,.0f}"
          f"{cpu_rate / ref_cpu_rate:>10.2f}")
    # The calling thread's work cannot be spread over cores, so it bounds the idle-machine rate too.
    critical = stats.events / max(main_cpu_seconds, cpu_seconds / cores)
    print(f"{'critical-path bound: ev / max(main, CPU/cores)':<44}{critical:>16,.0f}"
          f"{critical / (cores * ref_cpu_rate):>10.2f}")
    print(f"{'simulator wall s / CPU s':<44}{f'{seconds:.2f} / {cpu_seconds:.2f}':>16}")
    print(f"{'simulator CPU s on the calling thread':<44}{main_cpu_seconds:>16.2f}")
    print(f"{'cores / load average before, after (1 min)':<44}{f'{cores} / {load_before:.1f}, {load_after:.1f}':>16}")
    print(f"{'peak RSS MB (process, during simulation)':<44}{peak:>16,.0f}")
    print(f"{'RSS MB before the simulation':<44}{rss_before:>16,.0f}")
    print(f"{'peak RSS bytes per event':<44}{(peak - rss_before) * 2**20 / max(stats.events, 1):>16,.1f}")


if __name__ == "__main__":
    main()
