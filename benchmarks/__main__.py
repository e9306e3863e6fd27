"""Run every benchmark in turn: ``python -m benchmarks [--quick] [NAME ...]``.

Each benchmark prints its own table of measurements and ratios against a reference measured in
the same run. Benchmarks never decide pass/fail; they report.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

#: In the order of the data flow.
BENCHMARKS = ("sim", "redirect", "intake", "dedupe", "compaction", "attribution", "incremental", "dashboard")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run, of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    failures = 0
    for name in args.names or BENCHMARKS:
        print(f"\n=== benchmark: {name} ===", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            print(f"(not available: {exc})")
            continue
        try:
            module.main(["--quick"] if args.quick else [])
        except SystemExit as exc:
            if exc.code not in (0, None):
                failures += 1
        except Exception:
            failures += 1
            traceback.print_exc()
        print(f"--- {name}: {time.perf_counter() - started:.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
