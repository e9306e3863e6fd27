"""Fixtures of the measure tests: a small lake with countable answers and a store over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from seedcart.catalog.db import Catalog
from seedcart.config import Settings
from seedcart.measure.store import ReportStore
from seedcart.measure.testing import World, small_world


@pytest.fixture
def world(settings: Settings, catalog: Catalog) -> World:
    """``small_world`` written into the test's data dir (see its docstring for the numbers)."""
    return small_world(settings.resolved_lake_root, catalog)


@pytest.fixture
def store(settings: Settings, catalog: Catalog, world: World) -> Iterator[ReportStore]:
    """A report store over ``world``, rollups built."""
    st = ReportStore(settings.resolved_lake_root, catalog)
    st.refresh()
    yield st
    st.close()
