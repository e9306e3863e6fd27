"""The catalog's tables (SQLAlchemy 2 declarative). SQLite by default, PostgreSQL by URL.

The schema is created and upgraded only by ``seedcart.catalog.migrations``; never call
``create_all`` outside tests of the migrations themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: seedcart stores UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the catalog."""

    #: Columns never included in :meth:`to_dict` (secrets, hashes).
    __private_columns__: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-able dict of its columns, private columns left out."""
        return {
            column.key: getattr(self, column.key)
            for column in self.__table__.columns
            if column.key not in self.__private_columns__
        }


class SchemaVersion(Base):
    """One row per applied catalog migration; the newest ``version`` is the catalog's version."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CatalogRevision(Base):
    """A single-row change counter, bumped by every flush that changes catalog rows.

    Caches (the redirect's link cache, the link policy) compare it to decide whether to reload.
    """

    __tablename__ = "catalog_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Brand(Base):
    """A tenant: owns products, notes and campaigns, and sees only its own data."""

    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Seeding contribution weights per back-link action; null means the defaults.
    contribution_weights: Mapped[dict[str, float] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Category(Base):
    """A product category with its ROI(T+x) lookback (a serum ~29 days, baby food 70+)."""

    __tablename__ = "categories"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    lookback_days: Mapped[int] = mapped_column(Integer, default=15)


class Partner(Base):
    """A commerce platform ("1+N"): tmall, taobao, jd, pdd, vip, wechat_mp."""

    __tablename__ = "partners"
    __private_columns__ = ("signing_secret",)

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: Categories the partner has opened to external links.
    opened_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Brands allowed while the partner pilots; null means no pilot list (every brand).
    pilot_brands: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    #: Declared fraction of events the partner posts back (1.0 = all).
    sample_rate: Mapped[float] = mapped_column(Float, default=1.0)
    #: Shared secret of the backflow HMAC signature; never printed after creation.
    signing_secret: Mapped[str] = mapped_column(String(128))
    #: Lookback overrides in seconds per touch class: {"click": 1296000, ...}.
    lookback_overrides: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)
    #: Placements the partner lets UD campaigns use.
    ud_placements: Mapped[list[str]] = mapped_column(JSON, default=list)


class Product(Base):
    """An item on one partner, owned by one brand, in one category."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("partner_id", "item_id", name="uq_products_partner_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    item_id: Mapped[str] = mapped_column(String(100))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    category_id: Mapped[str] = mapped_column(ForeignKey("categories.id"))
    title: Mapped[str] = mapped_column(String(300), default="")
    price: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    #: Mini-program app id (wechat_mp) or store id, when the partner needs one.
    store_id: Mapped[str | None] = mapped_column(String(100), default=None)


class Note(Base):
    """A post (image or video) with topic tags; ``is_ad`` when paid. Its id is the platform's."""

    __tablename__ = "notes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), index=True, default=None)
    creator_id: Mapped[str | None] = mapped_column(String(64), default=None)
    title: Mapped[str] = mapped_column(String(300), default="")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[str] = mapped_column(String(10), default="image")
    is_ad: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Campaign(Base):
    """A brand's paid push of notes to one partner, in UD or CID mode."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str] = mapped_column(String(3))  # UD / CID
    placements: Mapped[list[str]] = mapped_column(JSON, default=list)
    bid_type: Mapped[str] = mapped_column(String(3))  # CPM / CPC
    bid_price: Mapped[int] = mapped_column(BigInteger)  # minor units per 1000 impressions or per click
    budget: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    holdout_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Link(Base):
    """A shoppable link: an ad link under an ad note, or a blue link in a comment."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # ad_link / blue_link
    note_id: Mapped[str] = mapped_column(ForeignKey("notes.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), default=None)
    placement: Mapped[str | None] = mapped_column(String(10), default=None)
    comment_id: Mapped[str | None] = mapped_column(String(64), default=None)
    commenter_id: Mapped[str | None] = mapped_column(String(64), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Last change (creation, deactivation, ...); the redirect's cache follows it. Catalog v3 added
    #: it (nullable for the upgrade; backfilled from ``created_at`` and always set since).
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                        index=True)


class ApiKey(Base):
    """An API key, stored as a SHA-256 hash, with one role and, for brand/partner, one scope."""

    __tablename__ = "api_keys"
    __private_columns__ = ("key_hash",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)  # first characters, for lookup
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole key
    role: Mapped[str] = mapped_column(String(10))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), default=None)
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"), default=None)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Load(Base):
    """A reconciliation record of one bulk backflow load."""

    __tablename__ = "loads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    filename: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="running")
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    declared_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
