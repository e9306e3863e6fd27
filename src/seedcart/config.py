"""Typed settings. Every field is read from the environment as ``SEEDCART__FIELD`` and, for the
nested sections, ``SEEDCART__SECTION__FIELD`` (e.g. ``SEEDCART__LOOKBACK__CLICK=30d``).

Tests pass their own environment: ``load_settings({"SEEDCART__DATA_DIR": str(tmp_path)})``.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from seedcart.durations import parse_duration
from seedcart.errors import ConfigError, ValidationError
from seedcart.heap import YOUNG_THRESHOLD
from seedcart.types import Engine

logger = logging.getLogger(__name__)

ENV_PREFIX = "SEEDCART__"


def _duration(value: Any, info: ValidationInfo) -> timedelta:
    try:
        return parse_duration(value, field=info.field_name or "duration")
    except ValidationError as exc:  # a ValueError lets pydantic name the setting's full path
        raise ValueError(exc.message) from None


_URL_PASSWORD = re.compile(r"(://[^/:@]*:)[^@/]*@")


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and reprs)."""
    return _URL_PASSWORD.sub(r"\1***@", url)


class LookbackSettings(BaseModel):
    """Default lookbacks per touch class (DESIGN §5). Partners and categories may override them."""

    click: timedelta = Field(default=timedelta(days=15), description="Lookback for link clicks.")
    engagement: timedelta = Field(
        default=timedelta(days=15),
        description="Lookback for likes, comments, collects, shares, follows and deep reads.",
    )
    view: timedelta = Field(default=timedelta(days=15), description="Lookback for impressions and reads.")

    _parse = field_validator("click", "engagement", "view", mode="before")(_duration)


class AttributionSettings(BaseModel):
    """How credit is split (DESIGN §5)."""

    half_life: timedelta = Field(default=timedelta(days=7), description="Half-life of time_decay.")
    precedence: bool = Field(
        default=True,
        description="Single-touch models prefer a click over any engagement over any view.",
    )
    position_weights: tuple[float, float, float] = Field(
        default=(0.4, 0.2, 0.4), description="First / middle (shared) / last weights of position_based."
    )
    incremental: bool = Field(
        default=True,
        description="In the server, credit new lake files by re-crediting only the events they can change "
        "(seconds); off: every change re-credits the whole lake.",
    )
    incremental_max_share: float = Field(
        default=0.2, gt=0, le=1,
        description="An incremental pass that would re-credit more than this share of all back-link events "
        "gives way to a full pass (cheaper then: it writes each day once).",
    )
    full_every: timedelta = Field(
        default=timedelta(minutes=15),
        description="Longest time between full passes while the inputs change. A full pass re-solves the "
        "path models (markov, shapley) over every path and rewrites every day of the credit table.",
    )

    _parse = field_validator("half_life", "full_every", mode="before")(_duration)


class IntakeSettings(BaseModel):
    """The durable log in front of the lake (DESIGN §4)."""

    group_commit_ms: float = Field(default=2.0, description="Longest wait to gather writes into one fsync.")
    queue_max: int = Field(default=200_000, description="Events waiting for fsync before 503 + Retry-After.")
    flush_interval_s: float = Field(default=1.0, description="How often the log is flushed into the lake.")
    flush_process: bool = Field(
        default=True,
        description="Flush the log into the lake from a process of its own (seedcart.lake.flushworker), so that "
        "building Parquet never holds the server's interpreter lock; off: a thread of the server.",
    )
    segment_bytes: int = Field(default=64 << 20, description="Size at which a log segment is rolled.")
    signature_skew_s: int = Field(default=300, description="Largest clock skew accepted on signed backflow.")
    max_message_bytes: int = Field(default=32 * 1024, description="Largest single Segment message.")
    max_batch_bytes: int = Field(default=500 * 1024, description="Largest Segment batch.")
    max_backflow_bytes: int = Field(
        default=16 << 20, description="Largest signed backflow request body (bigger loads go to /files)."
    )
    queue_soft_max: int = Field(
        default=100_000, description="Events waiting for fsync above which new requests get 429 (0: off)."
    )
    client_events_per_s: float = Field(
        default=200_000.0, description="Sustained events per second one key may send before 429 (0: off)."
    )
    client_burst: int = Field(default=400_000, description="Events one key may send at once above its rate.")
    flush_max_records: int = Field(
        default=200_000, description="Most log records the lake flusher turns into Parquet in one step."
    )
    compact_every: timedelta = Field(
        default=timedelta(minutes=10),
        description="How often the server merges the small files the flusher leaves (one per flush, table and day) "
        "in the touch, backflow, identity and quarantine tables (0: never). Attribution stays incremental across "
        "it: a merged file names the files it replaced.",
    )
    compact_min_files: int = Field(default=8, ge=2, description="Small files a day needs before it is merged.")
    dedupe_retention_touch: timedelta = Field(
        default=timedelta(days=7),
        description="How long a front event's id is remembered to drop its retries, from when it was received "
        "(0: forever). Segment clients give up retrying within a few days; a retry later than this is accepted "
        "and counted again.",
    )
    dedupe_retention_backflow: timedelta = Field(
        default=timedelta(days=400),
        description="How long backflow event ids and (partner, order, action) keys are remembered (0: forever). "
        "Partners re-post orders and refunds in monthly to yearly reconciliations; a year and a month keeps even a "
        "year-end re-post counted once, and orders are few beside touches.",
    )
    dedupe_retention_identity: timedelta = Field(
        default=timedelta(days=30),
        description="How long a (user, match key) pair is remembered (0: forever). Attribution reads identity "
        "pairs as a set, so a pair stored again after this costs one lake row and no count; every active user "
        "sends its pairs again and again, so forgetting them keeps the index to a month of active users.",
    )

    _parse = field_validator(
        "dedupe_retention_touch", "dedupe_retention_backflow", "dedupe_retention_identity", "compact_every",
        mode="before",
    )(_duration)


