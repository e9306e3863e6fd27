"""A seeded synthetic world with ground truth: the source of demo, test and benchmark data.

>>> summary = simulate(settings, WorldConfig(users=2_000, days=30, seed=7))   # doctest: +SKIP
>>> for table, batch in generate(WorldConfig(users=500, days=3), secret):     # doctest: +SKIP
...     ...

``simulate`` writes the catalog rows and the lake tables (touch, backflow, identity, truth) of
a data dir; ``generate`` yields the same rows as Arrow tables; ``true_incremental`` says what each
note really caused; ``seedcart.sim.wire`` renders rows as Segment batches and partner backflow
files; ``seedcart.sim.stream`` feeds a running server live.
"""

from __future__ import annotations

from seedcart.sim.config import Faults, WorldConfig
from seedcart.sim.generate import SimStats, generate, generate_tables
from seedcart.sim.run import WorldSummary, simulate
from seedcart.sim.truth import true_incremental
from seedcart.sim.world import World, build_world

__all__ = [
    "Faults",
    "SimStats",
    "World",
    "WorldConfig",
    "WorldSummary",
    "build_world",
    "generate",
    "generate_tables",
    "simulate",
    "true_incremental",
]
