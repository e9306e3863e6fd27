"""Versioned catalog migrations: an ordered history of steps written with SQLAlchemy Core.

The same steps run on SQLite and PostgreSQL. Each step freezes the tables as they were at its
version (never the live models, which keep moving), so an old data dir replays exactly the
history a new one did. ``upgrade(engine)`` is safe at every start and when several processes
start at once:

- PostgreSQL: a session-level advisory lock is held while steps are checked and applied;
- SQLite: an exclusive ``flock`` on ``<database>.upgrade-lock`` beside the file is held from before
  the first connection (whose WAL switch needs the database to itself) to the end; each step also
  runs in ``BEGIN IMMEDIATE``, which takes the write lock before the version is read, so a second
  process waits and then finds the step applied.

Every step runs in its own transaction with its ``schema_version`` row, so a crash leaves the
catalog at the last complete version. History:

=======  ===============================================================================
version  change
=======  ===============================================================================
1        core tables: brands, categories, partners, products, notes, campaigns, links, api_keys
2        bulk-load reconciliation table ``loads``; ``brands.contribution_weights``
3        ``links.updated_at`` (backfilled from ``created_at``) and the ``catalog_revision``
         change counter, for caches that follow catalog changes
=======  ===============================================================================

A catalog without a ``schema_version`` table but with tables (made by the pre-migration
skeleton's ``create_all``) is stamped at the version whose tables it has, then upgraded.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    inspect,
    select,
)
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

from seedcart.catalog.models import utcnow
from seedcart.catalog.seed import seed_catalog
from seedcart.errors import ConfigError

logger = logging.getLogger(__name__)

#: Key of the PostgreSQL advisory lock that serialises upgrades ("seedcart" in ASCII).
ADVISORY_LOCK_KEY = 0x7365656463617274

_TS = DateTime(timezone=True)

_version_meta = MetaData()
SCHEMA_VERSION = Table(
    "schema_version", _version_meta,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", _TS, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    """One step of the catalog's history."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_core_tables(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "brands", meta,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False, unique=True),
        Column("created_at", _TS, nullable=False),
    )
    Table(
        "categories", meta,
        Column("id", String(40), primary_key=True),
        Column("name", String(100), nullable=False),
        Column("lookback_days", Integer, nullable=False),
    )
    Table(
        "partners", meta,
        Column("id", String(20), primary_key=True),
        Column("name", String(100), nullable=False),
        Column("opened_categories", JSON, nullable=False),
        Column("pilot_brands", JSON, nullable=True),
        Column("sample_rate", Float, nullable=False),
        Column("signing_secret", String(128), nullable=False),
        Column("lookback_overrides", JSON, nullable=True),
        Column("ud_placements", JSON, nullable=False),
    )
    Table(
        "products", meta,
        Column("id", Integer, primary_key=True),
        Column("partner_id", String(20), ForeignKey("partners.id"), nullable=False),
        Column("item_id", String(100), nullable=False),
        Column("brand_id", Integer, ForeignKey("brands.id"), nullable=False, index=True),
        Column("category_id", String(40), ForeignKey("categories.id"), nullable=False),
        Column("title", String(300), nullable=False),
        Column("price", BigInteger, nullable=False),
        Column("store_id", String(100), nullable=True),
        UniqueConstraint("partner_id", "item_id", name="uq_products_partner_item"),
    )
    Table(
        "notes", meta,
        Column("id", String(64), primary_key=True),
        Column("brand_id", Integer, ForeignKey("brands.id"), nullable=True, index=True),
        Column("creator_id", String(64), nullable=True),
        Column("title", String(300), nullable=False),
        Column("topics", JSON, nullable=False),
        Column("format", String(10), nullable=False),
        Column("is_ad", Boolean, nullable=False),
        Column("created_at", _TS, nullable=False),
    )
    Table(
        "campaigns", meta,
        Column("id", Integer, primary_key=True),
        Column("brand_id", Integer, ForeignKey("brands.id"), nullable=False, index=True),
        Column("partner_id", String(20), ForeignKey("partners.id"), nullable=False),
        Column("name", String(200), nullable=False),
        Column("mode", String(3), nullable=False),
        Column("placements", JSON, nullable=False),
        Column("bid_type", String(3), nullable=False),
        Column("bid_price", BigInteger, nullable=False),
        Column("budget", BigInteger, nullable=False),
        Column("start_at", _TS, nullable=False),
        Column("end_at", _TS, nullable=True),
        Column("holdout_fraction", Float, nullable=False),
        Column("status", String(20), nullable=False),
        Column("created_at", _TS, nullable=False),
    )
    Table(
        "links", meta,
        Column("id", Integer, primary_key=True),
        Column("code", String(32), nullable=False, unique=True),
        Column("kind", String(10), nullable=False),
        Column("note_id", String(64), ForeignKey("notes.id"), nullable=False, index=True),
        Column("product_id", Integer, ForeignKey("products.id"), nullable=False),
        Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=True),
        Column("placement", String(10), nullable=True),
        Column("comment_id", String(64), nullable=True),
        Column("commenter_id", String(64), nullable=True),
        Column("active", Boolean, nullable=False),
        Column("created_at", _TS, nullable=False),
    )
    Table(
        "api_keys", meta,
        Column("id", Integer, primary_key=True),
        Column("prefix", String(16), nullable=False, index=True),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("role", String(10), nullable=False),
        Column("brand_id", Integer, ForeignKey("brands.id"), nullable=True),
        Column("partner_id", String(20), ForeignKey("partners.id"), nullable=True),
        Column("name", String(200), nullable=False),
        Column("created_at", _TS, nullable=False),
        Column("revoked_at", _TS, nullable=True),
    )
    meta.create_all(conn)


