"""Lakes with known answers for tests, the end-to-end test and the benchmark.

``small_world`` writes two brands, three campaigns and three notes with hand-countable touches and
credit (the numbers tests assert on are in its docstring). ``random_world`` writes a large
random lake (numpy, vectorised) of the same shape for the dashboard benchmark when the simulator
is not available. Both write only through the catalog models and :class:`LakeWriter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa

from seedcart.catalog.db import Catalog
from seedcart.catalog.keys import create_key
from seedcart.catalog.models import Brand, Campaign, Category, Note, Partner
from seedcart.lake.credit import pack_arrow
from seedcart.lake.schemas import credit_column, credited_amount_column
from seedcart.lake.writer import LakeWriter

DAY = date(2026, 11, 20)


@dataclass
class World:
    """Ids and keys of a written world."""

    brands: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # admin / brand_a / brand_b / partner_jd / partner_tmall
    notes: list[str] = field(default_factory=list)
    campaigns: dict[str, int] = field(default_factory=dict)
    day: date = DAY


def _at(day: date, seconds: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)


def seed_catalog(catalog: Catalog, *, notes_per_brand: int = 1) -> World:
    """Brands A and B, partners tmall and jd, campaigns and notes, and one key per role."""
    world = World()
    with catalog.session() as s:
        for pid in ("tmall", "jd"):
            if s.get(Partner, pid) is None:
                s.add(Partner(id=pid, name=pid, signing_secret="x" * 32, opened_categories=["beauty"]))
        if s.get(Category, "beauty") is None:
            s.add(Category(id="beauty", name="beauty", lookback_days=29))
        a, b = Brand(name="Brand A"), Brand(name="Brand B")
        s.add_all([a, b])
        s.flush()
        world.brands = {"A": a.id, "B": b.id}
        start = _at(DAY - timedelta(days=30), 0)
        campaigns = {
            "A_tmall_cpm": Campaign(brand_id=a.id, partner_id="tmall", name="A · Tmall CPM", mode="CID",
                                    placements=["feed"], bid_type="CPM", bid_price=20_000, start_at=start),
            "A_jd_cpc": Campaign(brand_id=a.id, partner_id="jd", name="A · JD CPC", mode="UD",
                                 placements=["search"], bid_type="CPC", bid_price=50, start_at=start),
            "B_tmall_cpm": Campaign(brand_id=b.id, partner_id="tmall", name="B · Tmall CPM", mode="UD",
                                    placements=["feed"], bid_type="CPM", bid_price=10_000, start_at=start),
        }
        s.add_all(campaigns.values())
        for brand, label in ((a, "A"), (b, "B")):
            for i in range(notes_per_brand):
                s.add(Note(id=f"n{label}{i + 1}", brand_id=brand.id, title=f"{label} note {i + 1} 面霜测评",
                           is_ad=True, format="image" if i % 2 == 0 else "video"))
                world.notes.append(f"n{label}{i + 1}")
        s.flush()
        world.campaigns = {k: c.id for k, c in campaigns.items()}
        world.keys["admin"] = create_key(s, "admin")[0]
        world.keys["brand_a"] = create_key(s, "brand", brand_id=a.id)[0]
        world.keys["brand_b"] = create_key(s, "brand", brand_id=b.id)[0]
        world.keys["partner_jd"] = create_key(s, "partner", partner_id="jd")[0]
        world.keys["partner_tmall"] = create_key(s, "partner", partner_id="tmall")[0]
    return world


def _touch_rows(note: str, brand: int, campaign: int, placement: str, partner: str, *, day: date,
                kinds: dict[str, int], user_prefix: str, start: int = 0) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for kind, n in kinds.items():
        for i in range(n):
            second = start + len(rows)
            rows.append({
                "event_id": f"{note}-{day}-{kind}-{i}", "ts": _at(day, 3600 + second),
                "received_at": _at(day, 3601 + second),
                "user_id": f"{user_prefix}{i}", "kind": kind, "note_id": note, "brand_id": brand,
                "campaign_id": campaign, "placement": placement,
                "partner": partner if kind == "link_click" else None,
                "dwell_ms": 8_000 if kind == "read" and i < 10 else (1_000 if kind == "read" else None),
                "is_bot": False, "is_duplicate": False, "source": "sim",
            })
    return rows


def _credit(note: str, brand: int, campaign: int, placement: str, partner: str, *, action: str, event: str,
            day: date, model: str, credit: float = 1.0, weight: float = 1.0, amount: int | None = None,
            lag_s: int = 3600, user: str = "u0") -> dict[str, object]:
    ts = _at(day, 7200)
    return {"partner": partner, "event_id": event, "action": action, "ts": ts, "brand_id": brand,
            "touch_event_id": f"{note}-touch-{event}", "touch_ts": ts - timedelta(seconds=lag_s),
            "touch_kind": "link_click", "note_id": note, "campaign_id": campaign, "placement": placement,
            "user_id": user, "match": "click", "model": model, "credit": credit, "weight": weight,
            "amount": amount, "credited_amount": None if amount is None else credit * amount, "lag_s": lag_s}


def small_world(root: str, catalog: Catalog) -> World:
    """A lake with countable answers, all on :data:`DAY` (UTC) unless said otherwise.

    Note ``nA1`` (brand A, campaign A_tmall_cpm, CPM 20,000 fen per 1,000, placement feed):
    100 impressions, 40 reads (10 of them deep: dwell 8 s), 5 likes, 2 comments, 3 collects, 1 share,
    10 link clicks plus one bot click and one duplicate click (both excluded); spend 2,000 fen.
    Credit under ``last_touch``: 4 visits, 2 carts, 1 order of 10,000 fen (tmall, unsampled), plus
    2 visits from JD sampled at 50 % (weight 2: estimate 4, variance 2 x 1 x 1 x 2 = 4).
    Seeding value = 8 visits x 1 + 2 carts x 3 + 1 order x 5 = 19.
    Note ``nA2`` (brand A, campaign A_jd_cpc, CPC 50 fen, search, mode UD): 60 impressions, 20 reads,
    4 link clicks (spend 200 fen) and under last_touch 1 order of 5,000 fen with lag 3 days.
    Note ``nB1`` (brand B, campaign B_tmall_cpm): 80 impressions, 30 reads, 1 order of 99,900 fen.
    The ``linear`` model gives every credited row half the credit.
    """
    world = seed_catalog(catalog, notes_per_brand=2)
    a, b = world.brands["A"], world.brands["B"]
    c = world.campaigns
    touches = _touch_rows("nA1", a, c["A_tmall_cpm"], "feed", "tmall", day=DAY,
                          kinds={"impression": 100, "read": 40, "like": 5, "comment": 2, "collect": 3, "share": 1,
                           "link_click": 10}, user_prefix="ua")
    bot = {**touches[-1], "event_id": "bot-click", "is_bot": True}
    dup = {**touches[-1], "event_id": "dup-click", "is_duplicate": True}
    touches += [bot, dup]
    touches += _touch_rows("nA2", a, c["A_jd_cpc"], "search", "jd", day=DAY,
                           kinds={"impression": 60, "read": 20, "link_click": 4}, user_prefix="ub")
    touches += _touch_rows("nB1", b, c["B_tmall_cpm"], "feed", "tmall", day=DAY,
                           kinds={"impression": 80, "read": 30}, user_prefix="uc")
    credits = []
    for model, share in (("last_touch", 1.0), ("linear", 0.5)):
        def add(note: str, brand: int, campaign: int, placement: str, partner: str, *, action: str, event: str,
                model: str = model, share: float = share, **kw: object) -> None:
            credits.append(_credit(note, brand, campaign, placement, partner, action=action, event=event, day=DAY,
                                   model=model, credit=share, **kw))  # type: ignore[arg-type]
        for i in range(4):
            add("nA1", a, c["A_tmall_cpm"], "feed", "tmall", action="visit", event=f"v{i}", user=f"ua{i}")
        for i in range(2):
            add("nA1", a, c["A_tmall_cpm"], "feed", "tmall", action="cart", event=f"c{i}", user=f"ua{i}")
            add("nA1", a, c["A_tmall_cpm"], "feed", "jd", action="visit", event=f"jv{i}", weight=2.0, user=f"ua{i}")
        add("nA1", a, c["A_tmall_cpm"], "feed", "tmall", action="order", event="o1", amount=10_000, user="ua0")
        add("nA2", a, c["A_jd_cpc"], "search", "jd", action="order", event="o2", amount=5_000,
            lag_s=3 * 86_400 + 60, user="ub0")
        add("nB1", b, c["B_tmall_cpm"], "feed", "tmall", action="order", event="o3", amount=99_900, user="uc0")
    writer = LakeWriter(root)
    writer.append("touch", pa.Table.from_pylist(touches))
    writer.append("credit", pack_arrow(pa.Table.from_pylist(credits)))
    return world


def random_world(root: str, catalog: Catalog, *, notes: int = 200, days: int = 30, touches_per_day: int = 100_000,
                 seed: int = 7, end: date | None = None) -> World:
    """A large random lake for benchmarks: ``notes`` notes per brand, ``days`` days ending at ``end``."""
    rng = np.random.default_rng(seed)
    world = seed_catalog(catalog, notes_per_brand=notes)
    end = end or datetime.now(UTC).date()
    note_ids = np.array(world.notes)
    brand_of = np.array([world.brands[n[1]] for n in world.notes], dtype=np.int64)
    camp_a = np.array([world.campaigns["A_tmall_cpm"], world.campaigns["A_jd_cpc"]], dtype=np.int64)
    kinds = np.array(["impression", "read", "like", "comment", "collect", "share", "link_click"])
    kind_p = np.array([0.6, 0.25, 0.05, 0.02, 0.02, 0.01, 0.05])
    writer = LakeWriter(root)
    for d in range(days):
        day = end - timedelta(days=days - 1 - d)
        n = touches_per_day
        idx = rng.integers(0, len(note_ids), n)
        base = np.datetime64(f"{day.isoformat()}T00:00:00", "us")
        ts = base + rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]")
        campaign = np.where(brand_of[idx] == world.brands["A"], camp_a[idx % 2], world.campaigns["B_tmall_cpm"])
        kind = rng.choice(kinds, n, p=kind_p)
        users = rng.integers(0, 50_000, n)
        writer.append("touch", pa.table({
            "event_id": pa.array([f"t{d}-{i}" for i in range(n)]),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "received_at": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "user_id": pa.array(np.char.add("u", users.astype(str))),
            "kind": pa.array(kind), "note_id": pa.array(note_ids[idx]), "brand_id": pa.array(brand_of[idx]),
            "campaign_id": pa.array(campaign), "placement": pa.array(np.where(idx % 2 == 0, "feed", "search")),
            "dwell_ms": pa.array(rng.integers(0, 20_000, n)),
            "is_bot": pa.array(rng.random(n) < 0.01), "is_duplicate": pa.array(np.zeros(n, bool)),
            "source": pa.array(np.full(n, "sim")),
        }))
        m = n // 50
        cidx = rng.integers(0, len(note_ids), m)
        actions = rng.choice(np.array(["visit", "favorite", "cart", "order"]), m, p=[0.5, 0.15, 0.2, 0.15])
        amounts = np.where(actions == "order", rng.integers(1_000, 100_000, m), 0)
        lag = rng.integers(0, 20 * 86_400, m)
        cts = base + rng.integers(0, 86_400_000_000, m).astype("timedelta64[us]")
        cols = {
            "partner": pa.array(np.where(cidx % 2 == 0, "tmall", "jd")),
            "event_id": pa.array([f"b{d}-{i}" for i in range(m)]), "action": pa.array(actions),
            "ts": pa.array(cts, pa.timestamp("us", tz="UTC")), "brand_id": pa.array(brand_of[cidx]),
            "touch_event_id": pa.array([f"t{d}-{i}" for i in range(m)]),
            "touch_ts": pa.array(cts - lag.astype("timedelta64[s]"), pa.timestamp("us", tz="UTC")),
            "touch_kind": pa.array(np.full(m, "link_click")), "note_id": pa.array(note_ids[cidx]),
            "campaign_id": pa.array(np.where(brand_of[cidx] == world.brands["A"], camp_a[cidx % 2],
                                             world.campaigns["B_tmall_cpm"])),
            "placement": pa.array(np.where(cidx % 2 == 0, "feed", "search")),
            "user_id": pa.array(np.char.add("u", rng.integers(0, 50_000, m).astype(str))),
            "match": pa.array(np.full(m, "click")),
            "weight": pa.array(np.where(cidx % 2 == 0, 1.0, 2.0)), "amount": pa.array(amounts),
            "lag_s": pa.array(lag),
        }
        for model in ("last_touch", "linear"):  # stored rows: each model's credit in its own columns
            cols[credit_column(model)] = pa.array(np.ones(m))
            cols[credited_amount_column(model)] = pa.array(amounts.astype(float))
        writer.append("credit", pa.table(cols))
    return world
