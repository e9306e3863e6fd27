"""Generating a world's lake rows as Arrow tables, chunk by chunk (one day of one block of users).

``generate`` yields ``(table_name, arrow_table)`` pairs conformed to the lake schemas: first the
``identity`` table, then for each chunk its ``touch``, ``backflow`` and ``truth`` rows. Memory is
bounded by one chunk; the same config and secret always yield the same rows in the same order.

Internally the small vocabularies (kinds, partners, notes, ...) are built as Arrow dictionary
arrays over one shared dictionary (``ENCODED``): no string is copied per row, and Parquet writes
their indices as they are (``PARQUET_OPTIONS``); ``generate`` decodes them to the lake schemas.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seedcart.lake.schemas import SCHEMAS, TS, conform
from seedcart.lake.writer import ROW_GROUP_ROWS
from seedcart.sim.behaviour import (
    ACTION,
    KIND,
    SURFACES,
    UA_CLASSES,
    US_PER_S,
    BackEvents,
    Touches,
    back_events,
    front,
    journeys,
)
from seedcart.sim.config import WorldConfig
from seedcart.sim.faults import FaultCounts, delay_and_duplicate, drop_undelivered
from seedcart.sim.ids import NS_BACKFLOW, NS_CLICK, NS_IP, NS_ORDER, NS_TOUCH, chunk_tag, hex_ids, hex_strings, splitmix
from seedcart.sim.world import DEVICES, World, build_world
from seedcart.types import BACK_ACTIONS, CATEGORIES, FRONT_KINDS, PARTNERS, PLACEMENTS

logger = logging.getLogger(__name__)

_STR = pa.string()
_KINDS: Final = pa.array(FRONT_KINDS, _STR)
_ACTIONS: Final = pa.array(BACK_ACTIONS, _STR)
_PLACEMENTS: Final = pa.array(PLACEMENTS, _STR)
_SURFACES: Final = pa.array(SURFACES, _STR)
_UA: Final = pa.array(UA_CLASSES, _STR)
_PARTNERS: Final = pa.array(PARTNERS, _STR)
_CATEGORIES: Final = pa.array(CATEGORIES, _STR)
_DEVICES: Final = pa.array(DEVICES, _STR)
_CNY: Final = pa.array(["CNY"], _STR)
_SIM: Final = pa.array(["sim"], _STR)
_DICT: Final = pa.dictionary(pa.int32(), _STR)

#: Columns built as dictionary arrays, per table: each over one dictionary shared by every chunk.
ENCODED: Final[dict[str, tuple[str, ...]]] = {
    "touch": ("kind", "note_id", "placement", "surface", "partner", "query", "device", "ua_class", "source"),
    "backflow": ("partner", "action", "item_id", "category", "keyword", "currency", "source"),
    "truth": ("partner", "action", "note_id"),
}
#: The lake schemas with the ``ENCODED`` columns as dictionaries (same names, order and nullability).
ENCODED_SCHEMAS: Final[dict[str, pa.Schema]] = {
    table: pa.schema([field.with_type(_DICT) if field.name in columns else field for field in SCHEMAS[table]])
    for table, columns in ENCODED.items()
}
#: Columns worth a Parquet dictionary (few distinct values); unique ids and timestamps are written plain.
_DICTIONARY_COLUMNS: Final = sorted({c for cols in ENCODED.values() for c in cols} | {
    "brand_id", "campaign_id", "link_id", "product_id", "position", "amount", "sample_rate"})
#: Columns whose Parquet statistics let readers skip row groups keep them; random ids and payload skip the cost.
_STATISTICS_COLUMNS: Final = ["ts", "received_at", "kind", "brand_id", "campaign_id", "link_id", "partner",
                              "product_id", "action", "category"]
#: Columns zstd gains (almost) nothing on, so they are not compressed: random delta timestamps, and
#: dictionary indices or floats of high entropy (under 1 % larger uncompressed on the touch table).
_UNCOMPRESSED_COLUMNS: Final = ("ts", "received_at", "note_id", "brand_id", "campaign_id", "position", "watch_ratio")
#: ``write_parquet_atomic`` options for the generator's tables: dictionary columns are written as
#: plain strings in the file's schema (no Arrow schema stored), so readers see the lake schemas.
#: Timestamps are delta-encoded (cheaper to write and smaller than plain values under zstd);
#: ``_UNCOMPRESSED_COLUMNS`` are not compressed, every other column is zstd. Rows go to the
#: encoders a row group at a time (``write_batch_size``) rather than 1,024 at a time: the
#: per-batch work (statistics of dictionary columns above all) is then paid once per row group.
PARQUET_OPTIONS: Final[dict[str, object]] = {
    "use_dictionary": _DICTIONARY_COLUMNS, "write_statistics": _STATISTICS_COLUMNS, "store_schema": False,
    "column_encoding": {"ts": "DELTA_BINARY_PACKED", "received_at": "DELTA_BINARY_PACKED"},
    "compression": {**{f.name: "zstd" for s in ENCODED_SCHEMAS.values() for f in s},
                    **dict.fromkeys(_UNCOMPRESSED_COLUMNS, "none")},
    "write_batch_size": ROW_GROUP_ROWS,
}


@dataclass
class SimStats:
    """Rows generated per table and fault counts, filled in while ``generate`` runs."""

    rows: dict[str, int] = field(default_factory=lambda: {"touch": 0, "backflow": 0, "truth": 0, "identity": 0})
    faults: FaultCounts = field(default_factory=FaultCounts)
    chunks: int = 0

    @property
    def events(self) -> int:
        """Front- and back-link rows (the lake's events)."""
        return self.rows["touch"] + self.rows["backflow"]

    def add(self, other: SimStats) -> None:
        """Count ``other``'s rows, faults and chunks in too."""
        for name, count in other.rows.items():
            self.rows[name] = self.rows.get(name, 0) + count
        self.faults.add(other.faults)
        self.chunks += other.chunks


def _validity(valid: np.ndarray) -> tuple[pa.Buffer | None, int]:
    """The Arrow validity bitmap of a boolean ``valid`` mask (None when all are valid) and the null count.

    ``np.packbits`` builds it at once; ``pa.array(..., mask=...)`` sets bit by bit.
    """
    nulls = len(valid) - int(np.count_nonzero(valid))
    return (pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None), nulls


def _indices(indices: np.ndarray) -> pa.Array:
    validity, nulls = _validity(indices >= 0)
    data = pa.py_buffer(indices.astype(np.int32))
    return pa.Array.from_buffers(pa.int32(), len(indices), [validity, data], nulls)


def _codes(indices: np.ndarray, dictionary: pa.Array) -> pa.Array:
    """``dictionary[indices]`` as a plain array, null where the index is negative.

    When every value of ``dictionary`` has the same width (user ids, hex ids, match keys), the
    values are gathered as fixed-width bytes with numpy instead of string by string.
    """
    width = _fixed_width(dictionary)
    n = len(indices)
    if width is None or n * width >= 1 << 31:
        return dictionary.take(_indices(indices))
    start = dictionary.offset * 4
    first = int(np.frombuffer(dictionary.buffers()[1], dtype=np.int32, count=1, offset=start)[0])
    values = np.frombuffer(dictionary.buffers()[2], dtype=np.dtype((np.void, width)), count=len(dictionary),
                           offset=first)
    valid = indices >= 0
    nulls = n - int(np.count_nonzero(valid))
    if nulls == 0:
        data = values[indices]
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        validity = None
    else:  # null slots are empty, as ``take`` makes them
        data = values[indices[valid]]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(valid, out=offsets[1:])
        offsets *= width
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), validity, nulls)


