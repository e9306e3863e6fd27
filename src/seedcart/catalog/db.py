"""Opening the catalog: one SQLAlchemy engine and session factory per database URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from seedcart.catalog.models import CatalogRevision, Load, SchemaVersion
from seedcart.config import Settings
from seedcart.errors import StorageUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Catalog:
    """An open catalog: the engine and a factory of sessions bound to it."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # The busy timeout first, so the statements after it wait for a lock rather than fail on one.
    cursor.execute("PRAGMA busy_timeout=10000")
    # Switching to WAL takes an exclusive lock; a database already in WAL (every one but a new file)
    # is left alone, so connections opening while another writes never contend for it.
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def connect(url: str) -> Engine:
    """An engine for ``url``: SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


#: Rows whose changes do not move the catalog revision (bookkeeping, not configuration).
_UNVERSIONED = (Load, SchemaVersion, CatalogRevision)


def _bump_revision(session: Session, _context: Any, _instances: Any) -> None:
    """Before a flush that changes catalog rows, add one to ``catalog_revision``."""
    changed = [*session.new, *session.deleted, *(obj for obj in session.dirty if session.is_modified(obj))]
    if any(not isinstance(obj, _UNVERSIONED) for obj in changed):
        session.connection().execute(
            update(CatalogRevision).where(CatalogRevision.id == 1).values(value=CatalogRevision.value + 1)
        )


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """The session factory of a catalog: objects stay readable after commit; changes bump the revision."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    event.listen(sessions, "before_flush", _bump_revision)
    return sessions


def open_catalog(settings: Settings, *, migrate: bool = True) -> Catalog:
    """Open (and by default create, upgrade and seed) the catalog that ``settings`` names."""
    from seedcart.catalog.migrations import upgrade

    settings.ensure_data_dir()
    engine = connect(settings.resolved_catalog_url)
    try:
        if migrate:
            upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        raise StorageUnavailable(f"catalog at {engine.url!r} is unreachable: {exc.orig}",
                                 url=str(engine.url)) from exc
    return Catalog(engine=engine, sessions=make_sessions(engine))
