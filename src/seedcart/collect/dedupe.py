"""The durable dedupe index: exactly-once counts on at-least-once delivery (DESIGN §4).

Keys (strings): ``t:<event_id>`` for touches, ``b:<partner>:<event_id>`` for backflow,
``o:<partner>:<order_id>:<action>`` for orders and refunds, ``i:<user_id>:<match_key>`` for identities.
The redirect's clicks claim none: their ids are minted by the redirect itself, so no retry can
bring one twice (a click repeated by its reader is a new click, marked ``is_duplicate``).

The index is derived from the log, never ahead of it: a SQLite file records the keys of every log
entry up to a stored position, in the same transaction as that position, and is caught up from
the log on start. Keys appended since then live in memory (``recent``) until the flusher records
them, so a key is always in at least one of the two places from the moment its append is queued.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from seedcart.types import Table

ORDER_ACTIONS = ("order", "refund")
#: The ``source`` of the touches the click redirect records (``seedcart.collect.clicks``).
CLICK_SOURCE = "redirect"
#: SQLite's limit on bound parameters is 32766 since 3.32; stay well under it.
_CHUNK = 900
_JOIN_SQL = "SELECT s.k FROM json_each(?) AS j JOIN seen AS s ON s.k = j.value"
_INSERT_SQL = "INSERT OR IGNORE INTO seen (k) SELECT value FROM json_each(?)"


def touch_key(event_id: str) -> str:
    """Dedupe key of a front event."""
    return f"t:{event_id}"


def backflow_keys(record: dict[str, Any]) -> list[str]:
    """Dedupe keys of a backflow record: its event id and, for orders and refunds, the order."""
    keys = [f"b:{record['partner']}:{record['event_id']}"]
    if record.get("action") in ORDER_ACTIONS and record.get("order_id"):
        keys.append(f"o:{record['partner']}:{record['order_id']}:{record['action']}")
    return keys


def identity_key(record: dict[str, Any]) -> str:
    """Dedupe key of an identity pair."""
    return f"i:{record['user_id']}:{record['match_key']}"


def touch_keys(records: list[dict[str, Any]]) -> list[str]:
    """The dedupe keys stored touch records claim: every one but the redirect's clicks."""
    return [touch_key(record["event_id"]) for record in records if record.get("source") != CLICK_SOURCE]


def keys_of(table: Table | str, record: dict[str, Any]) -> list[str]:
    """Every dedupe key a stored record claims."""
    if table == "touch":
        return touch_keys([record])
    if table == "backflow":
        return backflow_keys(record)
    if table == "identity":
        return [identity_key(record)]
    return []


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


class DedupeIndex:
    """Seen keys: a SQLite file caught up from the log, plus the keys appended since."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection writes (the flusher's thread), one reads (the event loop): WAL lets the
        # reads go on while a large batch of keys is being recorded.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (k TEXT PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER)")
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._json = True
        #: key -> log position of the entry that claimed it (0 while its append is in flight)
        self.recent: dict[str, int] = {}

    @property
    def position(self) -> int:
        """The log position up to which every key is in the SQLite file."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = 'position'").fetchone()
        return int(row[0]) if row else 0

    def seen(self, keys: list[str]) -> set[str]:
        """The subset of ``keys`` already claimed (recorded, or appended since)."""
        recent = self.recent
        found = {k for k in keys if k in recent}
        rest = [k for k in keys if k not in found] if found else keys
        if rest:
            with self._read_lock:
                found.update(self._recorded(rest))
        return found

    def _recorded(self, keys: list[str]) -> Iterator[str]:
        """Which of ``keys`` the SQLite file holds: one statement whatever their number (the keys go in
        as one JSON array, joined to the index), or ``IN`` lists where SQLite lacks JSON."""
        if self._json:
            try:
                rows = self._reader.execute(_JOIN_SQL, (orjson.dumps(keys).decode(),)).fetchall()
            except sqlite3.OperationalError:  # no json_each in this SQLite build
                self._json = False
            except TypeError:  # not UTF-8 (a lone surrogate): the IN lists answer as they always did
                pass
            else:
                for row in rows:
                    yield row[0]
                return
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            for row in self._reader.execute(f"SELECT k FROM seen WHERE k IN ({marks})", chunk):
                yield row[0]

    def claim(self, keys: Iterable[str]) -> None:
        """Mark keys as claimed by an append in flight."""
        for k in keys:
            self.recent[k] = 0

    def release(self, keys: Iterable[str]) -> None:
        """Forget keys whose append failed, so a retry is not taken for a duplicate."""
        for k in keys:
            self.recent.pop(k, None)

    def appended(self, keys: Iterable[str], position: int) -> None:
        """Note the log position whose entry holds ``keys``."""
        for k in keys:
            self.recent[k] = position

    def record(self, entries: Iterable[tuple[int, str, list[dict[str, Any]]]], position: int) -> int:
        """Store the keys of log ``entries`` and the position they reach, in one transaction."""
        keys: list[str] = []
        for _end, table, records in entries:
            if table == "touch":
                keys.extend(touch_keys(records))
            else:
                for record in records:
                    keys.extend(keys_of(table, record))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._insert(keys)
                self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('position', ?)", (position,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(keys)

    def _insert(self, keys: list[str]) -> None:
        """Add ``keys`` to the SQLite file (inside the caller's transaction): as one JSON array when
        SQLite has JSON and the keys encode, which spares a Python round trip per key."""
        if self._json:
            try:
                self._db.execute(_INSERT_SQL, (orjson.dumps(keys).decode(),))
                return
            except (sqlite3.OperationalError, TypeError):
                pass
        self._db.executemany("INSERT OR IGNORE INTO seen (k) VALUES (?)", [(k,) for k in keys])

    def prune(self, position: int) -> None:
        """Drop in-memory keys whose entries the SQLite file now holds (call on the owning thread)."""
        done = [k for k, p in self.recent.items() if 0 < p <= position]
        for k in done:
            del self.recent[k]

    def count(self) -> int:
        """How many keys the SQLite file holds."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        """Close the SQLite file."""
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()
