"""Fixtures of the simulator tests: small worlds generated in memory, once per session."""

from __future__ import annotations

import pytest
from tests.sim.worlds import SmallWorld

from seedcart.sim import Faults, WorldConfig


@pytest.fixture(scope="session")
def faulty_world() -> SmallWorld:
    """600 users over 20 days with every fault on."""
    return SmallWorld(WorldConfig(users=600, days=20, seed=11, block_users=250))


@pytest.fixture(scope="session")
def clean_world() -> SmallWorld:
    """The same world with every fault off."""
    return SmallWorld(WorldConfig(users=600, days=20, seed=11, block_users=250, faults=Faults.off()))
