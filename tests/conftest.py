"""Fixtures shared by every test package: isolated settings, an open catalog, a real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from seedcart.catalog.db import Catalog, open_catalog
from seedcart.config import Settings, load_settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings reading nothing from the process environment, with a fresh data dir."""
    return load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    """The catalog of ``settings``, migrated and seeded, closed after the test."""
    cat = open_catalog(settings)
    yield cat
    cat.close()


class LiveServer:
    """A uvicorn server running ``app`` in a background thread on a free loopback port."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)


@pytest.fixture
def live_server() -> Iterator[Callable[[FastAPI], LiveServer]]:
    """Start ``app`` on a real server over loopback: ``server = live_server(create_app(settings))``."""
    started: list[LiveServer] = []

    def start(app: FastAPI) -> LiveServer:
        server = LiveServer(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