def _fixed_width(dictionary: pa.Array) -> int | None:
    """The width in bytes of every value of a string array without nulls, or None when they differ."""
    if not pa.types.is_string(dictionary.type) or dictionary.null_count or len(dictionary) == 0:
        return None
    offsets = np.frombuffer(dictionary.buffers()[1], dtype=np.int32, count=len(dictionary) + 1,
                            offset=dictionary.offset * 4)
    width = int(offsets[1] - offsets[0])
    if width == 0 or int(offsets[-1] - offsets[0]) != width * len(dictionary):
        return None
    return width if bool(np.all(np.diff(offsets) == width)) else None


def _encoded(indices: np.ndarray, dictionary: pa.Array) -> pa.Array:
    """``dictionary[indices]`` as a dictionary array over ``dictionary``, null where the index is negative."""
    return pa.DictionaryArray.from_arrays(_indices(indices), dictionary)


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    """Columns already of the types of ``ENCODED_SCHEMAS[name]`` as a table of it; absent columns are null."""
    schema = ENCODED_SCHEMAS[name]
    n = len(next(iter(columns.values())))
    return pa.Table.from_arrays([columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in schema],
                                schema=schema)


def _ints(values: np.ndarray, offset: int = 0) -> pa.Array:
    """int64 ``values + offset``, null where the value is negative."""
    validity, nulls = _validity(values >= 0)
    data = pa.py_buffer(np.add(values, offset, dtype=np.int64))
    return pa.Array.from_buffers(pa.int64(), len(values), [validity, data], nulls)


