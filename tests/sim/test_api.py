"""The simulator's public face: ``seedcart.sim.__all__`` is what it exports, and it imports light."""

from __future__ import annotations

import subprocess
import sys

import seedcart.sim


def test_all_is_what_the_package_exports() -> None:
    public = {name for name in vars(seedcart.sim) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(seedcart.sim, name)).__name__ == "module"}
    assert set(seedcart.sim.__all__) == public - modules - {"annotations"}


def test_importing_the_simulator_loads_no_web_server_or_engine() -> None:
    heavy = "('fastapi', 'uvicorn', 'duckdb', 'pyspark')"
    code = f"import sys, seedcart.sim; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_for_touches_sizes_a_world_for_attribution_benchmarks() -> None:
    import pyarrow.compute as pc

    from seedcart.sim import Faults, WorldConfig, generate_tables

    config = WorldConfig.for_touches(150_000, conversion_rate=0.05, days=5, faults=Faults.off())
    tables = generate_tables(config, b"for-touches-secret-0123456789")
    touches = tables["touch"].num_rows
    orders = pc.sum(pc.equal(tables["backflow"].column("action"), "order")).as_py()
    assert 0.8 * 150_000 < touches < 1.2 * 150_000
    assert 0.035 < orders / touches < 0.065
