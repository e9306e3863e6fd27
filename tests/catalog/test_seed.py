"""Seeding on first start: the six partners and eight categories, inserted once, never overwritten."""

from __future__ import annotations

import re
from datetime import timedelta

from seedcart.catalog.brands import list_categories, set_category_lookback
from seedcart.catalog.db import Catalog, open_catalog
from seedcart.catalog.migrations import upgrade
from seedcart.catalog.models import Category
from seedcart.catalog.partners import admits_brand, get_partner, list_partners, lookback_override, update_partner
from seedcart.config import Settings
from seedcart.types import CATEGORIES, PARTNERS


def test_first_start_seeds_partners_and_categories(any_catalog: Catalog) -> None:
    with any_catalog.session() as s:
        partners = {p.id: p for p in list_partners(s)}
        categories = {c.id: c.lookback_days for c in list_categories(s)}
    assert set(partners) == set(PARTNERS)
    assert categories == {"beauty": 29, "mother_baby": 75, "digital": 30, "food": 15, "fashion": 20,
                          "sports_outdoor": 20, "home": 30, "health": 30}
    assert set(categories) == set(CATEGORIES)
    assert {pid: p.sample_rate for pid, p in partners.items()} == {
        "tmall": 1.0, "taobao": 1.0, "jd": 1.0, "pdd": 0.5, "vip": 1.0, "wechat_mp": 1.0}
    # only the mini-program channel pilots, and it starts with nobody admitted
    assert {pid: p.pilot_brands for pid, p in partners.items() if p.pilot_brands is not None} == {"wechat_mp": []}
    assert not admits_brand(partners["wechat_mp"], 1) and admits_brand(partners["tmall"], 1)
    assert "digital" not in partners["vip"].opened_categories
    assert set(partners["tmall"].opened_categories) == set(CATEGORIES)
    assert lookback_override(partners["jd"], "click") == timedelta(days=30)
    assert lookback_override(partners["tmall"], "click") is None
    assert all(p.name and set(p.opened_categories) <= set(CATEGORIES) for p in partners.values())
    secrets = [p.signing_secret for p in partners.values()]
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in secrets) and len(set(secrets)) == 6


def test_seeding_again_keeps_operator_changes_and_secrets(any_catalog: Catalog, db_settings: Settings) -> None:
    with any_catalog.session() as s:
        update_partner(s, "pdd", sample_rate=0.3)
        set_category_lookback(s, "food", 9)
        secret = get_partner(s, "jd").signing_secret
        s.delete(s.get(Category, "health"))
    again = open_catalog(db_settings)
    try:
        upgrade(again.engine)
        with again.session() as s:
            assert get_partner(s, "pdd").sample_rate == 0.3
            assert get_partner(s, "jd").signing_secret == secret
            lookbacks = {c.id: c.lookback_days for c in list_categories(s)}
            assert len(list_partners(s)) == 6
    finally:
        again.close()
    assert lookbacks["food"] == 9
    assert lookbacks["health"] == 30  # a missing seed row comes back
