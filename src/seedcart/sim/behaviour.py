"""What simulated people do in one day of one block of users, vectorised with numpy.

Front link: impressions through placements (ad slots skip users held out of the campaign),
interest-driven reads, deep reads (image dwell >= 5 s, video >= 50 % watched), engagements,
link clicks with click ids, in-platform searches, and bot clicks.

Back link: purchase journeys (visit, search, favorite, cart, order, refund) of three origins:
the organic baseline (caused by no note), journeys caused by reading a branded note (lagged by
a category-dependent number of days), and click-through journeys that carry the click id.
Every journey remembers the note and touch that caused it: that is the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from seedcart.sim.config import IMPULSE_SHARE, LAG_MEAN_DAYS, UPLIFT
from seedcart.sim.world import CATEGORY_SLOTS, World, held_out
from seedcart.types import BACK_ACTIONS, CATEGORIES, FRONT_KINDS, PLACEMENTS

US_PER_S: Final = 1_000_000
US_PER_DAY: Final = 86_400 * US_PER_S
#: App surfaces of touches: per placement for views and engagements, per link kind for clicks.
SURFACES: Final = ("home_feed", "search_results", "video_feed", "ad_link", "blue_link")
UA_CLASSES: Final = ("ios", "android", "wechat", "desktop", "bot")
KIND: Final[dict[str, int]] = {k: i for i, k in enumerate(FRONT_KINDS)}
ACTION: Final[dict[str, int]] = {a: i for i, a in enumerate(BACK_ACTIONS)}
#: Engagement kinds and their probability per read (doubled on a deep read).
ENGAGEMENTS: Final = (("like", 0.06), ("collect", 0.03), ("comment", 0.012), ("share", 0.01), ("follow", 0.006))
#: Latest second of the UTC day an impression may start: follow-ups (read + dwell <= 10 min + search
#: <= 10 min) then end before midnight.
_LAST_SECOND: Final = 86_400 - 1_800
_UPLIFT: Final = np.array([UPLIFT[c] for c in CATEGORIES])
_LAG: Final = np.array([LAG_MEAN_DAYS[c] for c in CATEGORIES])
_IMPULSE: Final = np.array([IMPULSE_SHARE[c] for c in CATEGORIES])


@dataclass
class Touches:
    """Touch rows of a chunk as parallel arrays; -1 / NaN stand for null."""

    user: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    note: np.ndarray
    campaign: np.ndarray
    placement: np.ndarray
    surface: np.ndarray
    link: np.ndarray
    product: np.ndarray
    dwell_ms: np.ndarray
    watch_ratio: np.ndarray
    position: np.ndarray
    ua_class: np.ndarray
    query_brand: np.ndarray
    is_bot: np.ndarray

    @property
    def size(self) -> int:
        return len(self.user)


@dataclass
class Journeys:
    """Purchase journeys of a chunk; ``touch`` is the causing row in the chunk's touches (-1: organic)."""

    user: np.ndarray
    product: np.ndarray
    start: np.ndarray
    note: np.ndarray
    touch: np.ndarray
    click: np.ndarray  # the causing touch row when it is a link click, else -1


@dataclass
class BackEvents:
    """Back-link events of a chunk as parallel arrays (ground truth in ``note`` / ``touch``)."""

    user: np.ndarray
    action: np.ndarray
    ts: np.ndarray
    product: np.ndarray
    note: np.ndarray
    touch: np.ndarray
    click: np.ndarray
    order: np.ndarray  # row of the order an order/refund belongs to (-1 otherwise)
    amount: np.ndarray  # -1 when null
    use_mk: np.ndarray
    use_oaid: np.ndarray


#: Touch fields every derived touch copies from the impression it follows (unless it overrides them).
_FOLLOWED: Final = ("user", "note", "campaign", "placement", "surface", "position")
#: The dtype and null value of the other touch fields (``kind`` and ``ts`` are given by every part).
#: Ids and durations are int32: they are null on most rows, and the narrower arrays are cheaper to fill.
_OWN: Final[dict[str, tuple[type, int | float | bool]]] = {
    "kind": (np.int8, -1), "ts": (np.int64, -1), "link": (np.int32, -1), "product": (np.int32, -1),
    "dwell_ms": (np.int32, -1), "watch_ratio": (np.float64, np.nan), "ua_class": (np.int8, -1),
    "query_brand": (np.int32, -1), "is_bot": (np.bool_, False),
}


