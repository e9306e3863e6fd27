"""On a simulated world, every model's credit per note ranks notes like the true incremental orders."""

from __future__ import annotations

import numpy as np
import pytest

from seedcart.attribute import AttributionConfig, attribute_arrow
from seedcart.attribute.quality import rank_correlation, spearman
from seedcart.lake.engines import connect, register_arrow
from seedcart.types import MODELS


def test_spearman_on_hand_values() -> None:
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(np.sqrt(3) / 2)


@pytest.mark.slow
def test_rank_correlation_with_true_incremental_orders_per_note() -> None:
    sim = pytest.importorskip("seedcart.sim.generate", reason="the simulator has not landed")
    from seedcart.sim.config import WorldConfig

    tables = sim.generate_tables(WorldConfig.for_touches(30_000, seed=5), b"k" * 32)
    con = connect("duckdb")
    inputs = [register_arrow(con, tables[name], name) for name in ("touch", "backflow", "identity")]
    credit = attribute_arrow(*inputs, AttributionConfig(actions=("order",)))
    report = rank_correlation(credit, tables["truth"])
    print("rank correlation per model:", {m: round(v, 3) for m, v in report.items()})
    assert set(report) == set(MODELS)
    assert all(v > 0.3 for v in report.values()), report
