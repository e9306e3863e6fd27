"""A small random world (touches, backflow, identity) for engine comparisons and property checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from tests.attribute.helpers import at, event, tables, touch

from seedcart.types import TOUCH_CLASS_OF

KINDS = [*TOUCH_CLASS_OF, "search"]


def random_world(seed: int = 0, users: int = 30, notes: int = 8, touches: int = 240,
                 events: int = 50) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Touches of users on notes of two brands over 30 days, then orders, refunds, duplicates, samples."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(touches):
        note = int(rng.integers(notes))
        kind = str(rng.choice(KINDS, p=[0.3, 0.2, 0.05, 0.05, 0.04, 0.04, 0.04, 0.03, 0.05, 0.2]))
        rows.append(touch(f"t{i}", at(float(rng.uniform(0, 30))), f"n{note}", kind=kind,
                          user=f"u{int(rng.integers(users))}", brand=1 + note % 2,
                          click_id=f"c{i}" if kind == "link_click" else None, is_bot=bool(rng.random() < 0.05),
                          is_duplicate=bool(rng.random() < 0.03), campaign_id=note, placement="feed"))
    clicks = [r for r in rows if r["kind"] == "link_click"]
    evs: list[dict[str, Any]] = []
    for j in range(events):
        ts = at(float(rng.uniform(5, 32)))
        extra: dict[str, Any] = {"partner": str(rng.choice(["jd", "tmall"])),
                                 "sample_rate": float(rng.choice([1.0, 1.0, 0.5]))}
        if clicks and rng.random() < 0.3:
            extra["click_id"] = clicks[int(rng.integers(len(clicks)))]["click_id"]
        evs.append(event(f"e{j}", ts, key=f"k{int(rng.integers(users))}", brand=int(rng.integers(1, 3)),
                         amount=int(rng.integers(100, 10_000)), **extra))
    evs.append(dict(evs[0]))  # a duplicate delivery
    for j in range(0, events, 7):  # refunds of some orders
        order = evs[j]
        evs.append(event(f"r{j}", order["ts"] + timedelta(days=1), action="refund", key=order["match_key"],
                         brand=order["brand_id"], amount=order["amount"] // 2, order_id=order["order_id"],
                         partner=order["partner"], sample_rate=order["sample_rate"]))
    identity = [(f"u{u}", f"k{u}") for u in range(users)] + [(f"u{u}", f"k{(u + 1) % users}") for u in range(5)]
    return tables(rows, evs, identity)
