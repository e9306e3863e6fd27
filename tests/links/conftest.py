"""Fixtures of the links tests: a seeded world on the shared catalog fixture."""

from __future__ import annotations

import pytest
from tests.links.world import World, seed_world

from seedcart.catalog.db import Catalog


@pytest.fixture
def world(catalog: Catalog) -> World:
    """The seeded world (see tests/links/world.py)."""
    return seed_world(catalog)
