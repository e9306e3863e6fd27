"""Attribution at 1M / 10M / 100M touches from the simulator: seconds and peak memory on DuckDB for
all models, the same Ibis code on Spark local at one size, and each model's rank correlation with
the simulator's true incremental orders per note.

``python -m benchmarks.attribution [--quick] [--sizes 1M,10M,100M] [--spark-size 10M] [--long]``

Each measurement runs in a fresh child process (peak RSS is that process's; Spark's JVM is not
counted). Worlds are generated once per size into ``--workdir`` as Parquet (kept between runs).
Credit is streamed to Parquet by the engine (no Python object per row), as the lake stores it: one
row per credited (event, touch), a column per model (``seedcart.lake.credit``), a file per part the
engine writes at a time (``seedcart.attribute.fast.WRITE_TOUCHES``), as a rebuild does; ``--long`` also
times writing the long rows readers see (one per event, touch and model), the layout before.
The 100M size needs about 60 GB of free disk: its world (5 GB), DuckDB's spill beyond the memory
limit (44 GB were seen) and the credit it writes. "Conversions" are orders
(about 5 % of touches, ``WorldConfig.for_touches``); refunds follow their orders.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

TABLES = ("touch", "backflow", "identity", "truth")


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1_000}K"


def generate(workdir: Path, touches: int) -> Path:
    """The simulated world of about ``touches`` touches as one Parquet file per table (cached)."""
    from seedcart.sim.config import WorldConfig
    from seedcart.sim.generate import generate as sim_generate

    target = workdir / f"world-{touches}"
    done = target / "_done"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for name, table in sim_generate(WorldConfig.for_touches(touches, seed=11), b"benchmark-alliance-key"):
            if name not in TABLES:
                continue
            if name not in writers:
                writers[name] = pq.ParquetWriter(target / f"{name}.parquet", table.schema, compression="zstd")
            writers[name].write_table(table.cast(writers[name].schema))
    finally:
        for writer in writers.values():
            writer.close()
    done.write_text("ok")
    return target


def _attribute_child(engine: str, world: str, out: str, memory_limit: str, threads: int, long: bool,
                     queue: Any) -> None:
    """Child process: read the world, attribute every model, stream credit to Parquet, report."""
    from seedcart.attribute import AttributionConfig, attribute
    from seedcart.attribute.fast import planned_as_written
    from seedcart.attribute.pipeline import stored_parts
    from seedcart.lake.engines import connect, spark_local_session
    from seedcart.lake.schemas import CREDIT_COMPRESSION

    started = time.perf_counter()
    if engine == "duckdb":
        con = connect("duckdb", threads=threads, memory_limit=memory_limit)
        con.raw_sql(f"SET temp_directory = '{Path(out).parent / 'spill'}'")
        con.raw_sql("SET preserve_insertion_order = false")
        read = {n: con.read_parquet(str(Path(world) / f"{n}.parquet")) for n in ("touch", "backflow", "identity")}
    else:
        con = connect("spark", spark_session=spark_local_session(cores=threads, memory="6g"))
        read = {n: con.read_parquet(str(Path(world) / f"{n}.parquet")) for n in ("touch", "backflow", "identity")}
    inputs, config = (read["touch"], read["backflow"], read["identity"]), AttributionConfig(actions=("order",))
    # one row per (event, touch, model), as readers see it; or as the lake stores it: one row per
    # (event, touch), a column per model, in the parts the engine writes one at a time (a file each)
    parts = [attribute(*inputs, config)] if long else stored_parts(*inputs, config)
    Path(out).mkdir()
    with planned_as_written(parts):  # as a rebuild writes them (seedcart.attribute.lake.copy_credit)
        for number, part in enumerate(parts):
            if engine == "duckdb":  # the codec of the lake's credit files
                con.to_parquet(part, Path(out) / f"{number}.parquet", compression=CREDIT_COMPRESSION)
            else:
                con.to_parquet(part, Path(out) / f"{number}.parquet")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put({"seconds": seconds, "peak_bytes": peak})


def measure(engine: str, world: Path, workdir: Path, memory_limit: str, threads: int,
            long: bool = False) -> dict[str, Any]:
    """Run one attribution in a spawned child; returns seconds, peak bytes and the credit's directory."""
    out = workdir / f"credit-{engine}-{world.name}{'-long' if long else ''}"
    shutil.rmtree(out, ignore_errors=True)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_attribute_child,
                       args=(engine, str(world), str(out), memory_limit, threads, long, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        return {"error": f"exit code {proc.exitcode}"}
    result: dict[str, Any] = queue.get()
    result["out"] = out
    return result


def world_counts(world: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect()
    touches = con.sql(f"SELECT count(*) FROM '{world}/touch.parquet'").fetchall()[0][0]
    orders = con.sql(f"SELECT count(*) FROM '{world}/backflow.parquet' WHERE action = 'order'").fetchall()[0][0]
    return {"touches": int(touches), "orders": int(orders)}


def _stored(credit: Path) -> str:
    """SQL of the stored credit rows in a credit directory."""
    return f"read_parquet('{credit}/*.parquet')"


def stored_count(credit: Path) -> int:
    import duckdb

    return int(duckdb.connect().sql(f"SELECT count(*) FROM {_stored(credit)}").fetchall()[0][0])


def _long_rows(credit: Path) -> str:
    """SQL of the long credit rows of a directory of stored rows."""
    from seedcart.lake.credit import unpack_sql

    return unpack_sql(_stored(credit))


def long_count(credit: Path) -> int:
    """How many long rows (event, touch, model) a directory of stored rows holds."""
    import duckdb

    return int(duckdb.connect().sql(f"SELECT count(*) FROM ({_long_rows(credit)})").fetchall()[0][0])


def correlations(world: Path, credit: Path) -> dict[str, float]:
    """Per model, Spearman between credited and true orders per note (aggregated in DuckDB)."""
    import duckdb

    from seedcart.attribute.quality import spearman

    con = duckdb.connect()
    rows = con.sql(f"""
        WITH truth AS (SELECT note_id, count(*) AS n FROM '{world}/truth.parquet'
                       WHERE action = 'order' AND note_id IS NOT NULL GROUP BY 1),
             credited AS (SELECT model, note_id, sum(credit * weight) AS c FROM ({_long_rows(credit)})
                          WHERE action = 'order' GROUP BY 1, 2),
             models AS (SELECT DISTINCT model FROM credited),
             notes AS (SELECT note_id FROM truth UNION SELECT note_id FROM credited)
        SELECT m.model, coalesce(c.c, 0), coalesce(t.n, 0)
        FROM models m CROSS JOIN notes x
        LEFT JOIN credited c ON c.model = m.model AND c.note_id = x.note_id
        LEFT JOIN truth t ON t.note_id = x.note_id""").fetchall()
    out: dict[str, float] = {}
    for model in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == model]
        out[model] = spearman(np.array([r[1] for r in mine]), np.array([r[2] for r in mine]))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attribution", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50K and 100K touches, Spark at 50K")
    parser.add_argument("--sizes", default="1M,10M,100M", help="touch counts, comma-separated")
    parser.add_argument("--spark-size", default="10M", help="size also run on Spark local ('' for none)")
    parser.add_argument("--memory-limit", default="4GB",
                        help="DuckDB memory_limit (spills beyond); the process peaks above it (the path solve's "
                             "arrays are outside it): the table prints the peak")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default=".seedcart/bench-attribution")
    parser.add_argument("--long", action="store_true",
                        help="also time writing the long rows (one per event, touch and model) on DuckDB")
    args = parser.parse_args(argv)
    sizes = [50_000, 100_000] if args.quick else [_size(s) for s in args.sizes.split(",") if s]
    spark_size = 50_000 if args.quick else (_size(args.spark_size) if args.spark_size else 0)
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        world = generate(workdir, n)
        counts = world_counts(world)
        duck = measure("duckdb", world, workdir, args.memory_limit, args.threads)
        spark = measure("spark", world, workdir, args.memory_limit, args.threads) if n == spark_size else None
        long = measure("duckdb", world, workdir, args.memory_limit, args.threads, long=True) if args.long else None
        stored_rows = stored_count(duck["out"]) if "out" in duck else 0
        credit_rows = long_count(duck["out"]) if "out" in duck else 0
        rows.append({"size": _label(n), **counts, "credit_rows": credit_rows, "stored_rows": stored_rows,
                     "duck": duck, "spark": spark, "world": world})
        print(json.dumps({"size": _label(n), **counts, "duckdb_s": duck.get("seconds"),
                          "duckdb_long_s": long.get("seconds") if long else None,
                          "spark_s": spark.get("seconds") if spark else None}), flush=True)
    base = next((r for r in rows if "seconds" in r["duck"]), None)
    print(f"\nattribution, all 7 models, DuckDB (threads={args.threads}, memory_limit={args.memory_limit})")
    print("credit rows: one per (event, touch, model); stored: one per (event, touch), as the lake's files hold them")
    print(f"{'size':>6} {'touches':>12} {'orders':>10} {'credit rows':>12} {'stored':>11} {'duckdb s':>9} "
          f"{'peak GB':>8} {'s per M touches':>16} {'vs first':>9} {'spark s':>8} {'spark/duckdb':>12}")
    for r in rows:
        d, s = r["duck"], r["spark"]
        sec = d.get("seconds")
        per_m = sec / (r["touches"] / 1e6) if sec and r["touches"] else float("nan")
        base_per_m = base["duck"]["seconds"] / (base["touches"] / 1e6) if base else float("nan")
        spark_s = s.get("seconds") if s else None
        print(f"{r['size']:>6} {r['touches']:>12,} {r['orders']:>10,} {r['credit_rows']:>12,} {r['stored_rows']:>11,} "
              f"{(f'{sec:.1f}' if sec else d.get('error', '-')):>9} "
              f"{(d.get('peak_bytes', 0) / 1e9):>8.2f} {per_m:>16.2f} {per_m / base_per_m:>9.2f} "
              f"{(f'{spark_s:.1f}' if spark_s else '-'):>8} "
              f"{(f'{spark_s / sec:.2f}x' if spark_s and sec else '-'):>12}")
    if base is not None:
        print(f"\nrank correlation with true incremental orders per note ({base['size']} world):")
        for model, value in correlations(base["world"], base["duck"]["out"]).items():
            print(f"  {model:<15} {value:6.3f}")


if __name__ == "__main__":
    main()
