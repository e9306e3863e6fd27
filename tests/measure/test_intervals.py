"""Sampling intervals: the rollup's Horvitz-Thompson variance equals attribution's aggregate_credit."""

from __future__ import annotations

import math

import ibis
import pyarrow.parquet as pq
import pytest

from seedcart.catalog.db import Catalog
from seedcart.config import Settings
from seedcart.lake.reader import read_credit
from seedcart.measure.intervals import Z95, ht_variance, interval
from seedcart.measure.rollup import refresh_rollups, rollup_files
from seedcart.measure.schemas import CREDIT_DAY
from seedcart.measure.testing import World


def test_variance_of_a_half_sample() -> None:
    # two events kept at r = 0.5: each (1 - r) / r^2 x^2 = 2
    assert ht_variance([1.0, 1.0], [2.0, 2.0]) == 4.0
    assert ht_variance([5.0], [1.0]) == 0.0
    low, high = interval(4.0, 4.0, floor=0.0)
    assert (low, high) == pytest.approx((max(0.0, 4 - Z95 * 2), 4 + Z95 * 2))


def test_rollup_matches_attribute_aggregate_credit(settings: Settings, catalog: Catalog, world: World) -> None:
    aggregate_credit = pytest.importorskip("seedcart.attribute.intervals").aggregate_credit
    root = settings.resolved_lake_root
    refresh_rollups(root, catalog)
    credit = ibis.memtable(read_credit(root))
    theirs = aggregate_credit(credit, ["note_id", "model"]).to_pyarrow().to_pylist()
    mine = pq.read_table(rollup_files(root, CREDIT_DAY)).to_pylist()
    for group in theirs:
        rows = [r for r in mine if r["note_id"] == group["note_id"] and r["model"] == group["model"]]
        assert sum(r["credited"] for r in rows) == pytest.approx(group["estimate"], rel=1e-9)
        assert math.sqrt(sum(r["credited_var"] for r in rows)) == pytest.approx(group["std_error"], rel=1e-9)
