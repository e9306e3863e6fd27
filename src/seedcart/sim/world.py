"""The static part of a simulated world: users, brands, products, notes, campaigns and links.

Built once from a ``WorldConfig`` and the alliance secret, as numpy arrays indexed by position;
catalog ids are the position plus a base (so a world can be added to a catalog that has rows).
Users carry a phone (and, on Android, an OAID) from which match keys are derived as a partner
would derive them; the raw identifiers stay in memory and reach only wire exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from seedcart.catalog.seed import PARTNER_SEED
from seedcart.matchkey import match_key
from seedcart.sim.config import PRICE_MEDIAN, TOPICS, WorldConfig
from seedcart.sim.ids import NS_NOTE, base62_codes, chunk_tag, hex_strings, splitmix, uniform_hash
from seedcart.types import CATEGORIES, PARTNERS, PLACEMENTS

DEVICES: Final = ("ios", "android", "web")
#: Slots of each user's category table: a category is drawn by picking one slot uniformly.
CATEGORY_SLOTS: Final = 32
_SYLLABLES: Final = ("lu", "mo", "ra", "ki", "sa", "ne", "vo", "ta", "li", "ze", "mi", "ko", "ya", "fe", "no",
                     "ri", "da", "shu", "xi", "an", "bel", "cor", "ven", "qi")


@dataclass(frozen=True)
class IdBases:
    """What to add to a row's position to get its catalog id (the largest id already present)."""

    brand: int = 0
    product: int = 0
    campaign: int = 0
    link: int = 0


@dataclass
class World:
    """A world's static tables as arrays; ``*_ids`` are catalog / platform ids."""

    config: WorldConfig
    bases: IdBases
    # users
    user_ids: pa.StringArray
    interest: np.ndarray  # (U, 8) float32, rows sum to 1
    category_table: np.ndarray  # (U, CATEGORY_SLOTS) uint8
    activity: np.ndarray  # (U,) float32, mean ~1
    device: np.ndarray  # (U,) uint8 index into DEVICES
    phones: list[str]
    oaids: list[str | None]
    mk_phone: pa.StringArray
    mk_oaid: pa.StringArray  # null for non-Android users
    # brands
    brand_names: list[str]
    brand_cat: np.ndarray
    # products (grouped by brand)
    product_brand: np.ndarray
    product_partner: np.ndarray  # index into PARTNERS
    product_cat: np.ndarray
    product_price: np.ndarray
    product_items: list[str]
    product_stores: list[str | None]
    brand_product_off: np.ndarray  # (B+1,)
    cat_products: np.ndarray  # product positions sorted by category
    cat_product_off: np.ndarray  # (9,)
    # campaigns
    campaign_brand: np.ndarray
    campaign_partner: np.ndarray
    campaign_mode: list[str]
    campaign_placements: list[list[str]]
    campaign_bid_type: list[str]
    campaign_bid_price: np.ndarray
    campaign_holdout: np.ndarray
    # notes
    note_ids: pa.StringArray
    note_brand: np.ndarray  # -1: seeds no brand
    note_cat: np.ndarray
    note_video: np.ndarray
    note_ad: np.ndarray
    note_campaign: np.ndarray  # -1 for organic notes
    note_placement: np.ndarray  # index into PLACEMENTS (ad notes: their ad placement)
    note_link: np.ndarray  # -1 when the note has no link
    note_creator: list[str | None]
    note_topics: list[list[str]]
    organic_by_cat: np.ndarray
    organic_off: np.ndarray
    ad_by_cat: np.ndarray
    ad_off: np.ndarray
    # links
    link_codes: list[str]
    link_kind: np.ndarray  # 0 ad_link, 1 blue_link
    link_note: np.ndarray
    link_product: np.ndarray
    link_campaign: np.ndarray  # -1 for blue links
    # partners
    sample_rate: np.ndarray  # (6,) declared rate per partner
    missing: np.ndarray  # (6, days) bool: the partner sends nothing that day
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def users(self) -> int:
        return len(self.user_ids)

    def brand_id(self, positions: np.ndarray) -> np.ndarray:
        return positions.astype(np.int64) + (self.bases.brand + 1)

    def product_id(self, positions: np.ndarray) -> np.ndarray:
        return positions.astype(np.int64) + (self.bases.product + 1)

    def campaign_id(self, positions: np.ndarray) -> np.ndarray:
        return positions.astype(np.int64) + (self.bases.campaign + 1)

    def link_id(self, positions: np.ndarray) -> np.ndarray:
        return positions.astype(np.int64) + (self.bases.link + 1)


