"""In-server crediting: new backflow is credited within seconds, late touches re-credit, rebuilds agree."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from tests.attribute.helpers import at, event, tables, touch

from seedcart.attribute import compute_credit, rebuild_credit
from seedcart.attribute.config import config_from_settings
from seedcart.catalog.db import Catalog
from seedcart.config import Settings
from seedcart.lake.reader import read_credit
from seedcart.lake.writer import LakeWriter
from seedcart.serve.app import SERVICES, create_app


def _credit_rows(settings: Settings) -> list[dict[str, Any]]:
    return read_credit(settings.resolved_lake_root).to_pylist()


def _wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the credit table")
        time.sleep(0.2)


def _linear(rows: list[dict[str, Any]], event_id: str) -> set[str]:
    return {r["touch_event_id"] for r in rows if r["model"] == "linear" and r["event_id"] == event_id}


def test_the_service_is_registered() -> None:
    assert "attribution" in [name for name, _ in SERVICES]


@pytest.mark.slow
def test_backflow_is_credited_in_the_server_and_late_touches_recredit(settings: Settings, live_server: Any) -> None:
    writer = LakeWriter(settings.resolved_lake_root)
    t, e, i = tables([touch("t1", at(3), "A")], [event("e1", at(5))])
    writer.append("touch", t)
    writer.append("identity", i)
    live_server(create_app(settings))
    writer.append("backflow", e)
    _wait_for(lambda: _linear(_credit_rows(settings), "e1") == {"t1"})
    late, _, _ = tables([touch("t0", at(1), "B", received_at=at(6))], [])
    writer.append("touch", late)
    _wait_for(lambda: _linear(_credit_rows(settings), "e1") == {"t0", "t1"})
    first = {(r["model"], r["touch_event_id"]): r["credit"] for r in _credit_rows(settings)}
    assert first[("first_touch", "t0")] == 1.0


def test_a_full_rebuild_gives_the_same_table_and_reads_catalog_lookbacks(settings: Settings,
                                                                        catalog: Catalog) -> None:
    writer = LakeWriter(settings.resolved_lake_root)
    t, e, i = tables([touch("t1", at(3), "A"), touch("t2", at(4), "B", kind="like")],
                     [event("e1", at(5)), event("r1", at(6), action="refund", amount=40, order_id="o-e1")])
    for name, data in (("touch", t), ("backflow", e), ("identity", i)):
        writer.append(name, data)
    pairs = rebuild_credit(settings, catalog)  # credited (event, touch) pairs: the rows the files hold
    assert pairs == len({(r["event_id"], r["touch_event_id"]) for r in _credit_rows(settings)}) > 0
    again = compute_credit(settings, catalog)
    assert sorted(map(str, again.to_pylist())) == sorted(map(str, _credit_rows(settings)))
    config = config_from_settings(settings, catalog)
    assert config.lookback["click"] == timedelta(days=15)