@dataclass
class _Part:
    """Touches of one kind: ``rows`` of the impressions they follow (None: not derived), and their own values."""

    size: int
    rows: np.ndarray | None
    values: dict[str, np.ndarray | int]


def _assemble(imps: dict[str, np.ndarray], parts: list[_Part]) -> Touches:
    """The parts' touches one after the other, each field written once into its final array.

    A derived part gathers the ``_FOLLOWED`` fields it does not override from ``imps`` straight into
    its slice, and fields nobody sets stay null: no per-part arrays and no concatenation.
    """
    total = sum(p.size for p in parts)
    fields: dict[str, np.ndarray] = {}
    for name in Touches.__dataclass_fields__:
        followed = name in _FOLLOWED
        if followed:
            out = np.empty(total, dtype=imps[name].dtype)
        else:
            dtype, null = _OWN[name]
            out = np.full(total, null, dtype=dtype)
        at = 0
        for p in parts:
            if p.size:
                value = p.values.get(name)
                if value is not None:
                    out[at:at + p.size] = value
                elif followed and p.rows is not None:
                    np.take(imps[name], p.rows, out=out[at:at + p.size], mode="clip")
                elif followed:  # a part of its own (bots) leaves it null
                    out[at:at + p.size] = -1
            at += p.size
        fields[name] = out
    return Touches(**fields)