def held_out(world: World, users: np.ndarray, campaigns: np.ndarray) -> np.ndarray:
    """Whether each user (position) is in the holdout of each campaign (position): they see none of its ads."""
    draw = uniform_hash(users, campaigns.clip(0), world.config.seed)
    out: np.ndarray = (campaigns >= 0) & (draw < world.campaign_holdout[campaigns.clip(0)])
    return out


def _grouped(keys: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions sorted by ``keys`` and the offsets of each key's run (length ``groups + 1``)."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=groups)
    return order.astype(np.int64), np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _brand_names(rng: np.random.Generator, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        parts = rng.integers(0, len(_SYLLABLES), size=int(rng.integers(2, 4)))
        name = "".join(_SYLLABLES[i] for i in parts).capitalize()
        if name in seen:
            name = f"{name} {len(names) + 1}"
        seen.add(name)
        names.append(name)
    return names


def _users(config: WorldConfig, secret: bytes, rng: np.random.Generator) -> dict[str, Any]:
    n = config.users
    interest = rng.dirichlet(np.full(len(CATEGORIES), 0.45), size=n).astype(np.float32)
    # Each user's category table: slots filled in proportion to interest (largest remainder).
    cum = np.cumsum(interest, axis=1)
    slots = (np.arange(CATEGORY_SLOTS) + 0.5) / CATEGORY_SLOTS
    table = (slots[None, :, None] > cum[:, None, :]).sum(axis=2).clip(0, len(CATEGORIES) - 1).astype(np.uint8)
    activity = rng.gamma(2.0, 0.5, size=n).astype(np.float32)
    device = rng.choice(3, size=n, p=[0.42, 0.53, 0.05]).astype(np.uint8)
    numbers = rng.integers(3_000_000_000, 9_999_999_999, size=n)
    phones = [f"1{int(x):010d}" for x in numbers]
    oaid_raw = hex_strings(splitmix(np.arange(n, dtype=np.uint64) ^ np.uint64(config.seed * 7919 + 17)))
    oaids: list[str | None] = [f"{h}-{i:08x}" if device[i] == 1 else None
                               for i, h in enumerate(oaid_raw.to_pylist())]
    mk_phone = [match_key(secret, "phone", p) for p in phones]
    mk_oaid = [match_key(secret, "oaid", o) if o is not None else None for o in oaids]
    return {
        "user_ids": pa.array([f"u{i:07d}" for i in range(n)], pa.string()),
        "interest": interest, "category_table": table, "activity": activity, "device": device,
        "phones": phones, "oaids": oaids,
        "mk_phone": pa.array(mk_phone, pa.string()), "mk_oaid": pa.array(mk_oaid, pa.string()),
    }


def build_world(config: WorldConfig, secret: bytes, bases: IdBases | None = None,
                sample_rates: dict[str, float] | None = None) -> World:
    """The static world of ``config``: same config and secret, same world."""
    rng = np.random.default_rng([config.seed, 0xB0])
    bases = bases or IdBases()
    users = _users(config, secret, rng)
    n_cat = len(CATEGORIES)

    # Brands round-robin over categories, so every category has brands.
    n_brands = config.brands
    brand_cat = (np.arange(n_brands) % n_cat).astype(np.int64)
    brand_names = _brand_names(rng, n_brands)

    # Products: each brand on several partners that opened its category; every partner gets some.
    p_brand: list[int] = []
    p_partner: list[int] = []
    for b in range(n_brands):
        cat = CATEGORIES[int(brand_cat[b])]
        opened = [i for i, p in enumerate(PARTNERS) if cat in PARTNER_SEED[p]["opened_categories"]]
        for j in range(config.products_per_brand):
            p_brand.append(b)
            p_partner.append(opened[(b + j) % len(opened)])
    product_brand = np.array(p_brand, dtype=np.int64)
    product_partner = np.array(p_partner, dtype=np.int64)
    product_cat = brand_cat[product_brand]
    median = np.array([PRICE_MEDIAN[c] for c in CATEGORIES], dtype=np.float64)[product_cat]
    product_price = (np.round(median * rng.lognormal(0.0, 0.45, size=len(p_brand)) / 100) * 100 - 10)
    product_price = product_price.clip(990, None).astype(np.int64)
    item_numbers = rng.integers(10**11, 10**12, size=len(p_brand))
    product_items: list[str] = []
    product_stores: list[str | None] = []
    for k, number in enumerate(item_numbers):
        partner_name = PARTNERS[int(product_partner[k])]
        if partner_name == "wechat_mp":
            product_items.append(f"pages/goods/detail?id={int(number)}")
            product_stores.append("wx" + f"{int(splitmix(np.array([number]))[0]):016x}")
        elif partner_name == "vip":
            product_items.append(str(int(number)))
            product_stores.append(str(int(product_brand[k]) + 1000 + bases.brand))
        else:
            product_items.append(str(int(number)))
            product_stores.append(None)
    brand_product_off = np.arange(0, len(p_brand) + 1, config.products_per_brand, dtype=np.int64)
    cat_products, cat_product_off = _grouped(product_cat, n_cat)

    # Campaigns: one or two per brand, on partners the brand sells on.
    c_brand: list[int] = []
    c_partner: list[int] = []
    c_mode: list[str] = []
    c_place: list[list[str]] = []
    for b in range(n_brands):
        partners = sorted({int(x) for x in product_partner[brand_product_off[b]:brand_product_off[b + 1]]}
                          - {PARTNERS.index("wechat_mp")})  # the mini-program channel is in pilot
        if not partners:
            continue
        for k in range(1 + int(rng.random() < 0.5)):
            partner_ix = partners[(b + k) % len(partners)]
            ud_allowed = list(PARTNER_SEED[PARTNERS[partner_ix]]["ud_placements"])
            mode = "UD" if ud_allowed and rng.random() < 0.5 else "CID"
            allowed = ud_allowed if mode == "UD" else list(PLACEMENTS)
            chosen = [p for p in allowed if rng.random() < 0.6] or [allowed[int(rng.integers(len(allowed)))]]
            c_brand.append(b)
            c_partner.append(partner_ix)
            c_mode.append(mode)
            c_place.append(chosen)
    n_camp = len(c_brand)
    campaign_bid_type = ["CPM" if rng.random() < 0.5 else "CPC" for _ in range(n_camp)]
    campaign_bid_price = np.array([int(rng.integers(3000, 9000)) if t == "CPM" else int(rng.integers(40, 300))
                                   for t in campaign_bid_type], dtype=np.int64)
    campaign_holdout = np.clip(config.holdout * rng.choice([0.5, 1.0, 1.5], size=n_camp), 0.0, 0.9)
    campaigns_of_brand: dict[int, list[int]] = {}
    for c, b in enumerate(c_brand):
        campaigns_of_brand.setdefault(b, []).append(c)

    # Notes: branded (by the brand or by creators), some paid; plus unbranded creator notes.
    n_branded = n_brands * config.notes_per_brand
    n_unbranded = n_brands * config.unbranded_notes_per_brand
    n_notes = n_branded + n_unbranded
    note_brand = np.concatenate([np.repeat(np.arange(n_brands), config.notes_per_brand),
                                 np.full(n_unbranded, -1)]).astype(np.int64)
    note_cat = np.where(note_brand >= 0, brand_cat[note_brand.clip(0)],
                        np.arange(n_notes) % n_cat).astype(np.int64)
    note_video = rng.random(n_notes) < 0.35
    with_campaign = np.array([int(x) in campaigns_of_brand for x in note_brand], dtype=bool)
    note_ad = with_campaign & (rng.random(n_notes) < 0.3)
    note_campaign = np.full(n_notes, -1, dtype=np.int64)
    note_placement = np.where(note_video, PLACEMENTS.index("video"), PLACEMENTS.index("feed")).astype(np.int64)
    for ad in np.flatnonzero(note_ad):
        camps = campaigns_of_brand[int(note_brand[ad])]
        c = camps[int(rng.integers(len(camps)))]
        note_campaign[ad] = c
        places = c_place[c]
        want = "video" if note_video[ad] else "feed"
        note_placement[ad] = PLACEMENTS.index(want if want in places else places[int(rng.integers(len(places)))])
    note_creator: list[str | None] = [
        None if (note_brand[i] >= 0 and rng.random() < 0.3) else f"c{int(rng.integers(0, 5000)):05d}"
        for i in range(n_notes)
    ]
    note_topics = [list(rng.choice(TOPICS[CATEGORIES[int(note_cat[i])]], size=int(rng.integers(1, 4)),
                                   replace=False)) for i in range(n_notes)]
    note_ids = hex_strings(splitmix(np.uint64(chunk_tag(NS_NOTE, config.seed, 0)) << np.uint64(32)
                                    | np.arange(n_notes, dtype=np.uint64)))

    # Links: an ad link under every ad note (to its campaign's partner), blue links in comments.
    l_kind: list[int] = []
    l_note: list[int] = []
    l_product: list[int] = []
    l_campaign: list[int] = []
    note_link = np.full(n_notes, -1, dtype=np.int64)
    for i in range(n_branded):
        b = int(note_brand[i])
        products = np.arange(brand_product_off[b], brand_product_off[b + 1])
        if note_ad[i]:
            c = int(note_campaign[i])
            on_partner = products[product_partner[products] == c_partner[c]]
            kind, campaign = 0, int(c)
            product: int = int(on_partner[int(rng.integers(len(on_partner)))])
        elif rng.random() < 0.35:
            linkable = products[product_partner[products] != PARTNERS.index("wechat_mp")]
            if len(linkable) == 0:
                continue
            kind, campaign = 1, -1
            product = int(linkable[int(rng.integers(len(linkable)))])
        else:
            continue
        note_link[i] = len(l_kind)
        l_kind.append(kind)
        l_note.append(i)
        l_product.append(product)
        l_campaign.append(campaign)
    link_codes = base62_codes(rng, len(l_kind))

    organic_keys = np.where(note_ad, n_cat, note_cat)
    organic_by_cat, organic_off = _grouped(organic_keys, n_cat + 1)
    ad_keys = np.where(note_ad, note_cat, n_cat)
    ad_by_cat, ad_off = _grouped(ad_keys, n_cat + 1)

    rates: dict[str, float] = {p: float(PARTNER_SEED[p]["sample_rate"]) for p in PARTNERS}
    rates.update(sample_rates or {})
    rates.update(config.sample_rates or {})
    sample_rate = np.array([rates[p] if config.faults.sampling else 1.0 for p in PARTNERS], dtype=np.float64)
    missing = rng.random((len(PARTNERS), config.days)) < config.faults.missing_days

    return World(
        config=config, bases=bases, **users,
        brand_names=brand_names, brand_cat=brand_cat,
        product_brand=product_brand, product_partner=product_partner, product_cat=product_cat,
        product_price=product_price, product_items=product_items, product_stores=product_stores,
        brand_product_off=brand_product_off, cat_products=cat_products, cat_product_off=cat_product_off,
        campaign_brand=np.array(c_brand, dtype=np.int64), campaign_partner=np.array(c_partner, dtype=np.int64),
        campaign_mode=c_mode, campaign_placements=c_place, campaign_bid_type=campaign_bid_type,
        campaign_bid_price=campaign_bid_price, campaign_holdout=campaign_holdout,
        note_ids=note_ids, note_brand=note_brand, note_cat=note_cat, note_video=note_video, note_ad=note_ad,
        note_campaign=note_campaign, note_placement=note_placement, note_link=note_link,
        note_creator=note_creator, note_topics=note_topics,
        organic_by_cat=organic_by_cat, organic_off=organic_off, ad_by_cat=ad_by_cat, ad_off=ad_off,
        link_codes=link_codes, link_kind=np.array(l_kind, dtype=np.int64), link_note=np.array(l_note, dtype=np.int64),
        link_product=np.array(l_product, dtype=np.int64), link_campaign=np.array(l_campaign, dtype=np.int64),
        sample_rate=sample_rate, missing=missing,
    )
