"""Repository functions: the typed create/get/list/update calls routers and the simulator use."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from seedcart.catalog import repo
from seedcart.catalog.db import Catalog
from seedcart.catalog.models import Load
from seedcart.errors import Conflict, Forbidden, NotFound, ValidationError

START = datetime(2026, 6, 1, tzinfo=UTC)


def _world(s: Any) -> dict[str, Any]:
    brand = repo.create_brand(s, "Lumi")
    product = repo.create_product(s, partner_id="tmall", item_id="6001", brand_id=brand.id, category_id="beauty",
                                  title="Serum", price=19900)
    note = repo.upsert_note(s, "n-1", brand_id=brand.id, title="My serum", topics=["skincare"], is_ad=True)
    campaign = repo.create_campaign(s, brand_id=brand.id, partner_id="tmall", mode="CID", bid_type="CPC",
                                    bid_price=80, start_at=START, placements=["feed", "search"], budget=10_000_00)
    return {"brand": brand, "product": product, "note": note, "campaign": campaign}


def test_a_brand_its_product_note_campaign_and_link(any_catalog: Catalog) -> None:
    with any_catalog.session() as s:
        w = _world(s)
        link = repo.create_link(s, kind="ad_link", note_id="n-1", product_id=w["product"].id,
                                campaign_id=w["campaign"].id, placement="feed")
        code = link.code
    with any_catalog.session() as s:
        assert [b.name for b in repo.list_brands(s)] == ["Lumi"]
        assert repo.get_product_by_item(s, "tmall", "6001").price == 19900
        assert repo.find_product(s, "jd", "6001") is None
        assert repo.get_note(s, "n-1").topics == ["skincare"]
        found = repo.get_link_by_code(s, code)
        assert (found.kind, found.note_id, found.campaign_id, found.active) == ("ad_link", "n-1",
                                                                                w["campaign"].id, True)
        assert [c.id for c in repo.list_campaigns(s, brand_id=w["brand"].id, partner_id="tmall")] == \
            [w["campaign"].id]
        assert repo.list_campaigns(s, partner_id="jd") == []
        assert repo.get_campaign(s, w["campaign"].id).start_at == START


def test_link_codes_are_unique_and_short(catalog: Catalog) -> None:
    with catalog.session() as s:
        w = _world(s)
        codes = {repo.create_link(s, kind="blue_link", note_id="n-1", product_id=w["product"].id,
                                  comment_id=f"c{i}").code for i in range(50)}
        assert len(codes) == 50 and all(len(c) == 8 and c.isalnum() for c in codes)
        repo.create_link(s, kind="blue_link", note_id="n-1", product_id=w["product"].id, code="spring-sale")
        with pytest.raises(Conflict) as info:
            repo.create_link(s, kind="blue_link", note_id="n-1", product_id=w["product"].id, code="spring-sale")
        assert info.value.context["field"] == "code"


def test_changed_links_and_the_catalog_version_follow_changes(catalog: Catalog) -> None:
    with catalog.session() as s:
        v0 = repo.catalog_version(s)
        w = _world(s)
        first = repo.create_link(s, kind="blue_link", note_id="n-1", product_id=w["product"].id)
        second = repo.create_link(s, kind="blue_link", note_id="n-1", product_id=w["product"].id)
    with catalog.session() as s:
        v1 = repo.catalog_version(s)
        seen = repo.links_changed_since(s, None)
        mark = max(lk.updated_at for lk in seen if lk.updated_at is not None)
        assert [lk.id for lk in seen] == [first.id, second.id]
        assert repo.links_changed_since(s, mark) == []
    assert v1 > v0
    time.sleep(0.002)  # updated_at has microsecond resolution; make the change strictly later
    with catalog.session() as s:
        repo.set_link_active(s, first.id, False)
    with catalog.session() as s:
        changed = repo.links_changed_since(s, mark)
        assert [(lk.id, lk.active) for lk in changed] == [(first.id, False)]
        assert [lk.id for lk in repo.list_links(s, active=True)] == [second.id]
        v2 = repo.catalog_version(s)
        s.add(Load(id="l1", partner_id="jd"))  # bookkeeping does not move the version
    with catalog.session() as s:
        assert repo.catalog_version(s) == v2 > v1
        repo.list_brands(s)  # reading does not either
    with catalog.session() as s:
        assert repo.catalog_version(s) == v2


def test_notes_upsert_in_place(catalog: Catalog) -> None:
    with catalog.session() as s:
        brand = repo.create_brand(s, "Lumi")
        repo.upsert_note(s, "n-9", title="first", topics=["a"])
        repo.upsert_note(s, "n-9", brand_id=brand.id, title="second", topics=["a", "b"], format="video")
    with catalog.session() as s:
        note = repo.get_note(s, "n-9")
        assert (note.brand_id, note.title, note.topics, note.format) == (brand.id, "second", ["a", "b"], "video")
        assert [n.id for n in repo.list_notes(s, brand_id=brand.id)] == ["n-9"]


def test_pilot_lists_gate_campaigns(catalog: Catalog) -> None:
    with catalog.session() as s:
        brand = repo.create_brand(s, "Lumi")
        args: dict[str, Any] = {"brand_id": brand.id, "partner_id": "wechat_mp", "mode": "CID", "bid_type": "CPM",
                                "bid_price": 3000, "start_at": START}
        with pytest.raises(Forbidden) as info:
            repo.create_campaign(s, **args)
        assert info.value.context["field"] == "partner_id"
        repo.add_pilot_brand(s, "wechat_mp", brand.id)
        assert repo.create_campaign(s, **args).partner_id == "wechat_mp"
        repo.remove_pilot_brand(s, "wechat_mp", brand.id)
        assert repo.get_partner(s, "wechat_mp").pilot_brands == []
        with pytest.raises(ValidationError):
            repo.add_pilot_brand(s, "tmall", brand.id)  # keeps no pilot list: everyone is in


def test_partner_updates(catalog: Catalog) -> None:
    with catalog.session() as s:
        brand = repo.create_brand(s, "Lumi")
        jd = repo.update_partner(s, "jd", sample_rate=0.8, lookback_overrides={"click": "7d", "view": 3600},
                                 pilot_brands=[brand.id], opened_categories=["beauty", "food"])
        assert (jd.sample_rate, jd.lookback_overrides, jd.pilot_brands, jd.opened_categories) == \
            (0.8, {"click": 7 * 86400, "view": 3600}, [brand.id], ["beauty", "food"])
        jd = repo.update_partner(s, "jd", pilot_brands=None)
        assert jd.pilot_brands is None and jd.sample_rate == 0.8  # untouched fields stay
        old = jd.signing_secret
        assert repo.rotate_signing_secret(s, "jd") != old


def test_campaign_updates_are_validated_as_a_whole(catalog: Catalog) -> None:
    with catalog.session() as s:
        campaign = _world(s)["campaign"]
        repo.update_campaign(s, campaign.id, status="paused", budget=5)
        with pytest.raises(ValidationError) as info:
            repo.update_campaign(s, campaign.id, budget=7, end_at=START - timedelta(days=1))
        assert info.value.field == "end_at"
        assert (campaign.budget, campaign.end_at, campaign.status) == (5, None, "paused")
        with pytest.raises(ValidationError) as info:
            repo.update_campaign(s, campaign.id, brand_id=2)
        assert info.value.field == "brand_id"
        assert [c.id for c in repo.list_campaigns(s, status="paused")] == [campaign.id]


@pytest.mark.parametrize(("call", "field"), [
    (lambda s, w: repo.create_brand(s, "  "), "name"),
    (lambda s, w: repo.create_brand(s, "x" * 201), "name"),
    (lambda s, w: repo.set_contribution_weights(s, w["brand"].id, {"purchase": 1.0}), "contribution_weights.purchase"),
    (lambda s, w: repo.get_partner(s, "amazon"), "partner_id"),
    (lambda s, w: repo.update_partner(s, "pdd", sample_rate=0.0), "sample_rate"),
    (lambda s, w: repo.update_partner(s, "pdd", sample_rate=1.5), "sample_rate"),
    (lambda s, w: repo.update_partner(s, "pdd", opened_categories=["toys"]), "opened_categories"),
    (lambda s, w: repo.update_partner(s, "pdd", lookback_overrides={"click": "soon"}), "lookback_overrides.click"),
    (lambda s, w: repo.update_partner(s, "pdd", lookback_overrides={"touch": "1d"}), "lookback_overrides.touch"),
    (lambda s, w: repo.set_category_lookback(s, "food", 0), "lookback_days"),
    (lambda s, w: repo.create_product(s, partner_id="jd", item_id="", brand_id=w["brand"].id,
                                      category_id="beauty"), "item_id"),
    (lambda s, w: repo.create_product(s, partner_id="jd", item_id="1", brand_id=w["brand"].id,
                                      category_id="toys"), "category_id"),
    (lambda s, w: repo.create_product(s, partner_id="jd", item_id="1", brand_id=w["brand"].id,
                                      category_id="beauty", price=-1), "price"),
    (lambda s, w: repo.upsert_note(s, "n-2", format="gif"), "format"),
    (lambda s, w: repo.create_campaign(s, brand_id=w["brand"].id, partner_id="tmall", mode="XX", bid_type="CPC",
                                       bid_price=1, start_at=START), "mode"),
    (lambda s, w: repo.create_campaign(s, brand_id=w["brand"].id, partner_id="pdd", mode="UD", bid_type="CPC",
                                       bid_price=1, start_at=START, placements=["search"]), "placements"),
    (lambda s, w: repo.create_campaign(s, brand_id=w["brand"].id, partner_id="tmall", mode="CID", bid_type="CPA",
                                       bid_price=1, start_at=START), "bid_type"),
    (lambda s, w: repo.create_campaign(s, brand_id=w["brand"].id, partner_id="tmall", mode="CID", bid_type="CPC",
                                       bid_price=1, start_at=datetime(2026, 1, 1)), "start_at"),
    (lambda s, w: repo.create_campaign(s, brand_id=w["brand"].id, partner_id="tmall", mode="CID", bid_type="CPC",
                                       bid_price=1, start_at=START, holdout_fraction=1.0), "holdout_fraction"),
    (lambda s, w: repo.create_link(s, kind="ad_link", note_id="n-1", product_id=w["product"].id), "campaign_id"),
    (lambda s, w: repo.create_link(s, kind="blue_link", note_id="n-1", product_id=w["product"].id,
                                   campaign_id=w["campaign"].id), "campaign_id"),
    (lambda s, w: repo.create_link(s, kind="ad_link", note_id="n-1", product_id=w["product"].id,
                                   campaign_id=w["campaign"].id, placement="video"), "placement"),
    (lambda s, w: repo.create_link(s, kind="deep_link", note_id="n-1", product_id=w["product"].id), "kind"),
    (lambda s, w: repo.create_link(s, kind="blue_link", note_id="n-1", product_id=w["product"].id,
                                   code="no spaces"), "code"),
])
def test_refusals_name_the_field(catalog: Catalog, call: Any, field: str) -> None:
    with catalog.session() as s:
        w = _world(s)
        with pytest.raises(ValidationError) as info:
            call(s, w)
    assert info.value.field == field


@pytest.mark.parametrize(("call", "field"), [
    (lambda s: repo.get_brand(s, 99), "brand_id"),
    (lambda s: repo.get_product(s, 99), "product_id"),
    (lambda s: repo.get_product_by_item(s, "jd", "nope"), "item_id"),
    (lambda s: repo.get_note(s, "nope"), "note_id"),
    (lambda s: repo.get_campaign(s, 99), "campaign_id"),
    (lambda s: repo.get_link_by_code(s, "nope"), "code"),
    (lambda s: repo.get_category(s, "toys"), "category_id"),
    (lambda s: repo.create_product(s, partner_id="jd", item_id="1", brand_id=99, category_id="beauty"), "brand_id"),
    (lambda s: repo.create_link(s, kind="blue_link", note_id="nope", product_id=1), "note_id"),
])
def test_unknown_ids_are_not_found_naming_the_field(catalog: Catalog, call: Any, field: str) -> None:
    with catalog.session() as s, pytest.raises(NotFound) as info:
        call(s)
    assert info.value.context["field"] == field


def test_duplicates_conflict(catalog: Catalog) -> None:
    with catalog.session() as s:
        w = _world(s)
        with pytest.raises(Conflict) as info:
            repo.create_brand(s, " Lumi ")
        assert info.value.context["field"] == "name"
        with pytest.raises(Conflict) as info:
            repo.create_product(s, partner_id="tmall", item_id="6001", brand_id=w["brand"].id,
                                category_id="beauty")
        assert info.value.context["field"] == "item_id"


def test_rows_serialise_without_secrets(catalog: Catalog) -> None:
    with catalog.session() as s:
        partner = repo.get_partner(s, "jd").to_dict()
        clear, key = repo.create_key(s, "admin")
        key_dict = key.to_dict()
    assert "signing_secret" not in partner and partner["sample_rate"] == 1.0
    assert "key_hash" not in key_dict and clear not in str(key_dict)
