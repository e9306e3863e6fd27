"""Log records into Arrow for the lake flush: sliced conversion and the date split."""

from __future__ import annotations

from typing import Any

from seedcart.collect.fields import timestamp_us
from seedcart.lake.ingest import _by_date, to_arrow
from seedcart.lake.writer import split_by_date


def _touch(i: int, ts: int) -> dict[str, Any]:
    return {"event_id": f"e{i}", "ts": ts, "received_at": ts, "user_id": "u", "kind": "impression",
            "note_id": f"n{i % 7}", "position": i % 20, "is_bot": False, "is_duplicate": False, "source": "api"}


def test_many_records_convert_in_slices_to_every_row_and_one_day() -> None:
    day = timestamp_us("2026-05-01T00:00:00Z", "ts")
    records = [_touch(i, day + i * 1_000_000) for i in range(5000)]
    table, refused = to_arrow("touch", records)
    assert not refused and table.num_rows == 5000
    assert table.column("event_id").to_pylist() == [r["event_id"] for r in records]
    assert [(d, t.num_rows) for d, t in _by_date("touch", table)] == [("2026-05-01", 5000)]


def test_rows_across_midnight_are_split_by_utc_date_as_the_writer_does() -> None:
    midnight = timestamp_us("2026-05-02T00:00:00Z", "ts")
    table, _ = to_arrow("touch", [_touch(i, midnight + (i - 2) * 1_000_000) for i in range(5)])
    ours = {d: t.num_rows for d, t in _by_date("touch", table)}
    assert ours == {d: t.num_rows for d, t in split_by_date("touch", table)} == {"2026-05-01": 2, "2026-05-02": 3}
