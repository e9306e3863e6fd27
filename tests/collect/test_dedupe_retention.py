"""Retention of the dedupe index: each family of keys is forgotten once its window has passed since the
key was recorded (never by the event's own timestamp), in bounded chunks, and old files upgrade keeping
every key. Real SQLite files; a hand-driven clock instead of sleeping."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from seedcart.catalog.db import Catalog
from seedcart.collect.dedupe import (
    BACKFLOW,
    FOREVER,
    IDENTITY,
    ORDER,
    TOUCH,
    DedupeIndex,
    Retention,
    backflow_keys,
    family_of,
    identity_key,
    touch_key,
)
from seedcart.collect.log import DurableLog, iter_entries
from seedcart.collect.segment import parse_messages
from seedcart.collect.service import IntakeService, Outcome
from seedcart.config import Settings, load_settings

T0 = 1_777_638_600.0  # 2026-05-01T12:30:00Z
HOUR = timedelta(hours=1)
RETENTION = Retention(touch=timedelta(days=7), backflow=timedelta(days=400), identity=timedelta(days=30))
ORDER_ROW = {"partner": "jd", "event_id": "b1", "action": "order", "order_id": "o1"}
ORDER_KEYS = ["b:jd:b1", "o:jd:o1:order"]
Entry = tuple[int, str, list[dict[str, Any]]]


class Clock:
    """Unix seconds that move only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def set(self, after: timedelta) -> None:
        """Put the clock ``after`` T0."""
        self.now = T0 + after.total_seconds()


def open_index(path: Path, clock: Clock, *, retention: Retention = RETENTION, chunk: int = 1000) -> DedupeIndex:
    return DedupeIndex(path / "dedupe.sqlite", retention=retention, clock=clock, expire_chunk=chunk)


def touches(*ids: str, ts: int = int(T0 * 1e6)) -> Entry:
    return (0, "touch", [{"event_id": i, "ts": ts, "received_at": ts, "source": "api"} for i in ids])


def test_each_key_builder_writes_a_key_of_its_family() -> None:
    keys = [touch_key("e"), *backflow_keys(ORDER_ROW), identity_key({"user_id": "u", "match_key": "m"})]
    assert [family_of(k) for k in keys] == [TOUCH, BACKFLOW, ORDER, IDENTITY]


def test_a_key_is_kept_for_its_whole_retention_then_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    index = open_index(tmp_path, clock)
    index.record([touches("e1")], 1)
    clock.set(timedelta(days=7))  # exactly the retention: still a duplicate
    index.record([touches("e2")], 2)  # recording is what forgets
    assert index.seen([touch_key("e1")]) == {touch_key("e1")}
    clock.set(timedelta(days=7) + HOUR)  # past it (keys are dated to the hour)
    index.record([touches("e3")], 3)
    assert index.seen([touch_key(e) for e in ("e1", "e2", "e3")]) == {touch_key("e2"), touch_key("e3")}
    assert index.position == 3  # forgetting never moves the position
    index.close()


def test_order_keys_follow_the_backflow_retention_not_the_touch_one(tmp_path: Path) -> None:
    clock = Clock()
    index = open_index(tmp_path, clock)
    identity = {"user_id": "u1", "match_key": "m" * 64}
    index.record([touches("e1"), (2, "backflow", [ORDER_ROW]), (3, "identity", [identity])], 3)
    asked = [touch_key("e1"), *ORDER_KEYS, "i:u1:" + "m" * 64]
    clock.set(timedelta(days=8))
    index.expire()
    assert index.seen(asked) == set(asked[1:])
    clock.set(timedelta(days=31))
    index.expire()
    assert index.seen(asked) == set(ORDER_KEYS)
    clock.set(timedelta(days=400))
    index.expire()
    assert index.seen(asked) == set(ORDER_KEYS)  # a partner re-posting the order a year on: still once
    clock.set(timedelta(days=401))
    index.expire()
    assert index.seen(asked) == set()
    assert index.stats() == {"keys": 0, "oldest": None, "families": {}}
    index.close()


def test_a_family_kept_forever_is_never_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    index = open_index(tmp_path, clock, retention=Retention(touch=FOREVER, backflow=timedelta(days=1)))
    index.record([touches("e1"), (2, "backflow", [ORDER_ROW])], 2)
    clock.set(timedelta(days=3650))
    assert index.expire() == 2
    assert index.seen([touch_key("e1"), *ORDER_KEYS]) == {touch_key("e1")}
    index.close()


