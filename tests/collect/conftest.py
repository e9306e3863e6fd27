"""Fixtures of the intake tests: a live server with source, partner and admin keys, signing helpers,
and a reader of what reached the lake."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest

from seedcart.catalog.db import open_catalog
from seedcart.catalog.keys import create_key
from seedcart.catalog.models import Partner
from seedcart.collect.signing import signed_headers
from seedcart.config import Settings, load_settings
from seedcart.lake.engines import connect
from seedcart.lake.reader import read_table
from seedcart.serve.app import create_app


def intake_settings(tmp_path: Path, **intake: Any) -> Settings:
    """Isolated settings with a quick lake flush; ``intake`` overrides IntakeSettings fields."""
    env = {"SEEDCART__DATA_DIR": str(tmp_path / "data"), "SEEDCART__INTAKE__FLUSH_INTERVAL_S": "0.05",
           "SEEDCART__INTAKE__GROUP_COMMIT_MS": "0"}
    env.update({f"SEEDCART__INTAKE__{k.upper()}": str(v) for k, v in intake.items()})
    return load_settings(env)


@dataclass
class Keys:
    """Keys minted into a fresh catalog, and the partners' signing secrets."""

    source: str
    admin: str
    brand: str
    jd: str
    tmall: str
    secrets: dict[str, str]


def mint_keys(settings: Settings) -> Keys:
    """A source, an admin, a brand, and jd/tmall partner keys in the catalog of ``settings``."""
    from seedcart.catalog.models import Brand

    catalog = open_catalog(settings)
    try:
        with catalog.session() as s:
            brand = Brand(name=f"intake-test-{time.time_ns()}")
            s.add(brand)
            s.flush()
            keys = Keys(source=create_key(s, "source")[0], admin=create_key(s, "admin")[0],
                        brand=create_key(s, "brand", brand_id=brand.id)[0],
                        jd=create_key(s, "partner", partner_id="jd")[0],
                        tmall=create_key(s, "partner", partner_id="tmall")[0],
                        secrets={p.id: p.signing_secret for p in s.query(Partner).all()})
    finally:
        catalog.close()
    return keys


def signed(keys: Keys, partner: str, body: bytes, *, key: str | None = None, ts: float | None = None,
           secret: str | None = None) -> dict[str, str]:
    """Headers of a signed backflow request."""
    headers = signed_headers(secret or keys.secrets[partner], int(ts if ts is not None else time.time()), body)
    headers["Authorization"] = f"Bearer {key or getattr(keys, partner)}"
    return headers


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    """Rows as NDJSON bytes."""
    return b"\n".join(orjson.dumps(r) for r in rows) + b"\n"


def wait_flushed(client: httpx.Client, timeout: float = 20.0) -> dict[str, Any]:
    """Wait until the lake holds everything the log acknowledged; returns the health document."""
    deadline = time.monotonic() + timeout
    while True:
        health = client.get("/v1/intake/health").json()
        if health["lag"] == 0 and health["lake"]["pending"] is None:
            return dict(health)
        if time.monotonic() > deadline:
            raise AssertionError(f"the lake did not catch up: {health}")
        time.sleep(0.05)


def lake_rows(settings: Settings, table: str) -> list[dict[str, Any]]:
    """Every row of a lake table, read through seedcart.lake.reader on DuckDB."""
    con = connect("duckdb")
    data: pa.Table = read_table(con, settings.resolved_lake_root, table).to_pyarrow()
    return list(data.to_pylist())


@dataclass
class IntakeServer:
    """A live seedcart server with minted keys."""

    settings: Settings
    keys: Keys
    url: str
    client_factory: Callable[..., httpx.Client]

    def client(self, **kwargs: Any) -> httpx.Client:
        return self.client_factory(**kwargs)


@pytest.fixture
def start_intake(tmp_path: Path, live_server: Any) -> Iterator[Callable[..., IntakeServer]]:
    """Start a live server on fresh settings: ``srv = start_intake(queue_max=5)``."""

    def start(**intake: Any) -> IntakeServer:
        settings = intake_settings(tmp_path, **intake)
        keys = mint_keys(settings)
        server = live_server(create_app(settings))
        return IntakeServer(settings=settings, keys=keys, url=server.url, client_factory=server.client)

    yield start


@pytest.fixture
def intake_server(start_intake: Callable[..., IntakeServer]) -> IntakeServer:
    """A live server with default intake limits."""
    return start_intake()
