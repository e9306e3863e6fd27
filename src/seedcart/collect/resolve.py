"""Catalog lookups at intake, cached: a note's brand, a partner product's id, brand and category.

Unknown notes and products are not errors: the platform's content system and the partners'
shops are the sources of truth, so such rows are kept with nulls (and negative answers are cached
for a short while, like positive ones).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from seedcart.catalog.db import Catalog
from seedcart.catalog.models import Note, Partner, Product
from seedcart.collect.segment import TouchRecord

_TTL_S = 30.0
_MAX = 200_000

ProductInfo = tuple[int, int, str]  # product_id, brand_id, category
_UNKNOWN: Any = object()  # not in the note cache


class Resolver:
    """Cached catalog lookups for intake rows."""

    def __init__(self, catalog: Catalog, ttl_s: float = _TTL_S) -> None:
        self.catalog = catalog
        self.ttl_s = ttl_s
        self._notes: dict[str, int | None] = {}
        self._notes_at = time.monotonic()
        self._items: dict[tuple[str, str], tuple[float, ProductInfo | None]] = {}
        self._products: dict[int, tuple[float, ProductInfo | None]] = {}
        self._partners: dict[str, tuple[float, tuple[str, float] | None]] = {}

    def _fresh(self, hit: tuple[float, Any] | None, now: float) -> bool:
        return hit is not None and now - hit[0] < self.ttl_s

    def partner(self, partner_id: str) -> tuple[str, float] | None:
        """``(signing secret, declared sample rate)`` of a partner, or None when there is no such partner."""
        now = time.monotonic()
        hit = self._partners.get(partner_id)
        if hit is not None and now - hit[0] < min(self.ttl_s, 5.0):
            return hit[1]
        with self.catalog.session() as session:
            row = session.get(Partner, partner_id) if len(partner_id) <= 20 else None
            info = (row.signing_secret, float(row.sample_rate)) if row is not None else None
        if len(self._partners) > 100:
            self._partners.clear()
        self._partners[partner_id] = (now, info)
        return info

    def note_brands(self, note_ids: set[str]) -> dict[str, int | None]:
        """Brand of each note (None when unknown or unbranded)."""
        notes = self._note_cache()
        missing = [note_id for note_id in note_ids if note_id not in notes]
        if missing:
            found: dict[str, int | None] = dict.fromkeys(missing)
            with self.catalog.session() as session:
                for i in range(0, len(missing), 500):
                    rows = session.execute(select(Note.id, Note.brand_id).where(Note.id.in_(missing[i:i + 500])))
                    found.update({str(r[0]): r[1] for r in rows})
            notes.update(found)
        return {note_id: notes[note_id] for note_id in note_ids}

    def _note_cache(self) -> dict[str, int | None]:
        """note id -> brand id; every answer in it is younger than the TTL (the whole cache is
        dropped when the TTL runs out, or when it grows past its bound)."""
        now = time.monotonic()
        if now - self._notes_at >= self.ttl_s or len(self._notes) > _MAX:
            self._notes = {}
            self._notes_at = now
        return self._notes

    def enrich_touches(self, records: list[TouchRecord]) -> None:
        """Set ``brand_id`` on touches whose note the catalog knows."""
        # One pass over the records, each looked up in the cache (not ``set - cache.keys()``, which walks
        # the whole cache on every call); the catalog is asked only about the notes the cache lacks.
        notes = self._note_cache()
        unknown: list[tuple[TouchRecord, str]] = []
        for record in records:
            note_id = record.note_id
            if note_id:
                brand_id = notes.get(note_id, _UNKNOWN)
                if brand_id is _UNKNOWN:
                    unknown.append((record, note_id))
                elif brand_id is not None:
                    record.brand_id = brand_id
        if unknown:
            brands = self.note_brands({note_id for _, note_id in unknown})
            for record, note_id in unknown:
                record.brand_id = brands[note_id]

    def product(self, partner: str, item_id: str | None, product_id: int | None) -> ProductInfo | None:
        """``(product_id, brand_id, category)`` of a product reference, when the catalog knows it."""
        now = time.monotonic()
        if product_id is not None:
            hit = self._products.get(product_id)
            if hit is not None and self._fresh(hit, now):
                return hit[1]
            with self.catalog.session() as session:
                row = session.get(Product, product_id)
                info = (row.id, row.brand_id, row.category_id) if row and row.partner_id == partner else None
            self._products[product_id] = (now, info)
            return info
        if item_id is None:
            return None
        key = (partner, item_id)
        hit2 = self._items.get(key)
        if hit2 is not None and self._fresh(hit2, now):
            return hit2[1]
        with self.catalog.session() as session:
            found = session.execute(select(Product.id, Product.brand_id, Product.category_id).where(
                Product.partner_id == partner, Product.item_id == item_id)).first()
        info = (int(found[0]), int(found[1]), str(found[2])) if found else None
        if len(self._items) > _MAX:
            self._items.clear()
        self._items[key] = (now, info)
        return info

    def enrich_backflow(self, records: list[dict[str, Any]]) -> None:
        """Set product_id, brand_id and category from the catalog where the reference resolves."""
        for record in records:
            info = self.product(record["partner"], record.get("item_id"), record.get("product_id"))
            if info is None:
                continue
            record["product_id"], record["brand_id"], record["category"] = info
