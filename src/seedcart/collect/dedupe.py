"""The durable dedupe index: exactly-once counts on at-least-once delivery (DESIGN §4), within a window.

Keys (strings): ``t:<event_id>`` for touches, ``b:<partner>:<event_id>`` for backflow,
``o:<partner>:<order_id>:<action>`` for orders and refunds, ``i:<user_id>:<match_key>`` for identities.
The redirect's clicks claim none: their ids are minted by the redirect itself, so no retry can
bring one twice (a click repeated by its reader is a new click, marked ``is_duplicate``).

The index is derived from the log, never ahead of it: a SQLite file records the keys of every log
entry up to a stored position (less those past their retention), in the same transaction as that
position, and is caught up from the log on start. Keys appended since then live in memory
(``recent``) until the flusher records them, so a key is always in at least one of the two places
from the moment its append is queued. Forgetting only ever removes keys, never moves the position.
In the server, an in-memory Bloom filter of the file's keys (:meth:`DedupeIndex.load_filter`,
``seedcart.collect.keyfilter``) answers first: a key it lacks is surely not in the file, so the nearly
all new keys of a request are not looked up there (at a million random keys, a SQLite lookup took
about 1.8 us, the filter about 0.3). The server loads it in the background while it serves.

Retention (DESIGN §4's exactly-once holds within it, not beyond):

- What is deduped, for how long: touches (``t:``) for ``intake.dedupe_retention_touch`` (default
  7 days), backflow event ids and orders/refunds (``b:``, ``o:``) for
  ``intake.dedupe_retention_backflow`` (400 days), identity pairs (``i:``) for
  ``intake.dedupe_retention_identity`` (30 days); 0 keeps a family forever. The index takes them as
  its ``retention`` argument (:meth:`Retention.from_settings`); without one it keeps every key.
- Counted from when the key was received, never from anything the client sent: each key is dated
  to the hour the flusher records it (at or just after its receipt), so an event claiming an old
  timestamp is kept as long as any other. A key is kept at least its retention, and forgotten
  within the hour after (at the next flush that records keys).
- **A retry older than the window is accepted again, and counted a second time**: its key is gone.
- Forgetting runs on the flusher's side after each :meth:`DedupeIndex.record` (never on the request
  path), in transactions of at most ``expire_chunk`` keys so the write lock is never held for long,
  forgetting at least as many due keys as it records. An idle intake forgets nothing, and grows
  nothing either.
- Each key carries its hour (``bucket``), and the keys of each recording are also listed by family
  and hour (``dated``: JSON arrays of at most ``expire_chunk`` keys, sorted): forgetting an hour reads
  its lists and deletes those keys still dated to it. No secondary index on the hour: messageIds are
  random (UUIDs), so every key lands on a random page of the key index, and a second index, as random,
  about doubled the cost of recording a key (and of forgetting it). Keys are recorded and looked up in
  sorted order, each page visited once per batch. A small ``buckets`` table tallies keys per family
  and hour: :meth:`DedupeIndex.stats` (the health report) reads the tallies instead of scanning keys.
- A file from before retention is upgraded in place on open, in one transaction: every key is kept
  and dated to the hour of the upgrade. A file with the former hour index gets its lists from it, and
  loses the index.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from seedcart.collect.keyfilter import KeyFilter
from seedcart.types import Table

if TYPE_CHECKING:
    from seedcart.config import IntakeSettings

logger = logging.getLogger(__name__)

ORDER_ACTIONS = ("order", "refund")
#: The ``source`` of the touches the click redirect records (``seedcart.collect.clicks``).
CLICK_SOURCE = "redirect"
#: The key families: the prefixes the key builders below write (literally: they run per event).
TOUCH, BACKFLOW, ORDER, IDENTITY = "t:", "b:", "o:", "i:"
FAMILY_NAMES = {TOUCH: "touch", BACKFLOW: "backflow", ORDER: "order", IDENTITY: "identity"}
#: Keys are dated to the hour they were recorded: the precision of retention.
BUCKET_SECONDS = 3_600
#: How much of the file the event loop's reader maps.
_READER_MMAP_BYTES = 1 << 30
#: Keys :meth:`DedupeIndex.load_filter` reads per transaction.
_FILL_CHUNK = 100_000
#: Most keys one expiry transaction deletes.
EXPIRE_CHUNK = 5_000
#: SQLite's limit on bound parameters is 32766 since 3.32; stay well under it.
_CHUNK = 900
_JOIN_SQL = "SELECT s.k FROM json_each(?) AS j JOIN seen AS s ON s.k = j.value"
#: (keys as one JSON array, the same one key at a time) for adding keys dated to an hour, and for
#: deleting keys still dated to it; both take (hour, keys)
_INSERT_SQL = ("INSERT OR IGNORE INTO seen (k, bucket) SELECT value, ? FROM json_each(?)",
               "INSERT OR IGNORE INTO seen (bucket, k) VALUES (?, ?)")
_DELETE_SQL = ("DELETE FROM seen WHERE bucket = ? AND k IN (SELECT value FROM json_each(?))",
               "DELETE FROM seen WHERE bucket = ? AND k = ?")
_TALLY_SQL = ("INSERT INTO buckets (family, bucket, keys) VALUES (?, ?, ?) "
              "ON CONFLICT (family, bucket) DO UPDATE SET keys = keys + excluded.keys")
_FAMILY_SQL = "substr(k, 1, instr(k, ':'))"  # the family prefix of a key, as family_of() spells it
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS seen (k TEXT PRIMARY KEY, bucket INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS dated (id INTEGER PRIMARY KEY, family TEXT NOT NULL, bucket INTEGER NOT NULL, "
    "keys TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS dated_hour ON dated (family, bucket, id)",
    "CREATE TABLE IF NOT EXISTS buckets (family TEXT NOT NULL, bucket INTEGER NOT NULL, keys INTEGER NOT NULL, "
    "PRIMARY KEY (family, bucket)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER)",
)
FOREVER = timedelta(0)


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


def touch_keys_of_table(data: pa.Table) -> list[str]:
    """:func:`touch_keys` of touch records held as an Arrow table (``event_id`` and ``source`` columns)."""
    ids = data.column("event_id")
    if data.num_rows:
        ids = ids.filter(pc.fill_null(pc.not_equal(data.column("source"), CLICK_SOURCE), True))
    return [TOUCH + event_id for event_id in ids.to_pylist()]


def keys_of(table: Table | str, record: dict[str, Any]) -> list[str]:
    """Every dedupe key a stored record claims."""
    if table == "touch":
        return touch_keys([record])
    if table == "backflow":
        return backflow_keys(record)
    if table == "identity":
        return [identity_key(record)]
    return []


def family_of(key: str) -> str:
    """The family prefix of a key (``t:``, ``b:``, ``o:``, ``i:``), up to and with its first colon."""
    return key[:key.find(":") + 1]


def bucket_of(seconds: float) -> int:
    """The hour (since the epoch) that a Unix time falls in."""
    return int(seconds // BUCKET_SECONDS)


def bucket_start(bucket: int) -> str:
    """When an hour bucket begins, as ISO 8601 UTC."""
    return datetime.fromtimestamp(bucket * BUCKET_SECONDS, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Retention:
    """How long each family of keys is kept after it is recorded; ``FOREVER`` (0) keeps it for good.

    Orders and refunds (``o:``) share the backflow retention with the backflow event ids (``b:``).
    """

    touch: timedelta = FOREVER
    backflow: timedelta = FOREVER
    identity: timedelta = FOREVER

    @classmethod
    def from_settings(cls, intake: IntakeSettings) -> Retention:
        """The retention the intake settings ask for."""
        return cls(touch=intake.dedupe_retention_touch, backflow=intake.dedupe_retention_backflow,
                   identity=intake.dedupe_retention_identity)

    def by_family(self) -> dict[str, timedelta]:
        """Each family prefix and how long its keys are kept."""
        return {TOUCH: self.touch, BACKFLOW: self.backflow, ORDER: self.backflow, IDENTITY: self.identity}


def keys_by_family(entries: Iterable[tuple[int, str, list[dict[str, Any]]]]) -> dict[str, list[str]]:
    """The keys of log ``entries``, grouped by family (touches, the bulk, without a look at each key)."""
    families: dict[str, list[str]] = defaultdict(list)
    for _end, table, records in entries:
        if table == "touch":
            families[TOUCH].extend(touch_keys(records))
            continue
        for record in records:
            for key in keys_of(table, record):
                families[family_of(key)].append(key)
    return families


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


class DedupeIndex:
    """Seen keys: a SQLite file caught up from the log, plus the keys appended since.

    ``retention``: how long each family is kept (default: forever); ``clock``: Unix seconds now
    (tests pass their own); ``expire_chunk``: most keys one expiry transaction deletes.
    """

    def __init__(self, path: Path, *, retention: Retention | None = None, clock: Callable[[], float] = time.time,
                 expire_chunk: int = EXPIRE_CHUNK) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention = retention or Retention()
        self.expire_chunk = max(1, expire_chunk)
        self._clock = clock
        # One connection writes (the flusher's thread), one reads (the event loop): WAL lets the
        # reads go on while a large batch of keys is being recorded.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        self._create_or_upgrade()
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # The reader maps the file (the page cache, no read call per page): a batch's keys, random
        # UUIDs, each land on a page of their own; at a million keys about 1.8 against 2.9 us per key.
        self._reader.execute(f"PRAGMA mmap_size={_READER_MMAP_BYTES:d}")
        self._read_lock = threading.Lock()
        self._json = True
        #: keys claimed by appends in flight, or appended since the flusher last recorded them
        self.recent: set[str] = set()
        #: (log position, keys) of each append since: :meth:`prune` drops those the SQLite file holds
        self._appended: list[tuple[int, list[str]]] = []
        #: every key the SQLite file holds, and a few others, once :meth:`load_filter` has run
        self._filter: KeyFilter | None = None
        #: the filter :meth:`load_filter` is filling, until it is complete
        self._loading: KeyFilter | None = None
        self._loader: threading.Thread | None = None
        self._closing = threading.Event()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer connection (rolled back if the block raises)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _create_or_upgrade(self) -> None:
        """Create the tables; in a file from before retention, date every key to this hour (all are kept);
        in a file from before the lists of dated keys, list every key (and drop the hour index)."""
        with self._writing() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(seen)")}
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            undated = bool(columns) and "bucket" not in columns
            unlisted = bool(columns) and "dated" not in tables
            now = bucket_of(self._clock())
            if undated:  # the default dates the existing rows without rewriting them
                logger.info("dedupe index %s: dating its keys to this hour (none is dropped)", self.path)
                db.execute(f"ALTER TABLE seen ADD COLUMN bucket INTEGER NOT NULL DEFAULT {now:d}")
            for statement in _SCHEMA:
                db.execute(statement)
            if undated:
                db.execute(f"INSERT INTO buckets (family, bucket, keys) SELECT {_FAMILY_SQL}, ?, count(*) "
                           "FROM seen GROUP BY 1", (now,))
            if unlisted:
                logger.info("dedupe index %s: listing its keys by hour for expiry (none is dropped)", self.path)
                self._list_every_key()
            db.execute("DROP INDEX IF EXISTS seen_bucket")

    def _list_every_key(self) -> None:
        """Fill ``dated`` from the keys in ``seen`` (an upgrade, inside the caller's transaction)."""
        rows = self._db.execute("SELECT bucket, k FROM seen ORDER BY bucket, k")
        group: tuple[int, str] | None = None
        keys: list[str] = []
        for bucket, key in rows:
            at = (bucket, family_of(key))
            if at != group or len(keys) >= self.expire_chunk:  # an hour's keys need not all be in memory
                if group is not None:
                    self._list(group[1], group[0], keys)
                group, keys = at, []
            keys.append(key)
        if group is not None:
            self._list(group[1], group[0], keys)

    @property
    def position(self) -> int:
        """The log position up to which every key is in the SQLite file."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = 'position'").fetchone()
        return int(row[0]) if row else 0

    def load_filter(self, *, background: bool = False) -> threading.Thread | None:
        """Read every key of the SQLite file into an in-memory filter (``seedcart.collect.keyfilter``),
        which :meth:`seen` asks before the file: a key it surely lacks is not looked up there.

        Call it in the process that appends (the server), once the log is replayed: from the call on,
        every key this object records and every key :meth:`prune` drops from memory goes into the
        filter too. Keys another process records (the flush worker) were appended by this process:
        they are in ``recent`` until pruned, and go into the filter then.

        The keys are read in key order, a chunk per read transaction, on a connection of the reader's
        own. ``background``: by a thread (returned) while the server serves; :meth:`seen` asks the file
        about every key until the filter is complete (``filter_state``). Reading takes about 0.8 us a
        key: some 80 s per 100M keys held, which a restart would otherwise wait for before serving.
        """
        with self._read_lock:
            held = int(self._reader.execute("SELECT coalesce(sum(keys), 0) FROM buckets").fetchone()[0])
        building = KeyFilter(capacity=max(1 << 20, 2 * held))
        self._loading = building  # from here on, recorded and pruned keys go into it as well
        if not background:
            self._fill(building)
            return None
        loader = threading.Thread(target=self._fill, args=(building,), name="dedupe-filter", daemon=True)
        self._loader = loader
        loader.start()
        return loader

    def _fill(self, building: KeyFilter) -> None:
        """Add every key of the file to ``building``, then make it the filter :meth:`seen` asks."""
        started = time.monotonic()
        con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            rows = con.execute("SELECT k FROM seen ORDER BY k LIMIT ?", (_FILL_CHUNK,)).fetchall()
            while rows and not self._closing.is_set():
                building.add([row[0] for row in rows])
                rows = con.execute("SELECT k FROM seen WHERE k > ? ORDER BY k LIMIT ?",
                                   (rows[-1][0], _FILL_CHUNK)).fetchall()
        except Exception:  # the file answers every key without the filter, only more slowly
            logger.exception("dedupe index %s: loading the in-memory filter failed; lookups go to the file",
                             self.path)
            self._loading = None
            return
        finally:
            con.close()
        if self._closing.is_set():
            return
        self._filter = building  # before _loading is cleared: _remember reads them in the other order
        self._loading = None
        logger.info("dedupe index %s: %d keys in the in-memory filter (%.1f MB) in %.1f s", self.path, building.keys,
                    building.nbytes / 1e6, time.monotonic() - started)

    def _remember(self, keys: list[str]) -> None:
        """Add keys the file now holds to the filter, and to the one being loaded (read first: a load
        that completes in between has set ``_filter`` before clearing ``_loading``)."""
        loading, current = self._loading, self._filter
        if loading is not None:
            loading.add(keys)
        if current is not None and current is not loading:
            current.add(keys)

    @property
    def filter_state(self) -> str:
        """``ready`` (:meth:`seen` asks the filter first), ``loading`` or ``off`` (not loaded)."""
        return "ready" if self._filter is not None else "loading" if self._loading is not None else "off"

    def seen(self, keys: list[str]) -> set[str]:
        """The subset of ``keys`` already claimed (recorded, or appended since)."""
        found = self.recent.intersection(keys)
        rest = [k for k in keys if k not in found] if found else keys
        if rest and self._filter is not None:  # only the keys the file may hold are looked up there
            rest = self._filter.might_hold(rest)
        if rest:
            with self._read_lock:  # in order: each page of the key index is read once
                found.update(self._recorded(sorted(rest)))
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
        self.recent.update(keys)

    def release(self, keys: Iterable[str]) -> None:
        """Forget keys whose append failed, so a retry is not taken for a duplicate."""
        self.recent.difference_update(keys)

    def appended(self, keys: Iterable[str], position: int) -> None:
        """Note the log position whose entry holds ``keys`` (claimed before; one record per append, not
        per key)."""
        self._appended.append((position, keys if isinstance(keys, list) else list(keys)))

    def record(self, entries: Iterable[tuple[int, str, list[dict[str, Any]]]], position: int) -> int:
        """Store the keys of log ``entries``, dated to this hour, and the position they reach, in one
        transaction; then forget expired keys, at least as many as were stored when that many are due
        (so the file does not grow once it is as old as its retention). Returns how many keys were stored."""
        return self.record_keys(keys_by_family(entries), position)

    def record_keys(self, families: dict[str, list[str]], position: int) -> int:
        """:meth:`record` of keys already grouped by family (:func:`keys_by_family`)."""
        bucket = bucket_of(self._clock())
        with self._writing() as db:
            for family, keys in families.items():
                self._remember(keys)
                ordered = sorted(keys)  # each page of the key index is visited once, in order
                added = self._each_key(_INSERT_SQL, bucket, ordered)
                if added:
                    db.execute(_TALLY_SQL, (family, bucket, added))
                self._list(family, bucket, ordered)
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('position', ?)", (position,))
        recorded = sum(len(keys) for keys in families.values())
        try:
            self.expire(recorded + self.expire_chunk)
        except sqlite3.Error:  # the keys and position are stored; expiry is tried again on the next record
            logger.exception("dedupe index %s: forgetting expired keys failed", self.path)
        return recorded

    def _each_key(self, statements: tuple[str, str], bucket: int, keys: list[str]) -> int:
        """Run ``statements`` (``_INSERT_SQL`` or ``_DELETE_SQL``) for ``keys`` and hour ``bucket``
        inside the caller's transaction; how many rows changed. As one JSON array when SQLite has JSON
        and the keys encode, which spares a Python round trip per key."""
        by_array, by_key = statements
        before = self._db.total_changes
        if self._json:
            try:
                self._db.execute(by_array, (bucket, orjson.dumps(keys).decode()))
                return self._db.total_changes - before
            except (sqlite3.OperationalError, TypeError):
                pass
        self._db.executemany(by_key, [(bucket, k) for k in keys])
        return self._db.total_changes - before

    def _list(self, family: str, bucket: int, keys: list[str]) -> None:
        """Note ``keys`` as recorded in ``bucket``, for :meth:`_forget`: in lists of at most a chunk."""
        chunk = self.expire_chunk
        self._db.executemany("INSERT INTO dated (family, bucket, keys) VALUES (?, ?, ?)",
                             [(family, bucket, orjson.dumps(keys[i:i + chunk]).decode())
                              for i in range(0, len(keys), chunk)])

    def expire(self, limit: int | None = None) -> int:
        """Forget keys older than their family's retention, oldest hours first: at most ``limit`` listed
        keys looked at (default one chunk), ``expire_chunk`` per transaction. Returns how many were
        forgotten (a key recorded again in a later hour is listed there too, and forgotten only then)."""
        budget = self.expire_chunk if limit is None else limit
        spent = forgotten = 0
        for bucket, family in self._due():
            while spent < budget:
                deleted, looked, done = self._forget(family, bucket, min(self.expire_chunk, budget - spent))
                forgotten += deleted
                spent += looked
                if done:  # the hour is empty now
                    break
            if spent >= budget:
                break
        return forgotten

    def _due(self) -> list[tuple[int, str]]:
        """``(bucket, family)`` of every hour whose keys have all outlived their family's retention."""
        now = self._clock()
        due: list[tuple[int, str]] = []
        with self._lock:
            for family, keep in self.retention.by_family().items():
                if keep <= FOREVER:
                    continue
                cutoff = bucket_of(now - keep.total_seconds())  # hours before it ended at least `keep` ago
                rows = self._db.execute("SELECT bucket FROM buckets WHERE family = ? AND bucket < ?", (family, cutoff))
                due.extend((bucket, family) for (bucket,) in rows)
        return sorted(due)

    def _forget(self, family: str, bucket: int, chunk: int) -> tuple[int, int, bool]:
        """Delete the next ``chunk`` listed keys of ``family`` recorded in ``bucket`` (those still dated
        to it), in one transaction: ``(deleted, keys looked at, whether the hour has no list left)``.
        When none is left, the hour's tally goes too."""
        deleted = looked = 0
        with self._writing() as db:
            while looked < chunk:
                row = db.execute("SELECT id, keys FROM dated WHERE family = ? AND bucket = ? ORDER BY id LIMIT 1",
                                 (family, bucket)).fetchone()
                if row is None:
                    db.execute("DELETE FROM buckets WHERE family = ? AND bucket = ?", (family, bucket))
                    return deleted, looked, True
                listed: list[str] = orjson.loads(row[1])
                now, rest = listed[:chunk - looked], listed[chunk - looked:]
                deleted += self._each_key(_DELETE_SQL, bucket, now)
                looked += len(now)
                if rest:
                    db.execute("UPDATE dated SET keys = ? WHERE id = ?", (orjson.dumps(rest).decode(), row[0]))
                else:
                    db.execute("DELETE FROM dated WHERE id = ?", (row[0],))
            db.execute("UPDATE buckets SET keys = keys - ? WHERE family = ? AND bucket = ?", (deleted, family, bucket))
        return deleted, looked, False

    def prune(self, position: int) -> None:
        """Drop in-memory keys whose entries the SQLite file now holds (call on the owning thread): a
        walk over the appends since the last prune, not over every key in memory."""
        keep: list[tuple[int, list[str]]] = []
        for at, keys in self._appended:
            if at <= position:
                self._remember(keys)  # the file holds them now: the filter must too
                self.recent.difference_update(keys)
            else:
                keep.append((at, keys))
        self._appended = keep

    def count(self) -> int:
        """How many keys the SQLite file holds (counted: a scan of the whole index; see ``stats``)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Keys kept and the oldest hour kept, in all and per family, from the tallies (no scan)."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT family, sum(keys), min(bucket) FROM buckets WHERE keys > 0 GROUP BY family").fetchall()
        families = {FAMILY_NAMES.get(family, family): {"keys": int(keys), "oldest": bucket_start(oldest)}
                    for family, keys, oldest in rows}
        oldest = min((row[2] for row in rows), default=None)
        return {"keys": sum(int(row[1]) for row in rows),
                "oldest": None if oldest is None else bucket_start(oldest), "families": families}

    def close(self) -> None:
        """Close the SQLite file (a filter still loading stops at its next chunk)."""
        self._closing.set()
        if self._loader is not None:
            self._loader.join()
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()
