"""The dedupe index: keys recorded in SQLite, keys claimed since, and both after a reopen."""

from __future__ import annotations

from pathlib import Path

from seedcart.collect.dedupe import DedupeIndex, touch_key


def test_seen_finds_recorded_and_claimed_keys_and_survives_a_reopen(tmp_path: Path) -> None:
    index = DedupeIndex(tmp_path / "dedupe.sqlite")
    entries = [(3, "touch", [{"event_id": f"e{i}"} for i in range(3)]),
               (4, "backflow", [{"partner": "jd", "event_id": "b1", "action": "order", "order_id": "o1"}])]
    assert index.record(entries, 4) == 5
    index.claim([touch_key("fresh")])
    odd = ["t:防晒", "t:quote\"d\\", "t:"]  # non-ASCII, JSON quoting, an empty id
    index.claim(odd[:1])
    asked = [touch_key("e0"), touch_key("e2"), touch_key("fresh"), "o:jd:o1:order", touch_key("new"), *odd]
    assert index.seen(asked) == {touch_key("e0"), touch_key("e2"), touch_key("fresh"), "o:jd:o1:order", odd[0]}
    index.close()

    reopened = DedupeIndex(tmp_path / "dedupe.sqlite")
    assert reopened.position == 4
    assert reopened.seen([touch_key(f"e{i}") for i in range(5)]) == {touch_key(f"e{i}") for i in range(3)}
    assert reopened.seen([touch_key("fresh")]) == set()  # claimed only in memory, never recorded
    reopened.close()

