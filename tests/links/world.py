"""A small catalog world for the links tests (links, collect redirect, serve routers).

Brand ``acme`` sells on JD (beauty), Tmall (beauty), Vipshop (digital: a category Vipshop has
not opened) and WeChat mini programs (in pilot with an empty list); brand ``other`` sells on
Pinduoduo. Notes: ``n-ad`` (acme, ad) and ``n-plain`` (acme, not an ad). Campaigns: a CID
campaign of acme on JD and a UD campaign of acme on JD (managed by JD). Keys for every role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from seedcart.catalog.brands import create_brand
from seedcart.catalog.campaigns import create_campaign
from seedcart.catalog.db import Catalog
from seedcart.catalog.keys import issue_key
from seedcart.catalog.products import create_product, upsert_note
from seedcart.collect.log import DurableLog, iter_entries
from seedcart.config import Settings
from seedcart.links.cache import CachedLink

START = datetime(2026, 1, 1, tzinfo=UTC)
JD_SKU = "100012043978"
TMALL_ID = "577342018417"
VIP_ITEM = ("2590192", "464314661")  # brand (store) id, product id
MP_APPID = "wx4e1ba651bbe36d01"
PDD_GOODS = "667048089669"


@dataclass
class World:
    """Ids and clear keys of the seeded world."""

    acme: int
    other: int
    jd_product: int
    tmall_product: int
    vip_product: int
    mp_product: int
    pdd_product: int
    cid_campaign: int
    ud_campaign: int
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        """The Authorization header of key ``who``."""
        return {"Authorization": f"Bearer {self.keys[who]}"}


def seed_world(catalog: Catalog) -> World:
    """Create the world in ``catalog`` (freshly migrated) and return its ids and keys."""
    with catalog.session() as s:
        acme = create_brand(s, "acme").id
        other = create_brand(s, "other").id
        jd = create_product(s, partner_id="jd", item_id=JD_SKU, brand_id=acme, category_id="beauty").id
        tmall = create_product(s, partner_id="tmall", item_id=TMALL_ID, brand_id=acme, category_id="beauty").id
        vip = create_product(s, partner_id="vip", item_id=VIP_ITEM[1], store_id=VIP_ITEM[0], brand_id=acme,
                             category_id="digital").id
        mp = create_product(s, partner_id="wechat_mp", item_id="pages/goods/detail?id=9", store_id=MP_APPID,
                            brand_id=acme, category_id="beauty").id
        pdd = create_product(s, partner_id="pdd", item_id=PDD_GOODS, brand_id=other, category_id="food").id
        upsert_note(s, "n-ad", brand_id=acme, is_ad=True, title="精华测评")
        upsert_note(s, "n-plain", brand_id=acme, is_ad=False)
        upsert_note(s, "n-other", brand_id=other, is_ad=True)
        cid = create_campaign(s, brand_id=acme, partner_id="jd", mode="CID", bid_type="CPC", bid_price=50,
                              start_at=START, placements=["search", "feed"]).id
        ud = create_campaign(s, brand_id=acme, partner_id="jd", mode="UD", bid_type="CPM", bid_price=3000,
                             start_at=START, placements=["feed"]).id
        world = World(acme=acme, other=other, jd_product=jd, tmall_product=tmall, vip_product=vip,
                      mp_product=mp, pdd_product=pdd, cid_campaign=cid, ud_campaign=ud)
        for name, role, kwargs in [
            ("admin", "admin", {}), ("source", "source", {}),
            ("acme", "brand", {"brand_id": acme}), ("other", "brand", {"brand_id": other}),
            ("jd", "partner", {"partner_id": "jd"}), ("pdd", "partner", {"partner_id": "pdd"}),
        ]:
            world.keys[name] = issue_key(s, role, **kwargs)["key"]
    return world


@asynccontextmanager
async def log_only_intake(settings: Settings, catalog: Catalog) -> Any:
    """A stand-in intake service exposing only ``.log`` (used when no real one is registered)."""

    class _Intake:
        def __init__(self, log: DurableLog) -> None:
            self.log = log

        def status(self) -> dict[str, Any]:
            return self.log.status()

    log = DurableLog(settings.log_dir, group_commit_ms=settings.intake.group_commit_ms)
    await log.start()
    try:
        yield _Intake(log)
    finally:
        await log.stop()


def link_services() -> list[tuple[str, Callable[[Settings, Catalog], AbstractAsyncContextManager[Any]]]]:
    """The services a links test app runs: the real intake when registered (else a log-only one),
    then the links service. Other stages' services are left out."""
    from seedcart.serve.app import SERVICES

    by_name = dict(SERVICES)
    return [("intake", by_name.get("intake", log_only_intake)), ("links", by_name["links"])]


def touches(log_dir: Path) -> Iterator[dict[str, Any]]:
    """Every touch record in the durable log, in order."""
    for _position, table, records in iter_entries(log_dir):
        if table == "touch":
            yield from records


def serve_world(settings: Settings, catalog: Catalog, live_server: Callable[[Any], Any],
                monkeypatch: pytest.MonkeyPatch) -> tuple[Any, World]:
    """Seed the world and start a live app running only the intake and links services."""
    from seedcart.serve import app as app_module

    settings.links.cache_refresh_s = 0.05
    world = seed_world(catalog)
    monkeypatch.setattr(app_module, "SERVICES", link_services())
    return live_server(app_module.create_app(settings)), world


#: One cached link (an ad link on JD), for redirect tests that need no catalog.
ONE_LINK = CachedLink(link_id=7, code="abc", kind="ad_link", note_id="n-ad", brand_id=1, product_id=3, partner="jd",
                      item_id=JD_SKU, store_id=None, campaign_id=2, placement="feed", commenter_id=None)


class OneLinkCache:
    """A link cache that knows only :data:`ONE_LINK`."""

    def get(self, code: str) -> CachedLink | None:
        return ONE_LINK if code == ONE_LINK.code else None

    def status(self) -> dict[str, Any]:
        return {}