def _v2_loads_and_weights(conn: Connection) -> None:
    meta = MetaData()
    Table("partners", meta, Column("id", String(20), primary_key=True))  # referenced, exists since v1
    loads = Table(
        "loads", meta,
        Column("id", String(40), primary_key=True),
        Column("partner_id", String(20), ForeignKey("partners.id"), nullable=False),
        Column("filename", String(300), nullable=False),
        Column("status", String(20), nullable=False),
        Column("received", BigInteger, nullable=False),
        Column("accepted", BigInteger, nullable=False),
        Column("rejected", BigInteger, nullable=False),
        Column("duplicate", BigInteger, nullable=False),
        Column("declared_total", BigInteger, nullable=True),
        Column("detail", Text, nullable=False),
        Column("started_at", _TS, nullable=False),
        Column("finished_at", _TS, nullable=True),
    )
    meta.create_all(conn, tables=[loads])
    _add_column(conn, "brands", Column("contribution_weights", JSON, nullable=True))


def _v3_link_changes(conn: Connection) -> None:
    meta = MetaData()
    links = Table("links", meta, Column("id", Integer, primary_key=True), Column("created_at", _TS),
                  Column("updated_at", _TS, nullable=True))
    _add_column(conn, "links", Column("updated_at", _TS, nullable=True))
    conn.execute(links.update().values(updated_at=links.c.created_at))
    conn.execute(CreateIndex(Index("ix_links_updated_at", links.c.updated_at)))
    revision = Table(
        "catalog_revision", meta,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("value", BigInteger, nullable=False),
    )
    conn.execute(CreateTable(revision))
    conn.execute(revision.insert().values(id=1, value=0))


#: The catalog's history, oldest first. Append; never edit a step that has shipped.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables", _v1_core_tables),
    Migration(2, "loads table and brands.contribution_weights", _v2_loads_and_weights),
    Migration(3, "links.updated_at and the catalog_revision change counter", _v3_link_changes),
)

#: The version ``upgrade`` brings a catalog to.
LATEST = MIGRATIONS[-1].version


def _add_column(conn: Connection, table: str, column: Column[object]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` rendered by the connection's dialect (Core has no construct)."""
    Table(table, MetaData(), column)
    ddl = CreateColumn(column).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {conn.dialect.identifier_preparer.quote(table)} ADD COLUMN {ddl}")


def current_version(conn: Connection) -> int:
    """The catalog's version: 0 when empty, the newest applied step otherwise."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(select(func.coalesce(func.max(SCHEMA_VERSION.c.version), 0))).scalar_one())


def _baseline(conn: Connection) -> None:
    """Create ``schema_version``; stamp a catalog made before migrations existed."""
    inspector = inspect(conn)
    if inspector.has_table("schema_version"):
        return
    _version_meta.create_all(conn)
    if not inspector.has_table("brands"):
        return
    if inspector.has_table("catalog_revision"):
        stamped = 3
    elif inspector.has_table("loads"):
        stamped = 2
    else:
        stamped = 1
    logger.warning("catalog has tables but no schema_version; stamping it at version %d", stamped)
    for step in MIGRATIONS[:stamped]:
        conn.execute(SCHEMA_VERSION.insert().values(version=step.version, description=step.description,
                                                    applied_at=utcnow()))


@contextmanager
def _step_transaction(conn: Connection) -> Iterator[None]:
    """A transaction that, on SQLite, holds the write lock from its first statement."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    else:
        with conn.begin():
            yield


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise upgraders of one SQLite file across threads and processes (no-op in memory)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.upgrade-lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _upgrade_lock(conn: Connection) -> Iterator[None]:
    """Serialise upgraders: a PostgreSQL advisory lock (SQLite: ``_sqlite_file_lock``, BEGIN IMMEDIATE)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.execute(select(func.pg_advisory_lock(ADVISORY_LOCK_KEY)))
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
        conn.commit()


def upgrade(engine: Engine, *, target: int | None = None, seed: bool = True) -> int:
    """Apply every missing step up to ``target`` (default the newest); returns the version reached.

    With ``seed`` (the default), the partners and categories missing from a catalog at the newest
    version are inserted (``seedcart.catalog.seed``), under the same lock.
    """
    goal = LATEST if target is None else target
    if not 0 <= goal <= LATEST:
        raise ConfigError(f"catalog version {goal} does not exist; the newest is {LATEST}", field="target")
    with _sqlite_file_lock(engine), engine.connect() as conn, _upgrade_lock(conn):
        with _step_transaction(conn):
            _baseline(conn)
            version = current_version(conn)
        if version > LATEST:
            raise ConfigError(f"the catalog is at version {version} but this seedcart knows only up to "
                              f"{LATEST}; upgrade seedcart", field="catalog_url")
        for step in MIGRATIONS:
            if step.version > goal:
                break
            with _step_transaction(conn):
                if current_version(conn) >= step.version:
                    continue
                logger.info("catalog: applying migration %d (%s)", step.version, step.description)
                step.apply(conn)
                conn.execute(SCHEMA_VERSION.insert().values(version=step.version, description=step.description,
                                                            applied_at=utcnow()))
        if seed and goal == LATEST:
            with _step_transaction(conn):
                seed_catalog(conn)
        reached = current_version(conn)
        conn.commit()
        return reached


def pending(engine: Engine) -> list[Migration]:
    """The steps not yet applied to the catalog ``engine`` points at."""
    with engine.connect() as conn:
        version = current_version(conn)
    return [step for step in MIGRATIONS if step.version > version]
