"""Lake fixtures: small touch tables spread over a few UTC days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

T0 = datetime(2026, 5, 1, 22, 0, tzinfo=UTC)


def touch_rows(n: int, *, start: int = 0, hours: float = 1.0) -> pa.Table:
    """``n`` touch events, ``hours`` apart from T0 (so they cross midnight UTC), ids ``e<start+i>``."""
    ids = range(start, start + n)
    ts = [T0 + timedelta(hours=hours * i) for i in ids]
    return pa.table({
        "event_id": [f"e{i}" for i in ids],
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "received_at": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "user_id": [f"u{i % 7}" for i in ids],
        "kind": ["read" if i % 3 else "link_click" for i in ids],
        "note_id": [f"n{i % 5}" for i in ids],
        "brand_id": [i % 3 for i in ids],
        "watch_ratio": [i / 100 for i in ids],
        "is_bot": [False] * n,
        "is_duplicate": [False] * n,
        "source": ["sim"] * n,
    })