def front(world: World, rng: np.random.Generator, *, day: int, lo: int, hi: int,
          bot_rng: np.random.Generator | None = None) -> Touches:
    """The touches of users ``lo..hi-1`` on ``day`` (0-based): one array row per touch.

    Bot clicks draw from ``bot_rng`` (default ``rng``), so turning bots off changes nothing else.
    """
    brng = bot_rng if bot_rng is not None else rng
    cfg = world.config
    day_us = int(cfg.start_at.timestamp()) * US_PER_S + day * US_PER_DAY
    users = np.arange(lo, hi)
    counts = rng.poisson(world.activity[lo:hi] * cfg.impressions_per_user_day)
    user = np.repeat(users, counts)
    m = len(user)
    cat = world.category_table[user, rng.integers(0, CATEGORY_SLOTS, size=m)].astype(np.int64)

    # Organic slots: popular notes first (a skewed draw within the category).
    org_off = world.organic_off
    org_count = org_off[cat + 1] - org_off[cat]
    pick = (rng.random(m) ** 1.6 * org_count).astype(np.int64)
    note = world.organic_by_cat[(org_off[cat] + np.minimum(pick, org_count - 1)).clip(0)]
    has_organic = org_count > 0
    # Ad slots: an ad note of the category, unless the user is held out of its campaign.
    ad_count = world.ad_off[cat + 1] - world.ad_off[cat]
    # (A category with no organic note fills every slot with ads.)
    is_ad = ((rng.random(m) < cfg.ad_share) | ~has_organic) & (ad_count > 0)
    ads = np.flatnonzero(is_ad)
    if len(ads):  # ad notes and the holdout hash only for the ad slots
        ad_pick = world.ad_by_cat[world.ad_off[cat[ads]] + (rng.random(len(ads)) * ad_count[ads]).astype(np.int64)]
        shown = ~held_out(world, user[ads], world.note_campaign[ad_pick])
        is_ad[ads] = shown
        note[ads[shown]] = ad_pick[shown]
    keep = is_ad | has_organic
    user, note, is_ad = user[keep], note[keep], is_ad[keep]
    m = len(user)
    campaign = np.where(is_ad, world.note_campaign[note], -1)
    video = world.note_video[note]
    search = PLACEMENTS.index("search")
    placement = np.where(is_ad | video, world.note_placement[note],
                         np.where(rng.random(m) < 0.8, PLACEMENTS.index("feed"), search)).astype(np.int8)
    # Positions 1..10 in search results, 1..30 in feeds: one uniform draw scaled per row.
    position = (rng.random(m) * np.where(placement == search, 10.0, 30.0)).astype(np.int8) + 1
    # Activity peaks in the Beijing evening (12:30 UTC); the quiet last half hour of the UTC day
    # (07:30-08:00 in Beijing) stays empty, so every follow-up touch lands on the same UTC date.
    # A mixture of 60 % uniform and 40 % normal: the draw that picks the component, scaled, is the
    # uniform second (u < 0.6 is uniform on [0, 0.6)), and normals are drawn for the rest only.
    pick_uniform = rng.random(m)
    seconds = pick_uniform * (_LAST_SECOND / 0.6)
    evening = np.flatnonzero(pick_uniform >= 0.6)
    seconds[evening] = rng.normal(12.5 * 3600, 2.5 * 3600, size=len(evening)).clip(0, _LAST_SECOND)
    seconds *= US_PER_S
    ts = seconds.astype(np.int64)
    ts += day_us
    imps = {"user": user, "note": note, "campaign": campaign, "placement": placement,
            "surface": placement, "position": position}  # SURFACES[0..2] line up with PLACEMENTS
    parts = [_Part(m, None, {**imps, "kind": KIND["impression"], "ts": ts})]

    # Reads: interest-driven; deep reads by dwell (image) or share watched (video).
    note_cat = world.note_cat[note]
    p_read = world.interest[user, note_cat] * 0.55
    p_read += 0.02
    np.multiply(p_read, 0.8, out=p_read, where=is_ad)
    r = np.flatnonzero(rng.random(m) < p_read)
    rv = video[r]
    # Image reads have a dwell time, video reads a share watched: each drawn for its own reads only.
    image, movie = np.flatnonzero(~rv), np.flatnonzero(rv)
    dwell = np.full(len(r), -1, dtype=np.int64)
    dwell[image] = rng.lognormal(np.log(4200), 0.7, size=len(image)).clip(300, 600_000)
    watch = np.full(len(r), np.nan)
    watch[movie] = rng.beta(1.4, 1.5, size=len(movie))
    read_ts = ts[r] + rng.integers(1, 6, size=len(r)) * US_PER_S
    parts.append(_Part(len(r), r, {"kind": KIND["read"], "ts": read_ts, "dwell_ms": dwell, "watch_ratio": watch}))
    deep_mask = np.where(rv, watch >= 0.5, dwell >= 5000)
    d = np.flatnonzero(deep_mask)
    spent = np.where(rv, (np.nan_to_num(watch) * 60 * US_PER_S).astype(np.int64), dwell * 1000)
    parts.append(_Part(len(d), r[d], {"kind": KIND["deep_read"], "ts": read_ts[d] + spent[d],
                                      "dwell_ms": dwell[d], "watch_ratio": watch[d]}))

    boost = np.where(deep_mask, 2.0, 1.0)
    after = read_ts + spent
    for kind, p in ENGAGEMENTS:
        e = np.flatnonzero(rng.random(len(r)) < p * boost)
        parts.append(_Part(len(e), r[e], {"kind": KIND[kind], "dwell_ms": dwell[e], "watch_ratio": watch[e],
                                          "ts": after[e] + rng.integers(2, 60, size=len(e)) * US_PER_S}))

    # Link clicks on notes with a link: ad links more than blue links, deep reads twice as often.
    read_note = note[r]
    link = world.note_link[read_note]
    has_link = link >= 0
    is_blue = has_link & (world.link_kind[link.clip(0)] == 1) if len(world.link_kind) else has_link
    p_click = np.where(has_link, np.where(is_blue, 0.035, 0.07), 0.0) * boost
    c = np.flatnonzero(rng.random(len(r)) < p_click)
    dev = world.device[user[r[c]]]
    ua = np.where(dev == 0, 0, np.where(dev == 1, np.where(rng.random(len(c)) < 0.15, 2, 1), 3)).astype(np.int8)
    parts.append(_Part(len(c), r[c], {
        "kind": KIND["link_click"], "ts": after[c] + rng.integers(1, 30, size=len(c)) * US_PER_S,
        "dwell_ms": dwell[c], "watch_ratio": watch[c], "link": link[c], "product": world.link_product[link[c]],
        "surface": np.where(is_blue[c], 4, 3).astype(np.int8), "campaign": world.link_campaign[link[c]],
        "ua_class": ua}))

    # In-platform searches for the brand after reading a branded note.
    brand = world.note_brand[read_note]
    s = np.flatnonzero((brand >= 0) & (rng.random(len(r)) < 0.03 * boost))
    parts.append(_Part(len(s), r[s], {
        "kind": KIND["search"], "ts": after[s] + rng.integers(5, 600, size=len(s)) * US_PER_S,
        "dwell_ms": dwell[s], "watch_ratio": watch[s], "note": -1, "campaign": -1, "query_brand": brand[s],
        "placement": -1, "position": -1}))

    # Bot clicks: links hit by crawlers and click farms, no user, no purchases.
    n_bots = int(brng.poisson(len(c) * cfg.faults.bots)) if len(world.link_codes) else 0
    if n_bots:
        bl = brng.integers(0, len(world.link_codes), size=n_bots)
        bnote = world.link_note[bl]
        parts.append(_Part(n_bots, None, {
            "user": -1, "kind": KIND["link_click"], "ts": day_us + brng.integers(0, US_PER_DAY, size=n_bots),
            "note": bnote, "campaign": world.link_campaign[bl], "placement": world.note_placement[bnote],
            "surface": np.where(world.link_kind[bl] == 1, 4, 3), "link": bl, "product": world.link_product[bl],
            "position": -1, "ua_class": 4, "is_bot": True}))
    out = _assemble(imps, parts)
    np.minimum(out.ts, day_us + US_PER_DAY - 1, out=out.ts)  # never past midnight (see _LAST_SECOND)
    return out


