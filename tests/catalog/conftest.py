"""Catalog fixtures: the same tests on SQLite and on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from seedcart.catalog.db import Catalog, connect, open_catalog
from seedcart.config import Settings, load_settings

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_pg_reason: list[str] = []


def _postgres_or_skip() -> None:
    if not _pg_reason:
        try:
            engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _pg_reason.append("")
        except OperationalError as exc:
            _pg_reason.append(f"PostgreSQL does not answer at {POSTGRES_URL}: {exc.orig}")
    if _pg_reason[0]:
        pytest.skip(_pg_reason[0])


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A catalog URL on each backend: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def make_engine() -> Iterator[Callable[[str], Engine]]:
    """Engines made the way the catalog makes them, disposed after the test."""
    engines: list[Engine] = []

    def make(url: str) -> Engine:
        engine = connect(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def db_settings(tmp_path: Path, db_url: str) -> Settings:
    """Isolated settings naming the catalog of ``db_url``."""
    return load_settings({"SEEDCART__DATA_DIR": str(tmp_path / "data"), "SEEDCART__CATALOG_URL": db_url})


@pytest.fixture
def any_catalog(db_settings: Settings) -> Iterator[Catalog]:
    """An opened, migrated and seeded catalog on each backend."""
    cat = open_catalog(db_settings)
    yield cat
    cat.close()
