"""Fixtures of the attribution tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.attribute import helpers


@pytest.fixture(params=["fast", "portable"])
def both_forms(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a hand-worked test through DuckDB's fast path and through the portable Ibis form."""
    before = helpers.FAST_PATHS
    helpers.FAST_PATHS = request.param == "fast"
    yield str(request.param)
    helpers.FAST_PATHS = before
