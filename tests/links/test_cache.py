"""The redirect's link cache follows catalog changes without being told."""

from __future__ import annotations

from tests.links.world import World

from seedcart.catalog.db import Catalog
from seedcart.catalog.links import create_link, set_link_active
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
