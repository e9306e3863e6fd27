"""What a new catalog starts with: the eight categories and the six partners ("1+N").

Seeding inserts only what is missing and never overwrites a row, so it is run at every start
(by ``migrations.upgrade``, under the upgrade lock) and an operator's changes survive.

Category lookbacks are ROI(T+x) windows: how long after a touch an order is still plausibly
caused by it, from how long people deliberate over such a purchase:

==============  ====  =================================================================
category        days  why
==============  ====  =================================================================
beauty          29    skincare is bought at the next refill, about a month (a serum ~29 d)
mother_baby     75    baby food and formula are chosen slowly and bought in stages (70+ d)
digital         30    researched purchases; price-watching over weeks
food            15    impulse and weekly shops: the platform default
fashion         20    seasonal; bought within a few weeks of inspiration
sports_outdoor  20    bought ahead of a trip or season
home            30    furniture and appliances are compared for weeks
health          30    supplements follow monthly cycles
==============  ====  =================================================================

Partners: every one declares a full backflow except Pinduoduo, which posts a 50 % sample;
JD credits clicks for 30 days instead of the default; the WeChat mini-program channel is in
pilot (an empty pilot list: no brand until one is added); Vipshop has not opened digital,
food or health. Each partner gets a random signing secret for its backflow signatures.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

from sqlalchemy import Connection, insert, select

from seedcart.catalog.models import Category, Partner
from seedcart.types import CATEGORIES
from seedcart.types import Category as CategoryId
from seedcart.types import Partner as PartnerId

logger = logging.getLogger(__name__)

_DAY = 86_400

#: Category id -> (display name, lookback days).
CATEGORY_SEED: Final[dict[CategoryId, tuple[str, int]]] = {
    "beauty": ("Beauty & skincare", 29),
    "sports_outdoor": ("Sports & outdoor", 20),
    "fashion": ("Fashion", 20),
    "food": ("Food & drink", 15),
    "mother_baby": ("Mother & baby", 75),
    "home": ("Home & living", 30),
    "digital": ("Digital & electronics", 30),
    "health": ("Health & supplements", 30),
}

#: Partner id -> its seeded settings (the signing secret is generated per catalog).
PARTNER_SEED: Final[dict[PartnerId, dict[str, Any]]] = {
    "tmall": {
        "name": "Tmall", "opened_categories": list(CATEGORIES), "pilot_brands": None, "sample_rate": 1.0,
        "lookback_overrides": None, "ud_placements": ["search", "feed", "video"],
    },
    "taobao": {
        "name": "Taobao", "opened_categories": list(CATEGORIES), "pilot_brands": None, "sample_rate": 1.0,
        "lookback_overrides": None, "ud_placements": ["search", "feed"],
    },
    "jd": {
        "name": "JD.com", "opened_categories": list(CATEGORIES), "pilot_brands": None, "sample_rate": 1.0,
        "lookback_overrides": {"click": 30 * _DAY}, "ud_placements": ["search", "feed", "video"],
    },
    "pdd": {
        "name": "Pinduoduo",
        "opened_categories": ["beauty", "food", "mother_baby", "home", "digital", "fashion", "sports_outdoor"],
        "pilot_brands": None, "sample_rate": 0.5, "lookback_overrides": None, "ud_placements": ["feed"],
    },
    "vip": {
        "name": "Vipshop", "opened_categories": ["beauty", "fashion", "mother_baby", "home", "sports_outdoor"],
        "pilot_brands": None, "sample_rate": 1.0, "lookback_overrides": None, "ud_placements": ["feed"],
    },
    "wechat_mp": {
        "name": "WeChat mini programs", "opened_categories": ["beauty", "food", "fashion", "home"],
        "pilot_brands": [], "sample_rate": 1.0, "lookback_overrides": None, "ud_placements": [],
    },
}


def seed_catalog(conn: Connection) -> dict[str, int]:
    """Insert the categories and partners that are missing; returns how many of each were added."""
    have_categories = set(conn.execute(select(Category.id)).scalars())
    new_categories = [
        {"id": cid, "name": name, "lookback_days": days}
        for cid, (name, days) in CATEGORY_SEED.items() if cid not in have_categories
    ]
    if new_categories:
        conn.execute(insert(Category), new_categories)
    have_partners = set(conn.execute(select(Partner.id)).scalars())
    new_partners = [
        {"id": pid, **values, "signing_secret": secrets.token_hex(32)}
        for pid, values in PARTNER_SEED.items() if pid not in have_partners
    ]
    if new_partners:
        conn.execute(insert(Partner), new_partners)
    if new_categories or new_partners:
        logger.info("catalog seeded: %d categories, %d partners", len(new_categories), len(new_partners))
    return {"categories": len(new_categories), "partners": len(new_partners)}
