"""The DuckDB rebuild writes credit with COPY straight to the lake: same rows as the portable Arrow path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from tests.attribute.worlds import random_world

from seedcart.attribute import attribute_arrow, rebuild_credit
from seedcart.attribute.config import config_from_settings
from seedcart.config import Settings
from seedcart.lake.reader import read_credit, table_files
from seedcart.lake.writer import LakeWriter

KEY = ["model", "partner", "event_id", "touch_event_id"]


def _lake_credit(settings: Settings) -> pa.Table:
    return read_credit(settings.resolved_lake_root)


def _sorted(table: pa.Table) -> list[dict[str, Any]]:
    return table.sort_by([(k, "ascending") for k in KEY]).to_pylist()


@pytest.mark.slow
def test_copy_rebuild_equals_the_portable_arrow_path_and_replaces_every_partition(settings: Settings) -> None:
    t, e, i = random_world(seed=5)
    writer = LakeWriter(settings.resolved_lake_root)
    for name, data in (("touch", t), ("backflow", e), ("identity", i)):
        writer.append(name, data)
    expected = attribute_arrow(ibis.memtable(t), ibis.memtable(e), ibis.memtable(i), config_from_settings(settings))
    pairs = {(r["partner"], r["event_id"], r["touch_event_id"]) for r in expected.to_pylist()}
    assert rebuild_credit(settings) == len(pairs) > 50  # stored: one row per credited (event, touch)
    assert rebuild_credit(settings) == len(pairs)  # a second rebuild replaces, never adds
    written = _lake_credit(settings)
    assert written.num_rows == expected.num_rows > 5 * len(pairs)  # read back: a row per model
    got, want = _sorted(written), _sorted(expected)
    assert len(got) == len(want)
    for mine, theirs in zip(got, want, strict=True):
        for name, value in theirs.items():
            if isinstance(value, float):
                assert mine[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
            else:
                assert mine[name] == value, name
    root = settings.resolved_lake_root
    assert len({p.parent.name for p in table_files(root, "credit")}) > 1  # partitioned by date
    assert not list((Path(root) / "credit").glob(".rebuild-*"))