class ServeSettings(BaseModel):
    """The HTTP server."""

    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8000, description="Port to bind.")
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL that short links and the dashboard print."
    )
    click_port: int | None = Field(
        default=None,
        description="Port of the click edge, a lean listener serving only the short links /c/{code} beside the API "
        "(0: any free port); unset: the API's own port serves them.",
    )
    click_url: str | None = Field(
        default=None,
        description="Base URL that short links print; default: the click edge's address when click_port is set, "
        "else public_url.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Peers whose X-Forwarded-For the click edge believes (the right-most untrusted hop is the client).",
    )
    gc_young_threshold: int = Field(
        default=YOUNG_THRESHOLD,
        description="Once started, the server freezes its start-up heap and collects cyclic garbage every this many "
        "allocations instead of every 700 (seedcart.heap: the collector took about a third of intake's CPU); 0: "
        "Python's default.",
    )
    k_anonymity: int = Field(default=50, description="Breakdowns with fewer users than this are withheld.")
    reports_refresh_s: float = Field(default=3.0, description="How often the rollups behind reports are refreshed.")
    session_secret: SecretStr | None = Field(
        default=None, description="Signs dashboard session cookies; generated per data dir when unset."
    )


class LinkSettings(BaseModel):
    """Shoppable links and the click redirect (``seedcart.links``, ``seedcart.collect.redirect``)."""

    duplicate_window_s: float = Field(
        default=30.0,
        description="Repeat clicks from one IP + agent (+ user, when passed) on one link within this are duplicates.",
    )
    click_gather_ms: float = Field(
        default=0.0, ge=0.0,
        description="Clicks keep gathering into one log entry while each turn of the event loop reads new ones, "
        "for at most this many ms after the first; 0: appended to the log after the turn that read it.",
    )
    cache_refresh_s: float = Field(default=1.0, description="How often the redirect's link cache asks for changes.")
    cache_full_reload_s: float = Field(
        default=300.0, description="How often the link cache reloads everything (products and notes may change)."
    )


class Settings(BaseSettings):
    """All of seedcart's settings; see each field's description."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    data_dir: Path = Field(default=Path(".seedcart"), description="Where the catalog, lake and log live.")
    catalog_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the catalog; default a SQLite file in the data dir. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    lake_root: str | None = Field(
        default=None, description="Root of the Parquet lake; default <data_dir>/lake. May be an fsspec URL."
    )
    engine: Engine = Field(default="duckdb", description="Pipeline engine: duckdb or spark.")
    alliance_secret: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC-SHA256 match keys; generated and stored in the data dir when unset.",
    )
    lookback: LookbackSettings = Field(default_factory=LookbackSettings)
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    links: LinkSettings = Field(default_factory=LinkSettings)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if name in ("catalog_url", "lake_root") and value else value)

    @property
    def resolved_catalog_url(self) -> str:
        """The catalog URL, defaulting to ``sqlite:///<data_dir>/catalog.sqlite``."""
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite').resolve()}"

    @property
    def resolved_lake_root(self) -> str:
        """The lake root, defaulting to ``<data_dir>/lake``."""
        return self.lake_root or str((self.data_dir / "lake").resolve())

    @property
    def log_dir(self) -> Path:
        """Where the durable intake log keeps its segments."""
        return self.data_dir / "log"

    def ensure_data_dir(self) -> Path:
        """Create the data dir (private to the user) and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.data_dir

    def alliance_key(self) -> bytes:
        """The match-key secret: the configured one, or one generated once per data dir (0600)."""
        if self.alliance_secret is not None:
            value = self.alliance_secret.get_secret_value().encode()
            if len(value) < 16:
                raise ConfigError("SEEDCART__ALLIANCE_SECRET must be at least 16 bytes", field="alliance_secret")
            return value
        return _stored_secret(self.ensure_data_dir() / "alliance.secret")

    def session_key(self) -> bytes:
        """The key that signs dashboard session cookies."""
        if self.serve.session_secret is not None:
            return self.serve.session_secret.get_secret_value().encode()
        return _stored_secret(self.ensure_data_dir() / "session.secret")


def _stored_secret(path: Path) -> bytes:
    """Read a secret file, creating it atomically with 32 random bytes (hex) on first use."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_hex(32).encode()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race; then use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    logger.info("generated a new secret at %s", path)
    return path.read_bytes().strip()


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``environ`` (default ``os.environ``) plus keyword overrides.

    Passing ``environ`` reads only that mapping, never the process environment.
    """
    if environ is None:
        return Settings(**overrides)
    values: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.upper().startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX):].lower().split("__")
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    for key, value in overrides.items():
        values[key] = value
    return _IsolatedSettings(**values)


class _IsolatedSettings(Settings):
    """Settings that read nothing from the process environment or dotenv files."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: Any, init_settings: Any, *args: Any,
                                   **kwargs: Any) -> tuple[Any, ...]:
        return (init_settings,)
