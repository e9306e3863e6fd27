"""The live streamer against the real app on a real server: front events, clicks, signed backflow."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from seedcart.catalog.db import open_catalog
from seedcart.catalog.keys import create_key
from seedcart.catalog.models import Partner
from seedcart.config import Settings
from seedcart.serve.app import create_app
from seedcart.sim import Faults, WorldConfig, simulate
from seedcart.sim.stream import PartnerAccess, Streamer, click_id_from, world_from_catalog


def test_click_id_is_read_from_plain_and_wrapped_locations() -> None:
    assert click_id_from("https://item.jd.com/1.html?sc_cid=abc_123") == "abc_123"
    assert click_id_from("openapp.jdmobile://virtual?params=%7B%22url%22%3A%22https%3A%2F%2Fx%3Fsc_cid%3DZz9%22%7D") \
        == "Zz9"
    assert click_id_from("openapp.jdmobile://virtual?params=%7B%22skuId%22%3A%221%22%2C%22sc_cid%22%3A%22Nr8w%22%7D") \
        == "Nr8w"
    assert click_id_from("https://example.com/landing") is None


def _keys(settings: Settings) -> tuple[str, dict[str, PartnerAccess]]:
    catalog = open_catalog(settings)
    try:
        with catalog.session() as s:
            source, _ = create_key(s, "source", name="stream test")
            partners = {}
            for partner in s.scalars(select(Partner)).all():
                key, _ = create_key(s, "partner", partner_id=partner.id)
                partners[partner.id] = PartnerAccess(key=key, secret=partner.signing_secret)
    finally:
        catalog.close()
    return source, partners


def test_streamer_feeds_a_running_server(settings: Settings, live_server: Callable[..., Any]) -> None:
    config = WorldConfig(users=60, days=1, seed=9, faults=Faults.off())
    simulate(settings, config)
    source, partners = _keys(settings)
    server = live_server(create_app(settings))
    world = world_from_catalog(settings, config)
    streamer = Streamer(world, server.url, source, partners, users_per_tick=12, max_events_per_s=100_000, seed=1)
    stats = streamer.run(threading.Event(), max_ticks=4)
    assert stats.batches == 4 and stats.front_events > 0, stats
    assert stats.clicks > 0 and stats.click_ids == stats.clicks, stats
    assert stats.backflow_rows > 0 and stats.failures == 0, stats


def test_streamer_waits_out_backpressure_and_stops_on_the_event() -> None:
    calls: list[str] = []
    stop = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(503, headers={"retry-after": "0.01"})
        stop.set()
        return httpx.Response(200, json={"accepted": 1})

    world = world_from_catalog_free()
    client = httpx.Client(base_url="http://sim.test", transport=httpx.MockTransport(handler))
    streamer = Streamer(world, "http://sim.test", "k", {}, users_per_tick=3, client=client)
    stats = streamer.run(stop)
    assert calls[:2] == ["/v1/batch", "/v1/batch"]
    assert stats.retries == 1 and stats.batches == 1 and stats.ticks == 1


def world_from_catalog_free() -> Any:
    from seedcart.sim import build_world

    return build_world(WorldConfig(users=10, days=1, brands=2, notes_per_brand=2), b"stream-test-secret-0123456789")