def journeys(world: World, rng: np.random.Generator, touches: Touches, *, day: int, lo: int, hi: int) -> Journeys:
    """Purchase journeys started by the chunk's reads and clicks, plus the organic baseline."""
    cfg = world.config
    scale = cfg.conversion_scale
    day_us = int(cfg.start_at.timestamp()) * US_PER_S + day * US_PER_DAY
    kind = touches.kind
    # Caused by reading a branded note: lagged by days, category-dependent.
    reads = np.flatnonzero((kind == KIND["read"]) & (touches.note >= 0))
    brand = world.note_brand[touches.note[reads]]
    reads, brand = reads[brand >= 0], brand[brand >= 0]
    cat = world.brand_cat[brand]
    deep = touches.dwell_ms[reads] >= 5000
    deep |= np.nan_to_num(touches.watch_ratio[reads]) >= 0.5
    user = touches.user[reads]
    lam = _UPLIFT[cat] * np.where(deep, 2.5, 1.0) * (0.4 + 4.0 * world.interest[user, cat]) * scale
    n = rng.poisson(lam)
    rows = np.repeat(reads, n)
    rb = np.repeat(brand, n)
    rc = world.brand_cat[rb]
    impulse = rng.random(len(rows)) < _IMPULSE[rc]
    lag_days = np.where(impulse, rng.uniform(0.01, 0.6, size=len(rows)),
                        rng.exponential(_LAG[rc]).clip(0.02, 90.0))
    start_read = touches.ts[rows] + (lag_days * US_PER_DAY).astype(np.int64)
    off = world.brand_product_off
    prod_read = off[rb] + (rng.random(len(rows)) * (off[rb + 1] - off[rb])).astype(np.int64)

    # Click-through: every human click visits at once; some come back later with the same click id.
    clicks = np.flatnonzero((kind == KIND["link_click"]) & ~touches.is_bot)
    again = rng.poisson(0.15 * scale, size=len(clicks))
    crow = np.concatenate([clicks, np.repeat(clicks, again)])
    clag = np.concatenate([rng.integers(1, 20, size=len(clicks)) * US_PER_S,
                           (rng.exponential(3.0, size=int(again.sum())) * US_PER_DAY).astype(np.int64)])
    start_click = touches.ts[crow] + clag

    # Organic baseline: visits nobody's note caused, in the user's categories of interest.
    users = np.arange(lo, hi)
    n_org = rng.poisson(world.activity[lo:hi] * cfg.organic_visits_per_user_day * scale)
    ouser = np.repeat(users, n_org)
    ocat = world.category_table[ouser, rng.integers(0, CATEGORY_SLOTS, size=len(ouser))].astype(np.int64)
    coff = world.cat_product_off
    ccount = coff[ocat + 1] - coff[ocat]
    ok = ccount > 0
    ouser, ocat, ccount = ouser[ok], ocat[ok], ccount[ok]
    oprod = world.cat_products[coff[ocat] + (rng.random(len(ouser)) * ccount).astype(np.int64)]
    ostart = day_us + rng.integers(300 * US_PER_S, US_PER_DAY, size=len(ouser))  # searches precede by <= 300 s

    none_r, none_o = np.full(len(rows), -1), np.full(len(ouser), -1)
    return Journeys(
        user=np.concatenate([touches.user[rows], touches.user[crow], ouser]),
        product=np.concatenate([prod_read, touches.product[crow], oprod]),
        start=np.concatenate([start_read, start_click, ostart]),
        note=np.concatenate([touches.note[rows], touches.note[crow], none_o]),
        touch=np.concatenate([rows, crow, none_o]),
        click=np.concatenate([none_r, crow, none_o]),
    )


