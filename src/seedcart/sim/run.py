"""Writing a simulated world into a data dir: its catalog rows, then its lake tables.

Chunks are generated ``GENERATORS`` at a time (one: on the calling thread), and lake rows are
buffered per table and UTC date and written as large Parquet files on ``WRITERS`` background
threads (numpy, Arrow and Parquet encoding release the GIL, so generating and writing share the
cores). A date's buffer is written once it is big enough or can get no more rows; memory stays
bounded by the chunks in flight, ``MAX_BUFFERED_ROWS`` and the files being encoded, whatever the
world's size.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from seedcart.catalog.db import open_catalog
from seedcart.catalog.models import Brand, Campaign, CatalogRevision, Link, Note, Partner, Product
from seedcart.config import Settings
from seedcart.errors import Conflict
from seedcart.lake.writer import LakeWriter, partition_dir, write_parquet_atomic
from seedcart.sim.config import WorldConfig
from seedcart.sim.generate import PARQUET_OPTIONS, SimStats, chunk_count, generate_world
from seedcart.sim.world import IdBases, World, build_world
from seedcart.types import CATEGORIES, PARTNERS, PLACEMENTS

logger = logging.getLogger(__name__)

US_PER_DAY = 86_400 * 1_000_000
#: A date's buffer is written once it holds this many rows.
FLUSH_ROWS = 1 << 20
#: When all buffers together hold more rows than this, the largest is written at once.
MAX_BUFFERED_ROWS = 2 << 20

#: Parquet files encoded at once (encoding releases the GIL).
WRITERS = 2
#: Chunks generated at once. One (on the calling thread) keeps a 2-core machine busy: generating a
#: chunk costs about as much CPU as encoding it, and the writers take the other core. A second
#: generator thread only added GIL hand-offs, page faults and a chunk of memory (measured).
GENERATORS = 1

Progress = Callable[[int, int], None]


@dataclass
class WorldSummary:
    """What ``simulate`` wrote: rows per lake table, catalog rows, faults, and how fast."""

    seed: int
    users: int
    days: int
    start: str
    end: str
    tables: dict[str, int]
    catalog: dict[str, int]
    brands: list[dict[str, Any]]
    partners: dict[str, float]
    faults: dict[str, int]
    events: int
    seconds: float
    events_per_s: float
    lake_root: str = ""
    files: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


class _DateBuffers:
    """Rows waiting to be written, per (table, UTC day number), written on one background thread."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.parts: dict[tuple[str, int], list[pa.Table]] = {}
        self.rows: dict[tuple[str, int], int] = {}
        self.pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="sim-writer")
        self.pending: list[Future[None]] = []
        self.files = 0

    def add(self, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        days = data.column("ts").cast(pa.int64()).to_numpy() // US_PER_DAY
        first, last = int(days.min()), int(days.max())
        if first == last:
            self._put((table, first), data)
        elif bool(np.all(days[1:] >= days[:-1])):  # sorted by day: zero-copy slices
            bounds = np.searchsorted(days, np.arange(first, last + 2))
            for day, lo, hi in zip(range(first, last + 1), bounds[:-1], bounds[1:], strict=True):
                if hi > lo:
                    self._put((table, day), data.slice(int(lo), int(hi - lo)))
        else:
            for day in np.unique(days):
                self._put((table, int(day)), data.filter(pa.array(days == day)))
        if sum(self.rows.values()) > MAX_BUFFERED_ROWS:
            self._write(max(self.rows, key=lambda k: self.rows[k]))

    def _put(self, key: tuple[str, int], data: pa.Table) -> None:
        self.parts.setdefault(key, []).append(data)
        self.rows[key] = self.rows.get(key, 0) + data.num_rows
        if self.rows[key] >= FLUSH_ROWS:
            self._write(key)

    def flush_until(self, day: int) -> None:
        """Write every buffer of a UTC day number up to ``day`` (no more rows can come for them)."""
        for key in sorted(k for k in self.parts if k[1] <= day):
            self._write(key)

    def _write(self, key: tuple[str, int]) -> None:
        parts = self.parts.pop(key)
        self.rows.pop(key)
        table, day = key
        date = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")
        path = partition_dir(self.root, table, date) / f"sim-{uuid.uuid4().hex}.parquet"
        data = pa.concat_tables(parts)
        while len(self.pending) > WRITERS:
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(write_parquet_atomic, data, path, options=PARQUET_OPTIONS))
        self.files += 1

    def close(self) -> None:
        for key in sorted(self.parts):
            self._write(key)
        for pending in self.pending:
            pending.result()
        self.pool.shutdown()


def _bases(session: Session) -> IdBases:
    def top(column: Any) -> int:
        return int(session.execute(select(func.coalesce(func.max(column), 0))).scalar_one())

    return IdBases(brand=top(Brand.id), product=top(Product.id), campaign=top(Campaign.id), link=top(Link.id))


