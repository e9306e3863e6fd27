"""The redirect's in-memory link cache: code -> everything a click needs, never a database wait.

The cache loads every link once at start, then a background task asks the catalog every
``refresh_s`` whether anything changed (``catalog_version``) and, when it did, fetches the links
created or changed since the newest change it saw (``links_changed_since``, with an overlap).
Products and notes rarely change under a link; a full reload every ``full_reload_s`` picks
those changes up. Links created or deactivated through this process's API are ``put`` or
``drop``-ped at once, and a load that was already reading the catalog when that happened does not
undo it with what it read. Lookups are a single dict read on the event loop; loading runs in a
worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seedcart.catalog.db import Catalog
from seedcart.catalog.links import catalog_version, links_changed_since
from seedcart.catalog.models import Link, Note, Product
from seedcart.tasks import cancel

logger = logging.getLogger(__name__)

_OVERLAP = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class CachedLink:
    """What the redirect needs about one active link, joined from link, product and note."""

    link_id: int
    code: str
    kind: str
    note_id: str
    brand_id: int
    product_id: int
    partner: str
    item_id: str
    store_id: str | None
    campaign_id: int | None
    placement: str | None
    commenter_id: str | None


def cached(link: Link, product: Product, note: Note | None = None) -> CachedLink:
    """The cache entry of ``link`` (``note`` is unused today; the brand is the product's)."""
    return CachedLink(link_id=link.id, code=link.code, kind=link.kind, note_id=link.note_id,
                      brand_id=product.brand_id, product_id=product.id, partner=product.partner_id,
                      item_id=product.item_id, store_id=product.store_id, campaign_id=link.campaign_id,
                      placement=link.placement, commenter_id=link.commenter_id)


class LinkCache:
    """Active links by code, following catalog changes (see the module docstring)."""

    def __init__(self, catalog: Catalog, *, refresh_s: float = 1.0, full_reload_s: float = 300.0) -> None:
        self.catalog = catalog
        self.refresh_s = refresh_s
        self.full_reload_s = full_reload_s
        self._by_code: dict[str, CachedLink] = {}
        self._version = -1
        self._since: datetime | None = None
        self._last_full = 0.0
        self._task: asyncio.Task[None] | None = None
        self._reloads = 0
        self._errors = 0
        # put/drop made while a load was reading the catalog win over what it read: each is numbered,
        # and a load applies none of its rows for a code changed here after it began.
        self._lock = threading.Lock()
        self._seq = 0
        self._local: dict[str, tuple[int, CachedLink | None]] = {}

    def get(self, code: str) -> CachedLink | None:
        """The active link with ``code``, or None. Never touches the database."""
        return self._by_code.get(code)

    def put(self, entry: CachedLink) -> None:
        """Make a link visible at once (the API calls this after creating one)."""
        self._set_local(entry.code, entry)

    def drop(self, code: str) -> None:
        """Make a link invisible at once (after deactivating it)."""
        self._set_local(code, None)

    def _set_local(self, code: str, entry: CachedLink | None) -> None:
        with self._lock:
            self._seq += 1
            self._local[code] = (self._seq, entry)
            self._apply(self._by_code, code, entry)

    @staticmethod
    def _apply(by_code: dict[str, CachedLink], code: str, entry: CachedLink | None) -> None:
        if entry is None:
            by_code.pop(code, None)
        else:
            by_code[code] = entry

    def _began(self) -> int:
        """Where a load starts: put/drop numbered after this were not seen by its catalog reads."""
        with self._lock:
            return self._seq

    def _newer(self, began: int) -> dict[str, CachedLink | None]:
        """Under the lock: the put/drop made since ``began``; older ones are forgotten (the catalog,
        committed before them, is what the load read)."""
        self._local = {code: item for code, item in self._local.items() if item[0] > began}
        return {code: entry for code, (_seq, entry) in self._local.items()}

    def __len__(self) -> int:
        return len(self._by_code)

    # -- loading ------------------------------------------------------------------------------

    def load_all(self) -> int:
        """Replace the cache with every active link; returns how many."""
        began = self._began()
        with self.catalog.session() as session:
            version = catalog_version(session)
            rows = session.execute(
                select(Link, Product).join(Product, Product.id == Link.product_id).where(Link.active.is_(True))
            ).all()
            newest = session.scalar(select(Link.updated_at).order_by(Link.updated_at.desc()).limit(1))
        fresh = {link.code: cached(link, product) for link, product in rows}
        with self._lock:
            for code, entry in self._newer(began).items():
                self._apply(fresh, code, entry)
            self._by_code = fresh
        self._version = version
        self._since = newest
        self._last_full = time.monotonic()
        self._reloads += 1
        return len(fresh)

    def refresh(self) -> int:
        """Apply catalog changes since the last look; returns how many links changed."""
        if time.monotonic() - self._last_full >= self.full_reload_s:
            return self.load_all()
        began = self._began()
        with self.catalog.session() as session:
            version = catalog_version(session)
            if version == self._version:
                return 0
            since = None if self._since is None else self._since - _OVERLAP
            changed = links_changed_since(session, since)
            products = self._products(session, {link.product_id for link in changed})
        with self._lock:
            newer = self._newer(began)
            for link in changed:
                if link.code not in newer:
                    entry = cached(link, products[link.product_id]) \
                        if link.active and link.product_id in products else None
                    self._apply(self._by_code, link.code, entry)
        for link in changed:
            if link.updated_at is not None and (self._since is None or link.updated_at > self._since):
                self._since = link.updated_at
        self._version = version
        return len(changed)

    @staticmethod
    def _products(session: Session, ids: set[int]) -> dict[int, Product]:
        if not ids:
            return {}
        return {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}

    # -- background ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load everything, then follow changes in the background."""
        count = await asyncio.to_thread(self.load_all)
        logger.info("link cache loaded %d active links", count)
        self._task = asyncio.create_task(self._follow(), name="seedcart-link-cache")

    async def stop(self) -> None:
        """Stop following changes."""
        await cancel(self._task)
        self._task = None

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # the cache keeps serving what it has; the next round retries
                self._errors += 1
                logger.exception("link cache refresh failed")

    def status(self) -> dict[str, Any]:
        """Size, catalog version seen, reloads and refresh errors."""
        return {"links": len(self._by_code), "catalog_version": self._version, "full_reloads": self._reloads,
                "refresh_errors": self._errors}