def test_a_client_supplied_old_timestamp_does_not_shorten_retention(tmp_path: Path) -> None:
    clock = Clock()
    index = open_index(tmp_path, clock)
    ancient = int(T0 * 1e6) - 10 * 365 * 86_400_000_000  # the event claims to be ten years old
    index.record([touches("old", ts=ancient), (2, "backflow", [ORDER_ROW | {"ts": ancient}])], 2)
    clock.set(timedelta(days=6))
    index.expire()
    assert index.seen([touch_key("old"), *ORDER_KEYS]) == {touch_key("old"), *ORDER_KEYS}
    index.close()


def test_expiry_deletes_in_chunks_each_its_own_transaction(tmp_path: Path) -> None:
    clock = Clock()
    index = open_index(tmp_path, clock, chunk=3)
    index.record([touches(*(f"e{i}" for i in range(10)))], 1)
    clock.set(timedelta(days=8))
    assert [index.expire() for _ in range(5)] == [3, 3, 3, 1, 0]  # progress, never more than a chunk
    assert index.count() == 0

    clock.set(timedelta(days=0))
    index.record([touches(*(f"f{i}" for i in range(10)))], 2)
    clock.set(timedelta(days=8))
    commits: list[str] = []
    index._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    # Recording one key forgets at most one more than a chunk beyond it (1 + 3 = 4), in chunks of 3.
    assert index.record([touches("g")], 3) == 1
    assert len(commits) == 1 + 2  # the record, then two chunks (3 keys, 1 key)
    assert index.count() == 10 - 4 + 1
    assert index.stats()["families"]["touch"]["keys"] == 7
    index.close()