def _floats(values: np.ndarray) -> pa.Array:
    """float64 ``values``, null where the value is NaN."""
    validity, nulls = _validity(~np.isnan(values))
    data = pa.py_buffer(np.ascontiguousarray(values, dtype=np.float64))
    return pa.Array.from_buffers(pa.float64(), len(values), [validity, data], nulls)


def _ts(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int64, copy=False), TS)


def _lookup(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[ids]`` with -1 where the id is -1."""
    if len(table) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    if len(table) < len(ids):  # one gather: id -1 picks the -1 appended at the end of a small table
        found: np.ndarray = np.append(table.astype(np.int64, copy=False), -1)[ids]
        return found
    return np.where(ids >= 0, table[ids.clip(0)].astype(np.int64, copy=False), -1)


class _Sparse:
    """Columns with a value on a few rows only (a chunk's link clicks), sharing one validity bitmap.

    The values are scattered into zeroed buffers at ``rows``; nothing is computed for the other rows.
    """

    def __init__(self, mask: np.ndarray) -> None:
        self.n = len(mask)
        self.rows = np.flatnonzero(mask)
        self.nulls = self.n - len(self.rows)
        self.validity = pa.py_buffer(np.packbits(mask, bitorder="little"))
        self.mask = mask

    def ints(self, values: np.ndarray, offset: int = 0) -> pa.Array:
        """int64 ``values + offset`` (one per row of ``rows``), null elsewhere."""
        data = np.zeros(self.n, dtype=np.int64)
        data[self.rows] = values
        data[self.rows] += offset
        return pa.Array.from_buffers(pa.int64(), self.n, [self.validity, pa.py_buffer(data)], self.nulls)

    def encoded(self, values: np.ndarray, dictionary: pa.Array) -> pa.Array:
        """``dictionary[values]`` (one per row of ``rows``) as a dictionary array, null elsewhere."""
        data = np.zeros(self.n, dtype=np.int32)
        data[self.rows] = values
        indices = pa.Array.from_buffers(pa.int32(), self.n, [self.validity, pa.py_buffer(data)], self.nulls)
        return pa.DictionaryArray.from_arrays(indices, dictionary)

    def strings(self, values: pa.StringArray, width: int) -> pa.Array:
        """``values`` (fresh fixed-width strings, one per row of ``rows`` in order), null elsewhere."""
        if len(values) != len(self.rows) or values.offset or values.null_count:
            raise ValueError("sparse strings need one unsliced value per row")
        offsets = np.zeros(self.n + 1, dtype=np.int32)
        np.cumsum(self.mask, out=offsets[1:])
        offsets *= width
        return pa.StringArray.from_buffers(self.n, pa.py_buffer(offsets), values.buffers()[2], self.validity,
                                           self.nulls)


def touch_table(world: World, t: Touches, *, event_ids: pa.Array, click_ids: pa.Array,
                rng: np.random.Generator, ip_tag: int) -> pa.Table:
    """The chunk's touches as a TOUCH table (``ENCODED`` columns as dictionaries).

    Link, product and user agent are set on link clicks only (bots' included), as are click ids.
    """
    n = t.size
    clicks = _Sparse(t.kind == KIND["link_click"])
    click_user = t.user[clicks.rows]  # a bot (no user) clicks from a random address
    ip_keys = np.where(click_user >= 0, click_user, rng.integers(1 << 40, 1 << 41, size=len(click_user)))
    ip_hashes = hex_strings(splitmix(ip_keys.astype(np.uint64) ^ np.uint64(ip_tag)))
    link, product = t.link[clicks.rows], t.product[clicks.rows]
    brand = _lookup(t.note, world.note_brand)
    device = _lookup(t.user, world.device)
    columns = {
        "event_id": event_ids,
        "ts": _ts(t.ts),
        "received_at": _ts(t.ts + rng.integers(200_000, 30 * US_PER_S, size=n)),
        "user_id": _codes(t.user, world.user_ids),
        "kind": _encoded(t.kind, _KINDS),
        "note_id": _encoded(t.note, world.note_ids),
        "brand_id": _ints(brand, world.bases.brand + 1),
        "campaign_id": _ints(t.campaign, world.bases.campaign + 1),
        "placement": _encoded(t.placement, _PLACEMENTS),
        "surface": _encoded(t.surface, _SURFACES),
        "link_id": clicks.ints(link, world.bases.link + 1),
        "click_id": clicks.strings(click_ids, 16),
        "partner": clicks.encoded(world.product_partner[product], _PARTNERS),
        "product_id": clicks.ints(product, world.bases.product + 1),
        "query": _encoded(t.query_brand, world.extras["brand_names"]),
        "device": _encoded(device, _DEVICES),
        "dwell_ms": _ints(t.dwell_ms),
        "watch_ratio": _floats(t.watch_ratio),
        "position": _ints(t.position),
        "ip_hash": clicks.strings(ip_hashes, 16),
        "ua_class": clicks.encoded(t.ua_class[clicks.rows], _UA),
        "is_bot": pa.array(t.is_bot),
        "is_duplicate": pa.array(np.zeros(n, dtype=bool)),
        "source": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), _SIM),
    }
    return _table("touch", columns)


def back_tables(world: World, e: BackEvents, *, touches: Touches, touch_ids: pa.Array, click_ids: pa.Array,
                event_ids: pa.Array, order_tag: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """The chunk's back-link events as a BACKFLOW table (before faults) and its TRUTH table (encoded)."""
    n = len(e.user)
    partner = world.product_partner[e.product]
    is_click = touches.kind == KIND["link_click"]
    click_rows = np.flatnonzero(is_click)
    has_order = e.order >= 0
    order_ids = hex_strings((np.uint64(order_tag) << np.uint64(32)) | e.order[has_order].astype(np.uint64))
    # Ids come from the order's row, so a refund carries the id of its order.
    order_index = np.where(has_order, np.cumsum(has_order) - 1, -1)
    phone = _codes(np.where(e.use_mk & ~e.use_oaid, e.user, -1), world.mk_phone)
    oaid = _codes(np.where(e.use_mk & e.use_oaid, e.user, -1), world.mk_oaid)
    is_money = (e.action == ACTION["order"]) | (e.action == ACTION["refund"])
    amount = _ints(e.amount)
    ts = _ts(e.ts)
    columns = {
        "partner": _encoded(partner, _PARTNERS),
        "event_id": event_ids,
        "action": _encoded(e.action, _ACTIONS),
        "ts": ts,
        "received_at": _ts(e.ts + rng.integers(US_PER_S, 600 * US_PER_S, size=n)),
        "click_id": _codes(np.where(e.click >= 0, np.searchsorted(click_rows, e.click), -1), click_ids),
        "match_key": pc.coalesce(phone, oaid),
        "product_id": _ints(e.product, world.bases.product + 1),
        "item_id": _encoded(e.product, world.extras["product_items"]),
        "brand_id": _ints(world.product_brand[e.product], world.bases.brand + 1),
        "category": _encoded(world.product_cat[e.product], _CATEGORIES),
        "keyword": _encoded(np.where(e.action == ACTION["search"], world.product_brand[e.product], -1),
                          world.extras["brand_names"]),
        "order_id": _codes(order_index, order_ids),
        "amount": amount,
        "currency": _encoded(np.where(is_money, 0, -1), _CNY),
        "sample_rate": pa.array(world.sample_rate[partner], pa.float64()),
        "source": _encoded(np.zeros(n, dtype=np.int8), _SIM),
    }
    backflow = _table("backflow", columns)
    truth = _table("truth", {
        "partner": columns["partner"], "event_id": event_ids, "action": columns["action"], "ts": ts,
        "user_id": _codes(e.user, world.user_ids), "note_id": _encoded(e.note, world.note_ids),
        "touch_event_id": _codes(e.touch, touch_ids), "amount": amount,
    })
    return backflow, truth


def identity_table(world: World) -> pa.Table:
    """user_id <-> match_key pairs as the platform registers them: the phone key, and the OAID key on Android."""
    ts = pa.array(np.full(world.users, int(world.config.start_at.timestamp()) * US_PER_S), TS)
    android = np.flatnonzero(world.device == 1)
    users = pa.concat_arrays([world.user_ids, world.user_ids.take(pa.array(android))])
    keys = pa.concat_arrays([world.mk_phone, world.mk_oaid.take(pa.array(android))])
    return conform("identity", pa.table({
        "user_id": users, "match_key": keys, "ts": pa.concat_arrays([ts, ts.take(pa.array(android))]),
        "source": pa.array(["sim"] * len(users), _STR),
    }))


def prepare(world: World) -> World:
    """Arrow dictionaries the generator looks rows up in (kept on the world)."""
    world.extras.setdefault("brand_names", pa.array(world.brand_names, _STR))
    world.extras.setdefault("product_items", pa.array(world.product_items, _STR))
    return world


def chunk_count(config: WorldConfig) -> int:
    """How many chunks ``generate`` makes: days x user blocks."""
    return config.days * -(-config.users // config.block_users)


def generate_world(world: World, stats: SimStats | None = None, *, encoded: bool = False,
                   workers: int = 1) -> Iterator[tuple[str, pa.Table]]:
    """Yield a built world's lake rows: identity first, then touch / backflow / truth per chunk.

    Tables are conformed to the lake schemas, or with ``encoded`` of ``ENCODED_SCHEMAS`` (the
    ``ENCODED`` columns as dictionary arrays, for writing with ``PARQUET_OPTIONS``). ``workers`` > 1
    makes that many chunks at once on threads; the rows and their order do not change.
    """
    for name, table in _generate_encoded(world, stats, workers):
        yield name, (table if encoded or name == "identity" else conform(name, table))


def _generate_encoded(world: World, stats: SimStats | None, workers: int) -> Iterator[tuple[str, pa.Table]]:
    cfg = world.config
    prepare(world)
    stats = stats if stats is not None else SimStats()
    identity = identity_table(world)
    stats.rows["identity"] += identity.num_rows
    yield "identity", identity
    blocks = -(-cfg.users // cfg.block_users)
    keys = [(day, block) for day in range(cfg.days) for block in range(blocks)]
    if workers <= 1:
        results: Iterator[tuple[list[tuple[str, pa.Table]], SimStats]] = (
            chunk_tables(world, day, block) for day, block in keys)
    else:
        results = _in_threads(world, keys, workers)
    for tables, chunk_stats in results:
        stats.add(chunk_stats)
        yield from tables


def _in_threads(world: World, keys: list[tuple[int, int]],
                workers: int) -> Iterator[tuple[list[tuple[str, pa.Table]], SimStats]]:
    """``chunk_tables`` of each key, made ``workers`` at a time on threads, in the order of ``keys``.

    numpy and Arrow release the GIL in their loops, so chunks are made on several cores at once;
    at most ``workers`` chunks are ahead of the consumer (memory stays bounded).
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-gen")
    try:
        pending: deque[Future[tuple[list[tuple[str, pa.Table]], SimStats]]] = deque()
        for day, block in keys:
            if len(pending) >= workers:
                yield pending.popleft().result()
            pending.append(pool.submit(chunk_tables, world, day, block))
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunk_tables(world: World, day: int, block: int) -> tuple[list[tuple[str, pa.Table]], SimStats]:
    """The encoded lake rows of one chunk (``day``, user ``block``) in yield order, and their stats.

    A chunk depends on nothing but the world and its key, so chunks may be made in any order.
    """
    cfg = world.config
    stats = SimStats()
    blocks = -(-cfg.users // cfg.block_users)
    start_us = int(cfg.start_at.timestamp()) * US_PER_S
    chunk = day * blocks + block
    rng = np.random.default_rng([cfg.seed, day, block])
    lo, hi = block * cfg.block_users, min(cfg.users, (block + 1) * cfg.block_users)
    fault_rng = np.random.default_rng([cfg.seed, day, block, 0xFA])
    touches = front(world, rng, day=day, lo=lo, hi=hi, bot_rng=fault_rng)
    touch_ids = hex_ids(chunk_tag(NS_TOUCH, cfg.seed, chunk), touches.size)
    n_clicks = int((touches.kind == KIND["link_click"]).sum())
    click_ids = hex_ids(chunk_tag(NS_CLICK, cfg.seed, chunk), n_clicks)
    touch = touch_table(world, touches, event_ids=touch_ids, click_ids=click_ids,
                        rng=np.random.default_rng([cfg.seed, day, block, 0x7C]),
                        ip_tag=chunk_tag(NS_IP, cfg.seed, 0))
    stats.faults.bots += int(touches.is_bot.sum())
    events = back_events(world, rng, journeys(world, rng, touches, day=day, lo=lo, hi=hi))
    back_ids = hex_ids(chunk_tag(NS_BACKFLOW, cfg.seed, chunk), len(events.user))
    backflow, truth = back_tables(world, events, touches=touches, touch_ids=touch_ids,
                                  click_ids=click_ids, event_ids=back_ids,
                                  order_tag=chunk_tag(NS_ORDER, cfg.seed, chunk), rng=rng)
    delivered = drop_undelivered(fault_rng, partner=world.product_partner[events.product], ts=events.ts,
                                 start_us=start_us, sample_rate=world.sample_rate, missing=world.missing,
                                 counts=stats.faults)
    if not delivered.all():
        backflow = backflow.filter(pa.array(delivered))
    touch, touch_again = delay_and_duplicate(fault_rng, touch, cfg.faults, stats.faults, flag_duplicates=True)
    backflow, back_again = delay_and_duplicate(fault_rng, backflow, cfg.faults, stats.faults,
                                               flag_duplicates=False)
    stats.rows["touch"] += touch.num_rows + touch_again.num_rows
    stats.rows["backflow"] += backflow.num_rows + back_again.num_rows
    stats.rows["truth"] += truth.num_rows
    stats.chunks += 1
    tables = [("touch", touch)]
    if touch_again.num_rows:
        tables.append(("touch", touch_again))
    tables.append(("backflow", backflow))
    if back_again.num_rows:
        tables.append(("backflow", back_again))
    tables.append(("truth", truth))
    return tables, stats


def generate_tables(config: WorldConfig, secret: bytes, *, world: World | None = None,
                    stats: SimStats | None = None) -> dict[str, pa.Table]:
    """The whole world's lake rows in memory, one Arrow table per lake table (small worlds only)."""
    parts: dict[str, list[pa.Table]] = {}
    for name, table in generate(config, secret, world=world, stats=stats):
        parts.setdefault(name, []).append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def generate(config: WorldConfig, secret: bytes, *, stats: SimStats | None = None,
             world: World | None = None) -> Iterator[tuple[str, pa.Table]]:
    """Yield ``(table, arrow_table)`` for the world of ``config``; see the module docstring.

    ``secret`` is the alliance secret the match keys are derived under (``settings.alliance_key()``).
    """
    built = world if world is not None else build_world(config, secret)
    yield from generate_world(built, stats)