def back_events(world: World, rng: np.random.Generator, j: Journeys) -> BackEvents:
    """Expand journeys into back-link events: search? visit, favorite?, cart?, order?, refund?."""
    end_us = int(world.config.end_at.timestamp()) * US_PER_S
    n = len(j.user)
    s = US_PER_S
    has_click = j.click >= 0
    searched = ~has_click & (rng.random(n) < 0.4)
    fav = rng.random(n) < 0.2
    cart = rng.random(n) < 0.3
    order = rng.random(n) < np.where(cart, 0.5, 0.08)
    steps: list[tuple[str, np.ndarray, np.ndarray]] = [
        ("search", np.flatnonzero(searched), -rng.integers(20, 300, size=n) * s),
        ("visit", np.arange(n), np.zeros(n, dtype=np.int64)),
        ("favorite", np.flatnonzero(fav), rng.integers(30, 900, size=n) * s),
        ("cart", np.flatnonzero(cart), rng.integers(60, 1800, size=n) * s),
        ("order", np.flatnonzero(order), rng.integers(1900, 3600, size=n) * s),
    ]
    rows = [idx for _, idx, _ in steps]
    ts = [j.start[idx] + delay[idx] for _, idx, delay in steps]
    action = [np.full(len(idx), ACTION[a], dtype=np.int8) for a, idx, _ in steps]
    o = steps[-1][1]
    qty = rng.choice([1, 2, 3], size=len(o), p=[0.8, 0.15, 0.05])
    o_amount = world.product_price[j.product[o]] * qty
    o_ts = ts[-1]
    # Refunds follow some orders by days: same order, amount at most the order's.
    rf = np.flatnonzero(rng.random(len(o)) < 0.07)
    r_amount = np.where(rng.random(len(rf)) < 0.7, o_amount[rf],
                        (o_amount[rf] * rng.uniform(0.2, 0.9, size=len(rf))).astype(np.int64))
    r_ts = o_ts[rf] + (rng.uniform(1.0, 10.0, size=len(rf)) * 86_400 * s).astype(np.int64)
    rows.append(o[rf])
    ts.append(r_ts)
    action.append(np.full(len(rf), ACTION["refund"], dtype=np.int8))

    row = np.concatenate(rows)
    base = sum(len(x) for x in rows[:-2])  # first order row in the concatenation
    order_row = np.full(len(row), -1, dtype=np.int64)
    order_row[base:base + len(o)] = np.arange(base, base + len(o))
    order_row[base + len(o):] = base + rf
    amount = np.full(len(row), -1, dtype=np.int64)
    amount[base:base + len(o)] = o_amount
    amount[base + len(o):] = r_amount
    ev_ts = np.concatenate(ts)
    android = world.device[j.user[row]] == 1
    use_mk_j = ~has_click | (rng.random(n) < 0.3)
    use_oaid_j = rng.random(n) < 0.3
    events = BackEvents(
        user=j.user[row], action=np.concatenate(action), ts=ev_ts, product=j.product[row], note=j.note[row],
        touch=j.touch[row], click=j.click[row], order=order_row, amount=amount,
        use_mk=use_mk_j[row], use_oaid=use_oaid_j[row] & android,
    )
    # Nothing happens after the world ends; an order dropped takes its refunds with it.
    live = ev_ts < end_us
    if not live.all():
        keep_idx = np.flatnonzero(live)
        remap = np.full(len(row), -1, dtype=np.int64)
        remap[keep_idx] = np.arange(len(keep_idx))
        events = BackEvents(**{f: getattr(events, f)[keep_idx] for f in BackEvents.__dataclass_fields__})
        # A refund is later than its order, so every refund kept still has its order.
        events.order = np.where(events.order >= 0, remap[events.order.clip(0)], -1)
    return events
