"""A live feed for a running server (``make demo``): the simulated users keep doing things now.

Each tick a few users see notes and read some (a Segment batch to ``/v1/batch``), click links
(``GET /c/{code}?uid=...``, taking the click id from the ``sc_cid`` of the ``Location`` header
without following it), and, seconds later, visit, cart and order on the partner, posted as signed
backflow to ``/v1/backflow/{partner}`` with the click id or the match key. The rate is bounded,
``stop`` ends it at once, and 429/503 answers are retried after their ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

import httpx
import numpy as np
import orjson
from sqlalchemy import select

from seedcart.catalog.db import open_catalog
from seedcart.catalog.models import Brand, Campaign, Link, Partner, Product
from seedcart.collect.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from seedcart.config import Settings
from seedcart.errors import NotFound
from seedcart.sim.config import WorldConfig
from seedcart.sim.world import DEVICES, IdBases, World, build_world
from seedcart.types import PARTNERS, PLACEMENTS

logger = logging.getLogger(__name__)

#: ``sc_cid=<id>`` in a URL, or ``"sc_cid":"<id>"`` in JSON parameters of an app link (JD).
_CLICK_ID: Final = re.compile(r"sc_cid(?:=|\"\s*:\s*\")([A-Za-z0-9_.~-]+)")
_USER_AGENTS: Final = {
    "ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
    "web": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
}
RETRYABLE: Final = (429, 503)


@dataclass(frozen=True)
class PartnerAccess:
    """What a partner needs to post backflow: its API key and its signing secret."""

    key: str
    secret: str


@dataclass
class StreamStats:
    """What the streamer sent and what came back."""

    ticks: int = 0
    front_events: int = 0
    batches: int = 0
    clicks: int = 0
    click_ids: int = 0
    backflow_rows: int = 0
    backflow_posts: int = 0
    retries: int = 0
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass
class _Pending:
    due: float
    partner: str
    row: dict[str, Any]


def click_id_from(location: str) -> str | None:
    """The ``sc_cid`` in a redirect target, also when the target wraps an url-encoded URL or JSON."""
    text = location
    for _ in range(4):
        match = _CLICK_ID.search(text)
        if match:
            return match.group(1)
        decoded = unquote(text)
        if decoded == text:
            return None
        text = decoded
    return None


def world_from_catalog(settings: Settings, config: WorldConfig) -> World:
    """Rebuild the world ``seedcart simulate`` wrote with ``config``, with the ids the catalog gave it."""
    probe = build_world(config, settings.alliance_key())
    catalog = open_catalog(settings)
    try:
        with catalog.session() as s:
            brand = s.scalar(select(Brand.id).where(Brand.name == probe.brand_names[0]))
            product = s.scalar(select(Product.id).where(
                Product.partner_id == PARTNERS[int(probe.product_partner[0])],
                Product.item_id == probe.product_items[0]))
            campaign = s.scalar(select(Campaign.id).where(Campaign.name == f"{probe.brand_names[0]} push 1"))
            link = s.scalar(select(Link.id).where(Link.code == probe.link_codes[0])) if probe.link_codes else 1
            rates = {p.id: float(p.sample_rate) for p in s.scalars(select(Partner))}
    finally:
        catalog.close()
    if brand is None or product is None or link is None:
        raise NotFound(f"no world with seed {config.seed} in this catalog; run seedcart simulate first",
                       field="seed")
    bases = IdBases(brand=brand - 1, product=product - 1, campaign=(campaign or 1) - 1, link=link - 1)
    return build_world(config, settings.alliance_key(), bases, sample_rates=rates)


class Streamer:
    """Posts "now" events of ``world``'s users to a running server; see the module docstring."""

    def __init__(self, world: World, base_url: str, source_key: str, partners: Mapping[str, PartnerAccess], *,
                 users_per_tick: int = 20, max_events_per_s: float = 200.0, seed: int = 0,
                 client: httpx.Client | None = None, clock: Callable[[], float] = time.time,
                 click_url: str | None = None) -> None:
        self.world = world
        self.click_base = (click_url or "").rstrip("/")  # "": relative to the client's base URL
        self.source_key = source_key
        self.partners = dict(partners)
        self.users_per_tick = users_per_tick
        self.max_events_per_s = max_events_per_s
        self.rng = np.random.default_rng([world.config.seed, seed, 0x57])
        self.client = client or httpx.Client(base_url=base_url, timeout=10.0)
        self.clock = clock
        self.stats = StreamStats()
        self.pending: list[_Pending] = []
        self._ids = 0
        self._linked = np.flatnonzero(world.note_link >= 0)
        self._mk = world.mk_phone.to_pylist()

    # -- ids and rows ----------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self.world.config.seed:x}-{int(self.clock() * 1000):x}-{self._ids:x}"

    def _now(self, offset_s: float = 0.0) -> str:
        return datetime.fromtimestamp(self.clock() + offset_s, UTC).isoformat().replace("+00:00", "Z")

    def _track(self, event: str, user: str, device: str, properties: dict[str, Any],
               offset_s: float) -> dict[str, Any]:
        return {"type": "track", "event": event, "userId": user, "messageId": self._id("m"),
                "timestamp": self._now(offset_s), "context": {"device": {"type": device}},
                "properties": properties}

    # -- one tick --------------------------------------------------------------------------------
    def tick(self, stop: threading.Event) -> int:
        """One round of users; returns how many requests' worth of events it sent."""
        w = self.world
        messages: list[dict[str, Any]] = []
        users = self.rng.integers(0, w.users, size=self.users_per_tick)
        clicks: list[tuple[int, int, str]] = []
        for u in users:
            user = f"u{int(u):07d}"
            device = DEVICES[int(w.device[u])]
            pool = self._linked if len(self._linked) and self.rng.random() < 0.5 else np.arange(len(w.note_brand))
            note = int(pool[int(self.rng.integers(len(pool)))])
            props: dict[str, Any] = {"note_id": w.note_ids[note].as_py(),
                                     "placement": PLACEMENTS[int(w.note_placement[note])],
                                     "position": int(self.rng.integers(1, 20))}
            messages.append(self._track("note_impression", user, device, dict(props), -2.0))
            if self.rng.random() < 0.5:
                read = dict(props)
                if w.note_video[note]:
                    read["watch_ratio"] = round(float(self.rng.random()), 3)
                else:
                    read["dwell_ms"] = int(self.rng.lognormal(np.log(4200), 0.7))
                messages.append(self._track("note_read", user, device, read, -1.0))
                if self.rng.random() < 0.2:
                    messages.append(self._track("note_like", user, device, dict(props), 0.0))
                link = int(w.note_link[note])
                if link >= 0 and self.rng.random() < 0.5:
                    clicks.append((int(u), link, device))
                elif w.note_brand[note] >= 0 and self.rng.random() < 0.3:
                    self._journey(int(u), self._brand_product(int(w.note_brand[note])), None)
        if messages:
            self._post_batch(messages, stop)
        for u, link, device in clicks:
            self._click(u, link, device, stop)
        self._flush_backflow(stop, force=False)
        self.stats.ticks += 1
        return len(messages) + len(clicks)

    def _brand_product(self, brand: int) -> int:
        off = self.world.brand_product_off
        return int(off[brand] + self.rng.integers(off[brand + 1] - off[brand]))

    def _journey(self, user: int, product: int, click_id: str | None) -> None:
        """Queue a partner journey: a visit soon, then maybe cart and order seconds later."""
        w = self.world
        partner_ix = int(w.product_partner[product])
        partner = PARTNERS[partner_ix]
        rate = float(w.sample_rate[partner_ix])
        if partner not in self.partners or self.rng.random() >= rate:  # a sampling partner keeps its share
            return
        now = self.clock()
        base: dict[str, Any] = {"product_id": int(w.product_id(np.array([product]))[0]), "sample_rate": rate}
        if click_id is not None:
            base["click_id"] = click_id
        if click_id is None or self.rng.random() < 0.3:
            base["match_key"] = self._mk[user]
        steps: list[tuple[float, str, dict[str, Any]]] = [(1.0, "visit", {})]
        if self.rng.random() < 0.4:
            steps.append((3.0, "cart", {}))
            if self.rng.random() < 0.6:
                amount = int(w.product_price[product]) * int(self.rng.integers(1, 3))
                steps.append((5.0, "order", {"order_id": self._id("o"), "amount": amount, "currency": "CNY"}))
        for delay, action, extra in steps:
            row = {"event_id": self._id("b"), "action": action, **base, **extra}
            self.pending.append(_Pending(now + delay, partner, row))

    # -- HTTP ------------------------------------------------------------------------------------
    def _send(self, stop: threading.Event, method: str, url: str, *,
              resign: Callable[[], dict[str, str]] | None = None, **kwargs: Any) -> httpx.Response | None:
        """One request, retried after Retry-After on 429/503 until ``stop``; None when it never got through.

        ``resign`` makes fresh headers for each retry (signatures carry a timestamp).
        """
        for _ in range(6):
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                logger.warning("stream: %s %s failed: %s", method, url, exc)
                self.stats.failures += 1
                return None
            self.stats.statuses[response.status_code] = self.stats.statuses.get(response.status_code, 0) + 1
            if response.status_code not in RETRYABLE:
                return response
            self.stats.retries += 1
            try:
                wait = float(response.headers.get("retry-after", "1"))
            except ValueError:
                wait = 1.0
            if stop.wait(min(max(wait, 0.05), 30.0)):
                return None
            if resign is not None:
                kwargs["headers"] = resign()
        self.stats.failures += 1
        return None

    def _post_batch(self, messages: list[dict[str, Any]], stop: threading.Event) -> None:
        response = self._send(stop, "POST", "/v1/batch", content=orjson.dumps({"batch": messages}),
                              headers={"content-type": "application/json"}, auth=(self.source_key, ""))
        if response is not None and response.is_success:
            self.stats.batches += 1
            self.stats.front_events += len(messages)
        elif response is not None:
            logger.warning("stream: /v1/batch answered %d: %s", response.status_code, response.text[:300])

    def _click(self, user: int, link: int, device: str, stop: threading.Event) -> None:
        code = self.world.link_codes[link]
        placement = PLACEMENTS[int(self.world.note_placement[int(self.world.link_note[link])])]
        response = self._send(stop, "GET", f"{self.click_base}/c/{code}",
                              params={"uid": f"u{user:07d}", "placement": placement},
                              headers={"user-agent": _USER_AGENTS[device]}, follow_redirects=False)
        self.stats.clicks += 1
        if response is None:
            return
        click_id = click_id_from(response.headers.get("location", "")) or click_id_from(response.text[:4000])
        if click_id is None:
            logger.info("stream: click on %s gave no sc_cid (status %d, location %r)", code, response.status_code,
                        response.headers.get("location"))
            return
        self.stats.click_ids += 1
        self._journey(user, int(self.world.link_product[link]), click_id)

    def _flush_backflow(self, stop: threading.Event, *, force: bool) -> None:
        now = self.clock()
        due = [p for p in self.pending if force or p.due <= now]
        self.pending = [p for p in self.pending if not (force or p.due <= now)]
        by_partner: dict[str, list[dict[str, Any]]] = {}
        for item in due:
            by_partner.setdefault(item.partner, []).append({**item.row, "ts": self._now(item.due - now)})
        for partner, rows in by_partner.items():
            access = self.partners[partner]
            body = orjson.dumps(rows)

            def headers(access: PartnerAccess = access, body: bytes = body) -> dict[str, str]:
                stamp = int(self.clock())
                return {"authorization": f"Bearer {access.key}", "content-type": "application/json",
                        TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(access.secret, stamp, body)}

            response = self._send(stop, "POST", f"/v1/backflow/{partner}", content=body, headers=headers(),
                                  resign=headers)
            if response is not None and response.is_success:
                self.stats.backflow_posts += 1
                self.stats.backflow_rows += len(rows)
            elif response is not None:
                logger.warning("stream: backflow %s answered %d: %s", partner, response.status_code,
                               response.text[:300])

    def run(self, stop: threading.Event, *, max_ticks: int | None = None) -> StreamStats:
        """Tick until ``stop`` is set (or ``max_ticks``), at most ``max_events_per_s`` events a second."""
        try:
            while not stop.is_set() and (max_ticks is None or self.stats.ticks < max_ticks):
                started = time.monotonic()
                sent = self.tick(stop)
                budget = sent / self.max_events_per_s
                stop.wait(max(0.0, budget - (time.monotonic() - started)))
            self._flush_backflow(stop, force=True)
        finally:
            self.client.close()
        return self.stats


def stream(settings: Settings, config: WorldConfig, *, base_url: str, source_key: str,
           partners: Mapping[str, PartnerAccess], stop: threading.Event, max_events_per_s: float = 200.0,
           users_per_tick: int = 20, click_url: str | None = None) -> StreamStats:
    """Feed ``base_url`` with the users of the world ``seedcart simulate`` wrote with ``config`` until ``stop``;
    clicks go to the short links at ``click_url`` (the click edge; default ``base_url``)."""
    world = world_from_catalog(settings, config)
    streamer = Streamer(world, base_url, source_key, partners, users_per_tick=users_per_tick,
                        max_events_per_s=max_events_per_s, click_url=click_url)
    return streamer.run(stop)
