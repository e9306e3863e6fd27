"""Small simulated worlds generated in memory, shared by the simulator tests."""

from __future__ import annotations

import pyarrow as pa

from seedcart.sim import WorldConfig, build_world
from seedcart.sim.generate import SimStats, generate_tables
from seedcart.sim.world import World

SECRET = b"sim-tests-alliance-secret-0123456789"


class SmallWorld:
    """A world, its lake tables and its stats."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.world: World = build_world(config, SECRET)
        self.stats = SimStats()
        self.tables: dict[str, pa.Table] = generate_tables(config, SECRET, world=self.world, stats=self.stats)
