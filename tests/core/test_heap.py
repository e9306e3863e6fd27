"""The server's collector settings: frozen start-up heap and a higher young threshold while it runs,
everything as it was once it stops."""

from __future__ import annotations

import gc
from collections.abc import Callable

from fastapi import FastAPI
from tests.conftest import LiveServer

from seedcart.config import Settings
from seedcart.heap import settled
from seedcart.serve.app import create_app


def test_settled_freezes_the_heap_raises_the_threshold_and_restores_both() -> None:
    before = gc.get_threshold()
    with settled(12_345):
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with settled(0):  # off: the collector is left alone
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_running_server_has_its_heap_settled(settings: Settings,
                                               live_server: Callable[[FastAPI], LiveServer]) -> None:
    settings.serve.gc_young_threshold = 23_456
    before = gc.get_threshold()
    server = live_server(create_app(settings, services=False))
    with server.client() as client:
        assert client.get("/healthz").status_code == 200
    assert gc.get_threshold()[0] == 23_456 and gc.get_freeze_count() > 0
    server.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