def catalog_rows(world: World) -> dict[type[Any], list[dict[str, Any]]]:
    """The world's catalog rows per model, ready for bulk inserts."""
    cfg = world.config
    start, end = cfg.start_at, cfg.end_at
    b = world.bases
    brands = [{"id": b.brand + 1 + i, "name": name, "created_at": start - timedelta(days=90)}
              for i, name in enumerate(world.brand_names)]
    products = [{"id": b.product + 1 + i, "partner_id": PARTNERS[int(world.product_partner[i])],
                 "item_id": world.product_items[i], "brand_id": b.brand + 1 + int(world.product_brand[i]),
                 "category_id": CATEGORIES[int(world.product_cat[i])],
                 "title": f"{world.brand_names[int(world.product_brand[i])]} "
                          f"{CATEGORIES[int(world.product_cat[i])].replace('_', ' ')} item {i + 1}",
                 "price": int(world.product_price[i]), "store_id": world.product_stores[i]}
                for i in range(len(world.product_items))]
    campaigns = [{"id": b.campaign + 1 + i, "brand_id": b.brand + 1 + int(world.campaign_brand[i]),
                  "partner_id": PARTNERS[int(world.campaign_partner[i])],
                  "name": f"{world.brand_names[int(world.campaign_brand[i])]} push {i + 1}",
                  "mode": world.campaign_mode[i], "placements": world.campaign_placements[i],
                  "bid_type": world.campaign_bid_type[i], "bid_price": int(world.campaign_bid_price[i]),
                  "budget": int(world.campaign_bid_price[i]) * 20_000, "start_at": start, "end_at": end,
                  "holdout_fraction": float(world.campaign_holdout[i]), "status": "active", "created_at": start}
                 for i in range(len(world.campaign_mode))]
    note_ids = world.note_ids.to_pylist()
    notes = [{"id": note_ids[i], "brand_id": b.brand + 1 + int(world.note_brand[i]) if world.note_brand[i] >= 0
              else None, "creator_id": world.note_creator[i],
              "title": f"{' '.join('#' + t for t in world.note_topics[i])}", "topics": world.note_topics[i],
              "format": "video" if world.note_video[i] else "image", "is_ad": bool(world.note_ad[i]),
              "created_at": start - timedelta(days=1 + i % 30)}
             for i in range(len(note_ids))]
    links = []
    for i, code in enumerate(world.link_codes):
        note = int(world.link_note[i])
        campaign = int(world.link_campaign[i])
        blue = int(world.link_kind[i]) == 1
        links.append({"id": b.link + 1 + i, "code": code, "kind": "blue_link" if blue else "ad_link",
                      "note_id": note_ids[note], "product_id": b.product + 1 + int(world.link_product[i]),
                      "campaign_id": b.campaign + 1 + campaign if campaign >= 0 else None,
                      "placement": None if blue else PLACEMENTS[int(world.note_placement[note])],
                      "comment_id": f"cm{i:07d}" if blue else None,
                      "commenter_id": f"u{(i * 7919) % max(cfg.users, 1):07d}" if blue else None,
                      "active": True, "created_at": start, "updated_at": start})
    return {Brand: brands, Product: products, Note: notes, Campaign: campaigns, Link: links}


def _insert_catalog(session: Session, world: World) -> dict[str, int]:
    rows = catalog_rows(world)
    names = [r["name"] for r in rows[Brand]]
    clash = session.execute(select(Brand.name).where(Brand.name.in_(names)).limit(1)).scalar_one_or_none()
    first_note = rows[Note][0]["id"] if rows[Note] else None
    if clash is not None or (first_note and session.get(Note, first_note) is not None):
        raise Conflict(f"a world with seed {world.config.seed} is already in this catalog "
                       f"(brand {clash!r}); use another seed or a fresh data dir", field="seed")
    for model in (Brand, Product, Note, Campaign, Link):
        if rows[model]:
            session.execute(insert(model), rows[model])
    session.execute(update(CatalogRevision).where(CatalogRevision.id == 1)
                    .values(value=CatalogRevision.value + 1))
    return {model.__tablename__: len(r) for model, r in rows.items()}


def write_lake(world: World, root: str, *, progress: Progress | None = None) -> tuple[SimStats, int]:
    """Generate the world's lake rows and write them under ``root``; returns the stats and files written."""
    stats = SimStats()
    buffers = _DateBuffers(root)
    total = chunk_count(world.config)
    blocks = -(-world.config.users // world.config.block_users)
    first_day = int(world.config.start_at.timestamp()) // 86_400
    try:
        for name, table in generate_world(world, stats, encoded=True, workers=GENERATORS):
            if name == "identity":
                LakeWriter(root).append("identity", table, prefix="sim")
                continue
            buffers.add(name, table)
            if name == "truth":
                if stats.chunks % blocks == 0:
                    buffers.flush_until(first_day + stats.chunks // blocks - 1)
                if progress is not None:
                    progress(stats.chunks, total)
    finally:
        buffers.close()
    return stats, buffers.files + 1


def simulate(settings: Settings, config: WorldConfig, *, progress: Progress | None = None) -> WorldSummary:
    """Write the world of ``config`` into the catalog and lake of ``settings``; returns a summary."""
    started = time.perf_counter()
    catalog = open_catalog(settings)
    try:
        with catalog.session() as session:
            rates = {p.id: float(p.sample_rate) for p in session.scalars(select(Partner))}
            world = build_world(config, settings.alliance_key(), _bases(session), sample_rates=rates)
            catalog_counts = _insert_catalog(session, world)
    finally:
        catalog.close()
    root = settings.resolved_lake_root
    gen_started = time.perf_counter()
    stats, files = write_lake(world, root, progress=progress)
    elapsed = time.perf_counter() - gen_started
    logger.info("simulated %d events in %.1f s (%.0f/s)", stats.events, elapsed, stats.events / max(elapsed, 1e-9))
    return WorldSummary(
        seed=config.seed, users=config.users, days=config.days,
        start=config.start_at.isoformat(), end=config.end_at.isoformat(),
        tables=dict(stats.rows), catalog=catalog_counts,
        brands=[{"id": world.bases.brand + 1 + i, "name": n, "category": CATEGORIES[int(world.brand_cat[i])]}
                for i, n in enumerate(world.brand_names)],
        partners={p: float(world.sample_rate[i]) for i, p in enumerate(PARTNERS)},
        faults=stats.faults.as_dict(), events=stats.events, seconds=round(time.perf_counter() - started, 3),
        events_per_s=round(stats.events / max(elapsed, 1e-9)), lake_root=root, files=files,
    )
