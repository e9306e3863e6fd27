"""The link policy and link creation scope: every refusal names its rule."""

from __future__ import annotations

import pytest
from tests.links.world import World

from seedcart.catalog.db import Catalog
from seedcart.catalog.keys import Principal
from seedcart.catalog.models import Link
from seedcart.catalog.products import create_product
from seedcart.errors import Forbidden, LinkRefused, NotFound
from seedcart.links.create import create_ad_link, create_blue_link
from seedcart.links.partners import parse_url


def brand(world: World, which: str = "acme") -> Principal:
    return Principal(key_id=1, role="brand", brand_id=world.acme if which == "acme" else world.other)


def test_an_ad_link_under_an_ad_note_is_created(catalog: Catalog, world: World) -> None:
    with catalog.session() as s:
        link, entry = create_ad_link(s, brand(world), note_id="n-ad", product_id=world.jd_product,
                                     campaign_id=world.cid_campaign, placement="search")
        assert (link.kind, link.note_id, link.campaign_id, link.placement) == ("ad_link", "n-ad",
                                                                               world.cid_campaign, "search")
        assert entry.partner == "jd" and entry.code == link.code


def test_an_ad_link_needs_an_ad_note(catalog: Catalog, world: World) -> None:
    with pytest.raises(LinkRefused) as caught, catalog.session() as s:
        create_ad_link(s, brand(world), note_id="n-plain", product_id=world.jd_product,
                       campaign_id=world.cid_campaign)
    assert caught.value.rule == "note_not_ad"
    assert caught.value.field == "note_id"


def test_the_category_must_be_opened_by_the_partner(catalog: Catalog, world: World) -> None:
    with catalog.session() as s:
        refs = parse_url("https://detail.vip.com/detail-2590192-464314661.html")
        with pytest.raises(LinkRefused) as caught:
            create_blue_link(s, refs, note_id="n-plain", commenter_id="u1", comment_id="c1")
    assert caught.value.rule == "category_not_opened"


def test_the_brand_must_be_on_a_pilot_list(catalog: Catalog, world: World) -> None:
    with catalog.session() as s:
        ref = parse_url("weixin://dl/business/?appid=wx4e1ba651bbe36d01&path=pages/goods/detail&query=id%3D9")
        with pytest.raises(LinkRefused) as caught:
            create_blue_link(s, ref, note_id="n-plain", commenter_id="u1", comment_id="c1")
    assert caught.value.rule == "brand_not_in_pilot"


def test_a_blue_link_needs_a_catalog_product(catalog: Catalog, world: World) -> None:
    with catalog.session() as s:
        with pytest.raises(LinkRefused) as caught:
            create_blue_link(s, parse_url("https://item.jd.com/999.html"), note_id="n-plain", commenter_id=None,
                             comment_id=None)
        assert caught.value.rule == "product_not_in_catalog"
        with pytest.raises(LinkRefused) as caught:
            create_blue_link(s, parse_url("https://u.jd.com/Ab3d"), note_id="n-plain", commenter_id=None,
                             comment_id=None)
        assert caught.value.rule == "not_a_product"


def test_a_catalog_item_the_partner_cannot_open_is_refused(catalog: Catalog, world: World) -> None:
    with catalog.session() as s:
        bad = create_product(s, partner_id="jd", item_id="sku-<b>", brand_id=world.acme, category_id="beauty")
        with pytest.raises(LinkRefused) as caught:
            create_ad_link(s, brand(world), note_id="n-ad", product_id=bad.id, campaign_id=world.cid_campaign)
    assert caught.value.rule == "item_id"


def test_a_note_of_another_brand_is_refused(catalog: Catalog, world: World) -> None:
    admin = Principal(key_id=1, role="admin")
    with pytest.raises(LinkRefused) as caught, catalog.session() as s:
        create_ad_link(s, admin, note_id="n-other", product_id=world.jd_product, campaign_id=world.cid_campaign)
    assert caught.value.rule == "note_of_other_brand"


def test_scope_brand_partner(catalog: Catalog, world: World) -> None:
    jd = Principal(key_id=1, role="partner", partner_id="jd")
    pdd = Principal(key_id=1, role="partner", partner_id="pdd")
    with catalog.session() as s:
        with pytest.raises(NotFound):  # another brand's product is invisible
            create_ad_link(s, brand(world, "other"), note_id="n-ad", product_id=world.jd_product,
                           campaign_id=world.cid_campaign)
        with pytest.raises(Forbidden):  # a brand cannot link through a UD campaign
            create_ad_link(s, brand(world), note_id="n-ad", product_id=world.jd_product,
                           campaign_id=world.ud_campaign)
        with pytest.raises(Forbidden):  # a partner cannot link through the brand's CID campaign
            create_ad_link(s, jd, note_id="n-ad", product_id=world.jd_product, campaign_id=world.cid_campaign)
        with pytest.raises(NotFound):  # nor touch another partner's products
            create_ad_link(s, pdd, note_id="n-ad", product_id=world.jd_product, campaign_id=world.ud_campaign)
        link, _ = create_ad_link(s, jd, note_id="n-ad", product_id=world.jd_product, campaign_id=world.ud_campaign)
        assert s.get(Link, link.id) is not None
