"""Bulk backflow files (CSV or Parquet): streamed row by row through the same validation as the API,
with a reconciliation record (the catalog ``Load``) of what was received, accepted, rejected and
duplicate, beside the partner's declared totals.

CSV: a header row with the backflow row's field names; raw identifiers as ``identifiers.phone``
(``.oaid``, ``.idfa``) columns; empty cells are nulls. Parquet: the same columns, any types that
read as those values.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq

from seedcart.catalog.models import Load, utcnow
from seedcart.collect.service import IntakeService, Outcome
from seedcart.collect.spool import open_clear
from seedcart.errors import NotFound, ValidationError

logger = logging.getLogger(__name__)

FileFormat = Literal["csv", "parquet"]
FILE_FORMATS: tuple[FileFormat, ...] = ("csv", "parquet")
CHUNK_ROWS = 5000


def sniff_format(path: Path, declared: str | None = None, key: bytes | None = None) -> FileFormat:
    """The declared format, or ``parquet`` when the file starts with its magic bytes, else ``csv``."""
    if declared:
        if declared not in FILE_FORMATS:
            raise ValidationError(f"format must be csv or parquet, got {declared!r}", field="format")
        return declared
    with open_clear(path, key) as fh:
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def iter_rows(path: Path, fmt: FileFormat, key: bytes | None = None) -> Iterator[dict[str, Any]]:
    """The rows of a file (or of an encrypted spool, given its key) as dicts, streamed."""
    if fmt == "parquet":
        with open_clear(path, key) as raw:
            try:
                reader = pq.ParquetFile(raw)
            except Exception as exc:
                raise ValidationError(f"not a readable Parquet file: {exc}", field="file") from None
            for batch in reader.iter_batches(batch_size=CHUNK_ROWS):
                yield from batch.to_pylist()
        return
    with io.TextIOWrapper(open_clear(path, key), newline="", encoding="utf-8-sig", errors="strict") as fh:
        reader_csv = csv.DictReader(fh)
        if not reader_csv.fieldnames:
            return
        try:
            for row in reader_csv:
                yield {k: v for k, v in row.items() if k is not None}
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValidationError(f"the CSV cannot be read at line {reader_csv.line_num}: {exc}",
                                  field="file") from None


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for index, row in enumerate(rows):
        chunk.append((index, row))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def load_file(service: IntakeService, path: Path, *, partner: str, fmt: str | None = None,
                    filename: str = "", declared_total: int | None = None,
                    declared: dict[str, Any] | None = None, endpoint: str = "cli",
                    key: bytes | None = None) -> dict[str, Any]:
    """Validate and store every row of a backflow file (an encrypted spool when ``key`` is given);
    returns the reconciliation record."""
    info = service.resolver.partner(partner)
    if info is None:
        raise NotFound(f"partner {partner!r} does not exist", field="partner")
    file_format = sniff_format(path, fmt, key)
    load_id = f"load-{uuid.uuid4().hex[:16]}"
    with service.catalog.session() as session:
        session.add(Load(id=load_id, partner_id=partner, filename=filename or path.name,
                         declared_total=declared_total))
    outcome = Outcome()
    rows = _chunks(iter_rows(path, file_format, key))
    error: ValidationError | None = None
    while True:
        try:
            chunk = await asyncio.to_thread(next, rows, None)
        except ValidationError as exc:
            error = exc
            break
        if chunk is None:
            break
        part = await service.ingest_backflow(partner, chunk, endpoint=endpoint, default_sample_rate=info[1],
                                             source="file", load_id=load_id, text=True)
        outcome.add(part)
    detail = {"format": file_format, "declared": declared or {}, "position": outcome.position,
              "errors": [e.public() for e in outcome.errors[:100]]}
    if error is not None:
        detail["stopped"] = error.to_dict()
    with service.catalog.session() as session:
        load = session.get(Load, load_id)
        assert load is not None
        load.received, load.accepted = outcome.received, outcome.accepted
        load.rejected, load.duplicate = outcome.rejected, outcome.duplicate
        load.detail = json.dumps(detail, ensure_ascii=False)
        load.finished_at = utcnow()
        record = load_record(load)
    logger.info("load %s of %s: %d received, %d accepted, %d rejected, %d duplicate", load_id, partner,
                outcome.received, outcome.accepted, outcome.rejected, outcome.duplicate)
    if error is not None:
        record["error"] = error.to_dict()
    return record


def load_record(load: Load) -> dict[str, Any]:
    """The reconciliation record of a load as JSON-able values."""
    detail = json.loads(load.detail) if load.detail else {}
    return {
        "load_id": load.id, "partner": load.partner_id, "filename": load.filename,
        "received": load.received, "accepted": load.accepted, "rejected": load.rejected,
        "duplicate": load.duplicate, "declared_total": load.declared_total,
        "declared": detail.get("declared", {}),
        "matches_declared": None if load.declared_total is None else load.declared_total == load.received,
        "format": detail.get("format"), "errors": detail.get("errors", []),
        "started_at": load.started_at.isoformat() if load.started_at else None,
        "finished_at": load.finished_at.isoformat() if load.finished_at else None,
    }
