"""The redirect's link cache follows catalog changes without being told."""

from __future__ import annotations

from typing import Any

import pytest
from tests.links.world import World

from seedcart.catalog.db import Catalog
from seedcart.catalog.links import create_link, set_link_active
from seedcart.links import cache as cache_module
from seedcart.links.cache import LinkCache


def test_the_cache_sees_new_and_deactivated_links(catalog: Catalog, world: World) -> None:
    cache = LinkCache(catalog)
    assert cache.load_all() == 0
    with catalog.session() as s:
        link = create_link(s, kind="ad_link", note_id="n-ad", product_id=world.jd_product,
                           campaign_id=world.cid_campaign, placement="feed")
        code, link_id = link.code, link.id
    assert cache.get(code) is None  # not yet asked
    assert cache.refresh() >= 1
    entry = cache.get(code)
    assert entry is not None
    assert (entry.partner, entry.item_id, entry.brand_id, entry.placement) == ("jd", "100012043978", world.acme, "feed")
    assert cache.refresh() == 0  # nothing changed: one cheap version check
    with catalog.session() as s:
        set_link_active(s, link_id, False)
    cache.refresh()
    assert cache.get(code) is None


def test_a_full_reload_replaces_everything(catalog: Catalog, world: World) -> None:
    with catalog.session() as s:
        code = create_link(s, kind="blue_link", note_id="n-plain", product_id=world.tmall_product).code
    cache = LinkCache(catalog, full_reload_s=0.0)
    cache.load_all()
    assert cache.get(code) is not None
    cache.drop(code)
    cache.refresh()  # full_reload_s=0: every refresh reloads
    assert cache.get(code) is not None


def test_a_link_dropped_while_a_load_reads_the_catalog_stays_dropped(catalog: Catalog, world: World,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The API deactivates a link and drops it from the cache while a background load is reading the
    catalog as it was before: what that load read must not bring the link back."""
    with catalog.session() as s:
        code = create_link(s, kind="blue_link", note_id="n-plain", product_id=world.tmall_product).code
    read_version = cache_module.catalog_version
    for kind in ("refresh", "reload"):
        cache = LinkCache(catalog)
        cache.load_all()
        assert cache.get(code) is not None
        with catalog.session() as s:  # a catalog change, so the refresh reads the recent links again
            create_link(s, kind="blue_link", note_id="n-plain", product_id=world.tmall_product)

        def stale_read(session: Any, cache: LinkCache = cache) -> int:
            cache.drop(code)  # the API's drop lands after the load began, before it applies what it read
            return read_version(session)

        monkeypatch.setattr(cache_module, "catalog_version", stale_read)
        assert (cache.refresh() if kind == "refresh" else cache.load_all()) >= 1
        monkeypatch.undo()
        assert cache.get(code) is None, kind
        cache.load_all()  # a load that began after the drop follows the catalog (still active there)
        assert cache.get(code) is not None, kind
