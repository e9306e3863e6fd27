"""Dedupe index benchmark: CPU per key to record and to look up random keys (UUID messageIds, as
Segment's libraries make them) as the index grows, against the index as it was before (``before``:
an index on each key's hour, no in-memory filter) and a bare SQLite table of the keys alone, in the
same run.

``python -m benchmarks.dedupe [--quick] [--keys N] [--batch B] [--lookup L]``

Each layout records the same keys in transactions of ``B`` (a lake flush's keys), with the
``DedupeIndex`` code the flusher runs, and after each quarter of them looks up ``L`` keys in batches
of 500 (a request's messageIds: 1 in 50 recorded before, a retry) the way the event loop does (the server's
index with its filter loaded; ``before`` without). The bare table
is the plain way: one B-tree of the keys alone, filled row by row (``executemany``, sorted) in the same
transactions, looked up with ``IN`` lists. Printed: microseconds of CPU per key for each quarter, and
the ratios.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from seedcart.collect.dedupe import TOUCH, DedupeIndex, touch_key


def _keys(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [touch_key(str(uuid.UUID(int=rng.getrandbits(128), version=4))) for _ in range(n)]


def _probes(recorded: list[str], fresh: list[str], n: int) -> list[list[str]]:
    """Batches of 500 keys to look up: 1 in 50 already recorded (a retry), the others never seen."""
    rng = random.Random(len(recorded))
    mixed = [*rng.sample(recorded, n // 50), *fresh[:n - n // 50]]
    rng.shuffle(mixed)
    return [mixed[i:i + 500] for i in range(0, len(mixed), 500)]


def run_index(directory: Path, keys: list[str], fresh: list[str], batch: int, lookups: int, *,
              hour_index: bool) -> list[tuple[float, float]]:
    """``(record, lookup)`` us of CPU per key for each quarter, through DedupeIndex."""
    index = DedupeIndex(directory / "dedupe.sqlite")
    if hour_index:  # as before: every key also in an index on its hour, and no filter
        index._db.execute("CREATE INDEX seen_bucket ON seen (bucket)")
    else:  # as the server runs it
        index.load_filter()
    out = []
    quarter = len(keys) // 4
    position = 0
    for q in range(4):
        part = keys[q * quarter:(q + 1) * quarter]
        started = time.process_time()
        for i in range(0, len(part), batch):
            position += 1
            index.record_keys({TOUCH: part[i:i + batch]}, position)
        record = (time.process_time() - started) / len(part) * 1e6
        probes = _probes(keys[:(q + 1) * quarter], fresh, lookups)
        started = time.process_time()
        for probe in probes:
            index.seen(probe)
        out.append((record, (time.process_time() - started) / lookups * 1e6))
    index.close()
    return out


def run_bare(directory: Path, keys: list[str], fresh: list[str], batch: int, lookups: int) -> list[tuple[float, float]]:
    """The plain way: the keys alone in one WITHOUT ROWID B-tree, inserted and looked up sorted."""
    db = sqlite3.connect(directory / "bare.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA mmap_size=1073741824")
    db.execute("CREATE TABLE seen (k TEXT PRIMARY KEY) WITHOUT ROWID")
    out = []
    quarter = len(keys) // 4
    for q in range(4):
        part = keys[q * quarter:(q + 1) * quarter]
        started = time.process_time()
        for i in range(0, len(part), batch):
            db.execute("BEGIN")
            db.executemany("INSERT OR IGNORE INTO seen (k) VALUES (?)", [(k,) for k in sorted(part[i:i + batch])])
            db.execute("COMMIT")
        record = (time.process_time() - started) / len(part) * 1e6
        probes = _probes(keys[:(q + 1) * quarter], fresh, lookups)
        started = time.process_time()
        for probe in probes:
            marks = ",".join("?" * len(probe))
            db.execute(f"SELECT k FROM seen WHERE k IN ({marks})", sorted(probe)).fetchall()
        out.append((record, (time.process_time() - started) / lookups * 1e6))
    db.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dedupe", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k keys instead of 2M")
    parser.add_argument("--keys", type=int, default=None)
    parser.add_argument("--batch", type=int, default=5000, help="keys per recording transaction")
    parser.add_argument("--lookup", type=int, default=50_000, help="keys looked up after each quarter")
    args = parser.parse_args(argv)
    n = args.keys or (100_000 if args.quick else 2_000_000)
    keys, fresh = _keys(n, 1), _keys(args.lookup, 2)
    with tempfile.TemporaryDirectory(prefix="seedcart-bench-dedupe-") as tmp:
        results = {}
        for name in ("index", "before", "bare"):
            directory = Path(tmp) / name
            directory.mkdir()
            if name == "bare":
                results[name] = run_bare(directory, keys, fresh, args.batch, args.lookup)
            else:
                results[name] = run_index(directory, keys, fresh, args.batch, args.lookup, hour_index=name == "before")
    print(f"{n:,} random UUID keys recorded in transactions of {args.batch:,}; {args.lookup:,} looked up per quarter "
          "(batches of 500, 1 in 50 recorded before); us of CPU per key")
    print(f"{'keys held':>12} | {'record':>8} {'before':>8} {'bare':>8} {'vs bare':>8} {'before/now':>10} | "
          f"{'lookup':>8} {'before':>8} {'bare':>8} {'vs bare':>8} {'before/now':>10}")
    for q in range(4):
        (rec, look), (hrec, hlook), (brec, blook) = (results[k][q] for k in ("index", "before", "bare"))
        print(f"{n * (q + 1) // 4:>12,} | {rec:>8.2f} {hrec:>8.2f} {brec:>8.2f} {rec / brec:>8.2f} "
              f"{hrec / rec:>10.2f} | {look:>8.2f} {hlook:>8.2f} {blook:>8.2f} {look / blook:>8.2f} "
              f"{hlook / look:>10.2f}")


if __name__ == "__main__":
    main()