def _old_schema_file(path: Path, keys: list[str], position: int) -> None:
    """An index file as written before retention: keys without a date."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE seen (k TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER)")
    db.executemany("INSERT INTO seen (k) VALUES (?)", [(k,) for k in keys])
    db.execute("INSERT INTO meta (name, value) VALUES ('position', ?)", (position,))
    db.commit()
    db.close()


def test_an_index_in_the_old_schema_upgrades_in_place_keeping_every_key(tmp_path: Path) -> None:
    keys = [touch_key(f"e{i}") for i in range(50)] + ORDER_KEYS + ["i:u1:m"]
    _old_schema_file(tmp_path / "dedupe.sqlite", keys, 77)
    clock = Clock()
    index = open_index(tmp_path, clock)
    assert index.position == 77 and index.count() == len(keys)
    assert index.seen(keys) == set(keys)
    hour = "2026-05-01T12:00:00Z"  # every key is dated to the hour of the upgrade
    upgraded = {"keys": len(keys), "oldest": hour, "families": {
        "touch": {"keys": 50, "oldest": hour}, "backflow": {"keys": 1, "oldest": hour},
        "order": {"keys": 1, "oldest": hour}, "identity": {"keys": 1, "oldest": hour}}}
    assert index.stats() == upgraded
    index.close()

    clock.set(timedelta(days=6))  # a reopen changes nothing, and six days on every key is still kept
    index = open_index(tmp_path, clock)
    index.expire(limit=1000)
    assert index.seen(keys) == set(keys) and index.stats() == upgraded
    clock.set(timedelta(days=8))
    index.expire(limit=1000)
    assert index.seen(keys) == {*ORDER_KEYS, "i:u1:m"}
    index.close()


def test_an_index_with_the_former_hour_index_upgrades_keeping_each_keys_hour(tmp_path: Path) -> None:
    """A file written when keys were found by an index on their hour: on open the index goes, each key
    keeps its hour, and each hour is still forgotten when its retention has passed (in chunks)."""
    path = tmp_path / "dedupe.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE seen (k TEXT PRIMARY KEY, bucket INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX seen_bucket ON seen (bucket);
        CREATE TABLE buckets (family TEXT NOT NULL, bucket INTEGER NOT NULL, keys INTEGER NOT NULL,
                              PRIMARY KEY (family, bucket)) WITHOUT ROWID;
        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER);
        INSERT INTO meta VALUES ('position', 9);""")
    hour = int(T0 // 3600)
    old, new = [touch_key(f"old{i}") for i in range(7)], [touch_key(f"new{i}") for i in range(2)]
    db.executemany("INSERT INTO seen VALUES (?, ?)", [(k, hour) for k in old] + [(k, hour + 30) for k in new])
    db.executemany("INSERT INTO buckets VALUES ('t:', ?, ?)", [(hour, len(old)), (hour + 30, len(new))])
    db.commit()
    db.close()

    clock = Clock()
    index = open_index(tmp_path, clock, chunk=3)
    assert index.position == 9 and index.seen(old + new) == set(old + new)
    assert not index._db.execute("SELECT name FROM sqlite_master WHERE name = 'seen_bucket'").fetchall()
    clock.set(timedelta(days=7, hours=2))  # the first hour is due, the one 30 hours later is not
    assert [index.expire() for _ in range(4)] == [3, 3, 1, 0]
    assert index.seen(old + new) == set(new)
    assert index.stats()["families"]["touch"]["keys"] == 2
    clock.set(timedelta(days=9))
    assert index.expire() == 2 and index.count() == 0 and index.stats()["keys"] == 0
    index.close()


def test_a_key_recorded_again_is_forgotten_with_the_hour_that_first_stored_it(tmp_path: Path) -> None:
    """Recording the same range of the log twice (a flush redone after a crash) lists its keys twice; the
    key stays dated to its first hour, is forgotten with it, and the second listing deletes nothing."""
    clock = Clock()
    index = open_index(tmp_path, clock)
    index.record([touches("a", "b")], 1)
    clock.set(timedelta(hours=5))
    index.record([touches("a", "b", "c")], 2)
    assert index.stats()["families"]["touch"]["keys"] == 3
    clock.set(timedelta(days=7, hours=2))
    assert index.expire() == 2 and index.seen([touch_key(k) for k in "abc"]) == {touch_key("c")}
    clock.set(timedelta(days=7, hours=7))
    assert index.expire() == 1 and index.count() == 0 and index.stats()["keys"] == 0
    index.close()


def test_retention_comes_from_the_intake_settings() -> None:
    assert Retention.from_settings(load_settings({}).intake) == RETENTION
    intake = load_settings({"SEEDCART__INTAKE__DEDUPE_RETENTION_TOUCH": "36h",
                            "SEEDCART__INTAKE__DEDUPE_RETENTION_BACKFLOW": "0"}).intake
    assert Retention.from_settings(intake) == Retention(touch=timedelta(hours=36), backflow=FOREVER,
                                                        identity=timedelta(days=30))


# -- through the intake: a retry past the window is accepted again ------------------------------------------


def _track(message_id: str, timestamp: str) -> dict[str, Any]:
    return {"type": "track", "event": "note_like", "messageId": message_id, "userId": "u1",
            "timestamp": timestamp, "properties": {"note_id": "n1"}}


def test_a_retry_past_the_window_is_accepted_again_and_one_inside_it_is_not(settings: Settings,
                                                                              catalog: Catalog) -> None:
    clock = Clock()
    log = DurableLog(settings.log_dir)
    log.start_sync()
    index = open_index(settings.log_dir, clock)
    service = IntakeService(settings, catalog, log, index)

    async def send() -> Outcome:  # the client's clock claims 2001: no bearing on how long m1 is kept
        batch = parse_messages([_track("m1", "2001-01-01T00:00:00Z")], None, received_us=int(clock() * 1e6))
        return await service.ingest_front(batch, endpoint="test")

    def flush() -> None:  # what the lake flusher does after writing a step's files
        upto = log.fsynced_position
        index.record(iter_entries(settings.log_dir, index.position, upto), upto)
        index.prune(upto)

    try:
        assert asyncio.run(send()).accepted == 1
        flush()
        for after in (timedelta(hours=1), timedelta(days=7)):
            clock.set(after)
            flush()
            assert (asyncio.run(send()).duplicate, index.recent) == (1, set())  # answered by the SQLite file
        clock.set(timedelta(days=7) + HOUR)
        flush()
        assert asyncio.run(send()).accepted == 1  # forgotten: the retry counts again (documented)
        assert asyncio.run(send()).duplicate == 1  # and is then remembered afresh
        flush()
        assert service.status()["dedupe"]["families"]["touch"] == {"keys": 1, "oldest": "2026-05-08T13:00:00Z"}
    finally:
        log.stop_sync()
        index.close()


@pytest.mark.parametrize("chunk", [1, 1000])
def test_recording_keeps_up_with_what_falls_due(tmp_path: Path, chunk: int) -> None:
    """Each record forgets at least as many due keys as it stores, so a steady stream does not grow the file."""
    clock = Clock()
    index = open_index(tmp_path, clock, chunk=chunk)
    for day in range(20):
        clock.set(timedelta(days=day))
        index.record([touches(*(f"d{day}-{i}" for i in range(5)))], day + 1)
    assert index.count() == 5 * 8  # the last 8 days' keys: a day past 7 days is due at its next hour
    index.close()
