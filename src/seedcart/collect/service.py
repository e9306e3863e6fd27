"""The intake service: validated rows in, deduplicated, enriched, appended to the durable log.

One object per process, shared by the intake routers and the CLI: it holds the log, the dedupe
index, the catalog resolver and the per-client rate limiter. Every ``ingest_*`` returns only after
the rows it stored are fsynced, with the counts the caller reports back (DESIGN §4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seedcart.catalog.db import Catalog
from seedcart.collect import backflow, dedupe, fields
from seedcart.collect.dedupe import DedupeIndex
from seedcart.collect.log import DurableLog, Record
from seedcart.collect.resolve import Resolver
from seedcart.collect.segment import FrontBatch
from seedcart.config import Settings
from seedcart.errors import Backpressure, ValidationError

logger = logging.getLogger(__name__)


class RateLimited(Backpressure):
    """One client sends faster than its share, or the queue is above its soft limit (HTTP 429)."""


@dataclass
class Outcome:
    """What happened to the rows of one request or file chunk."""

    received: int = 0
    accepted: int = 0
    duplicate: int = 0
    ignored: int = 0
    errors: list[fields.RowError] = field(default_factory=list)
    position: int = 0

    @property
    def rejected(self) -> int:
        """Rows refused (and quarantined)."""
        return len(self.errors)

    def add(self, other: Outcome) -> None:
        """Fold another outcome into this one (for multi-chunk loads)."""
        self.received += other.received
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.ignored += other.ignored
        self.errors.extend(other.errors)
        self.position = max(self.position, other.position)

    def public(self, max_errors: int = 1000) -> dict[str, Any]:
        """The response body: counts and the first ``max_errors`` refusals with row, field and reason."""
        return {"received": self.received, "accepted": self.accepted, "duplicate": self.duplicate,
                "rejected": self.rejected, "ignored": self.ignored,
                "errors": [e.public() for e in self.errors[:max_errors]]}


class _Bucket:
    """Token bucket of one client: ``rate`` events per second, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()

    def take(self, n: int) -> float:
        """0 when ``n`` events may pass now, else seconds until they may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= n or self.tokens >= self.burst:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


class IntakeService:
    """The running intake: ``.log`` (the DurableLog the redirect appends to) plus validation state."""

    def __init__(self, settings: Settings, catalog: Catalog, log: DurableLog, index: DedupeIndex) -> None:
        self.settings = settings
        self.catalog = catalog
        self.log = log
        self.dedupe = index
        self.resolver = Resolver(catalog)
        self.secret = settings.alliance_key()
        self._buckets: dict[str, _Bucket] = {}
        self.flusher: Any = None  # set by seedcart.lake.ingest; exposes status()
        self.counts: dict[str, int] = {"accepted": 0, "duplicate": 0, "rejected": 0, "limited": 0}

    # -- admission ------------------------------------------------------------------------------

    def admit(self, client: str, events: int) -> None:
        """Raise RateLimited (429) when ``client`` floods or the log queue is above its soft limit."""
        intake = self.settings.intake
        depth = self.log.queue_depth
        if intake.queue_soft_max and depth > intake.queue_soft_max:
            self.counts["limited"] += 1
            raise RateLimited(f"intake is busy ({depth} events waiting); slow down", retry_after=1.0)
        if intake.client_events_per_s <= 0:
            return
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._buckets.clear()
            bucket = self._buckets[client] = _Bucket(intake.client_events_per_s,
                                                     max(intake.client_burst, 1))
        wait = bucket.take(events)
        if wait > 0:
            self.counts["limited"] += 1
            raise RateLimited(f"this key sends more than {intake.client_events_per_s:g} events/s",
                              retry_after=max(1.0, wait))

    # -- storing --------------------------------------------------------------------------------

    async def _store(self, table: str, records: list[dict[str, Any]], keys: list[list[str]],
                     outcome: Outcome) -> None:
        """Drop duplicates (against the index and within the batch), then append the rest durably."""
        flat = [k for ks in keys for k in ks]
        seen = self.dedupe.seen(flat) if flat else set()
        fresh: list[dict[str, Any]] = []
        claimed: list[str] = []
        for record, ks in zip(records, keys, strict=True):
            if any(k in seen for k in ks):
                outcome.duplicate += 1
                continue
            seen.update(ks)
            claimed.extend(ks)
            fresh.append(record)
        await self._append(table, fresh, claimed, outcome)

    async def _store_keyed(self, table: str, records: Sequence[Record], keys: list[str],
                           outcome: Outcome) -> None:
        """``_store`` for records of one key each (touches, identities): one set lookup per record, and
        none at all in the common case of a batch with neither repeats nor keys seen before."""
        seen = self.dedupe.seen(keys)
        if not seen and len(set(keys)) == len(keys):
            await self._append(table, records, keys, outcome)
            return
        fresh: list[Record] = []
        claimed: list[str] = []
        for record, key in zip(records, keys, strict=True):
            if key in seen:
                outcome.duplicate += 1
                continue
            seen.add(key)
            claimed.append(key)
            fresh.append(record)
        await self._append(table, fresh, claimed, outcome)

    async def _append(self, table: str, fresh: Sequence[Record], claimed: list[str], outcome: Outcome) -> None:
        """Claim the keys, append the records durably (fsynced), and note where they landed."""
        if not fresh:
            return
        self.dedupe.claim(claimed)
        try:
            position = await self.log.append(table, fresh)
        except BaseException:
            self.dedupe.release(claimed)
            raise
        self.dedupe.appended(claimed, position)
        outcome.accepted += len(fresh)
        outcome.position = max(outcome.position, position)

    async def quarantine(self, errors: list[fields.RowError], *, target: str, endpoint: str,
                         partner: str | None = None, load_id: str | None = None) -> None:
        """Keep refused rows, raw, for replay."""
        if not errors:
            return
        ts = fields.now_us()
        rows = [{"ts": ts, "target": target, "endpoint": endpoint, "partner": partner, "load_id": load_id,
                 "row": e.row, "field": e.field, "reason": e.reason, "raw": e.raw} for e in errors]
        await self.log.append("quarantine", rows)
        self.counts["rejected"] += len(rows)

    async def ingest_front(self, batch: FrontBatch, *, endpoint: str) -> Outcome:
        """Store the touches and identities of a parsed Segment request; quarantine its refusals."""
        outcome = Outcome(received=batch.received, ignored=batch.ignored, errors=list(batch.errors))
        if batch.touches:
            self.resolver.enrich_touches(batch.touches)
            keys = [dedupe.touch_key(r.event_id) for r in batch.touches]
            await self._store_keyed("touch", batch.touches, keys, outcome)
        if batch.identities:
            await self._store_keyed("identity", batch.identities, [dedupe.identity_key(r) for r in batch.identities],
                                    outcome)
        await self.quarantine(outcome.errors, target="touch", endpoint=endpoint)
        self._count(outcome)
        return outcome

    async def ingest_backflow(self, partner: str, rows: list[tuple[int, Any]], *, endpoint: str,
                              default_sample_rate: float, source: str = "api", load_id: str | None = None,
                              text: bool = False) -> Outcome:
        """Validate, enrich and store partner rows; refused ones are quarantined with the raw row."""
        outcome = Outcome(received=len(rows))
        received_us = fields.now_us()
        records = []
        for index, row in rows:
            try:
                records.append(backflow.validate_row(row, index, partner=partner, secret=self.secret,
                                                     received_us=received_us,
                                                     default_sample_rate=default_sample_rate, text=text,
                                                     source=source, load_id=load_id))
            except ValidationError as exc:
                raw = fields.raw_text(backflow.scrub(row, self.secret))
                outcome.errors.append(fields.RowError(index, exc.field, exc.message, raw))
        if records:
            self.resolver.enrich_backflow(records)
            await self._store("backflow", records, [dedupe.backflow_keys(r) for r in records], outcome)
        await self.quarantine(outcome.errors, target="backflow", endpoint=endpoint, partner=partner,
                              load_id=load_id)
        self._count(outcome)
        return outcome

    async def ingest_identities(self, rows: list[tuple[int, Any]], *, endpoint: str) -> Outcome:
        """Store (user_id, match_key) pairs; raw identifiers and malformed keys are refused."""
        outcome = Outcome(received=len(rows))
        received_us = fields.now_us()
        records = []
        for index, row in rows:
            try:
                records.append(backflow.validate_identity(row, index, received_us=received_us))
            except ValidationError as exc:
                raw = fields.raw_text(backflow.scrub(row, self.secret))
                outcome.errors.append(fields.RowError(index, exc.field, exc.message, raw))
        if records:
            await self._store_keyed("identity", records, [dedupe.identity_key(r) for r in records], outcome)
        await self.quarantine(outcome.errors, target="identity", endpoint=endpoint)
        self._count(outcome)
        return outcome

    def _count(self, outcome: Outcome) -> None:
        self.counts["accepted"] += outcome.accepted
        self.counts["duplicate"] += outcome.duplicate

    def status(self) -> dict[str, Any]:
        """Log position, queue depth, flusher progress, counters, and the keys the dedupe index keeps
        and since when (shown at /healthz)."""
        out: dict[str, Any] = {"log": self.log.status(), "counts": dict(self.counts),
                               "dedupe_recent": len(self.dedupe.recent), "dedupe": self.dedupe.stats(),
                               "dedupe_filter": self.dedupe.filter_state}
        if self.flusher is not None:
            out["lake"] = self.flusher.status()
        return out
