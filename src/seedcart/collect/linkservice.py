"""The ``"links"`` app service: the link cache and the click recorder behind the redirect.

Apart from :mod:`seedcart.collect.redirect` because that module is compiled with mypyc
(``seedcart.native``), which compiles no async generator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seedcart.catalog.db import Catalog
from seedcart.collect.clicks import ClickRecorder
from seedcart.collect.redirect import RedirectService
from seedcart.config import Settings
from seedcart.links.cache import LinkCache


@asynccontextmanager
async def redirect_service(settings: Settings, catalog: Catalog) -> AsyncIterator[RedirectService]:
    """The ``"links"`` app service: loads the link cache, follows changes, stops with the app."""
    cache = LinkCache(catalog, refresh_s=settings.links.cache_refresh_s,
                      full_reload_s=settings.links.cache_full_reload_s)
    recorder = ClickRecorder(settings.alliance_key(), duplicate_window_s=settings.links.duplicate_window_s)
    await cache.start()
    service = RedirectService(cache, recorder, gather_s=settings.links.click_gather_ms / 1000.0)
    try:
        yield service
    finally:
        await service.drain()
        await cache.stop()
