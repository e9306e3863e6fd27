"""Partner backflow: signed rows (``POST /v1/backflow/{partner}``) and bulk files
(``POST /v1/backflow/{partner}/files``), with per-row errors and a reconciliation record per file.

Every request carries the partner's key (``Authorization: Bearer``) and an HMAC-SHA256 signature
over ``"<timestamp>." + body`` (:mod:`seedcart.collect.signing`). A bad or stale signature, or a
partner key on another partner's path, gets 401 and nothing is stored.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from seedcart.catalog.models import Load
from seedcart.collect import backflow, signing
from seedcart.collect.files import load_file, load_record
from seedcart.collect.service import IntakeService, RateLimited
from seedcart.collect.signing import SignatureRefused
from seedcart.collect.spool import SpoolWriter
from seedcart.errors import ValidationError
from seedcart.serve.routers._intake import IntakeResult, intake, key_principal, read_body, refuse, too_fast
from seedcart.serve.state import AppState, app_state
from seedcart.types import PARTNERS

#: Largest value a catalog BIGINT column holds.
INT64_MAX = 2**63 - 1

router = APIRouter(tags=["backflow"])

#: The partner in the path: one of the partners (any other name is answered 404).
PartnerPath = Annotated[str, Path(max_length=20, description="The partner: " + ", ".join(PARTNERS),
                                  json_schema_extra={"enum": list(PARTNERS)})]

#: Uploads stop when the disk would have less than this left.
DISK_RESERVE_BYTES = 256 << 20

_ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string"},
        "action": {"type": "string", "enum": ["visit", "search", "favorite", "cart", "order", "refund"]},
        "ts": {"type": "string", "format": "date-time"},
        "click_id": {"type": "string"}, "match_key": {"type": "string"},
        "identifiers": {"type": "object", "properties": {"phone": {"type": "string"}, "oaid": {"type": "string"},
                                                         "idfa": {"type": "string"}}},
        "item_id": {"type": "string"}, "product_id": {"type": "integer"}, "brand_id": {"type": "integer"},
        "keyword": {"type": "string"}, "order_id": {"type": "string"}, "amount": {"type": "integer"},
        "currency": {"type": "string"}, "sample_rate": {"type": "number"},
    },
}
_SIGNED_HEADERS = [
    {"name": signing.TIMESTAMP_HEADER, "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unix seconds; at most 5 minutes from the server clock."},
    {"name": signing.SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"},
     "description": "sha256=<hex HMAC-SHA256(signing secret, '<timestamp>.' + body)>"},
]
_ROWS_BODY: dict[str, Any] = {
    "parameters": _SIGNED_HEADERS,
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "items": _ROW_SCHEMA}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }},
}
_FILE_BODY: dict[str, Any] = {
    "parameters": _SIGNED_HEADERS,
    "requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    }},
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid key, another partner's path, or a missing, bad or stale signature."},
    403: {"description": "The key is not a partner or admin key."},
    404: {"description": "No such partner."},
    413: {"description": "The body is too large."},
    422: {"description": "The body is not a JSON array or NDJSON."},
    429: {"description": "This key sends too fast; retry after Retry-After."},
    503: {"description": "The intake log is full; retry after Retry-After."},
}


def _partner_secret(state: AppState, request: Request, partner: str) -> tuple[IntakeService, str, float, int]:
    """Authenticate the caller for ``partner``'s path: the service, signing secret, sample rate, key id."""
    service = intake(state)
    principal = key_principal(state, request)
    if principal.role == "partner" and principal.partner_id != partner:
        refuse(401, f"this key posts for partner {principal.partner_id!r} only, not {partner[:20]!r}",
               field="partner")
    if principal.role not in ("partner", "admin"):
        refuse(403, f"backflow needs a partner key; yours is {principal.role}", field="authorization")
    info = service.resolver.partner(partner)
    if info is None:
        refuse(404, f"there is no partner {partner[:20]!r}", field="partner")
    return service, info[0], info[1], principal.key_id


def _admit(service: IntakeService, key_id: int, events: int) -> None:
    try:
        service.admit(f"key:{key_id}", events)
    except RateLimited as exc:
        too_fast(exc)


@router.post("/v1/backflow/{partner}", summary="Signed partner backflow rows", response_model=IntakeResult,
             responses=_RESPONSES, openapi_extra=_ROWS_BODY)
async def post_backflow(partner: PartnerPath, request: Request,
                        state: Annotated[AppState, Depends(app_state)]) -> IntakeResult:
    """A JSON array or NDJSON of backflow rows. Valid rows are stored; the others come back with row,
    field and reason and are quarantined. Idempotent on (partner, event_id); an order or refund
    repeated under the same (partner, order_id, action) counts once."""
    service, secret, sample_rate, key_id = _partner_secret(state, request, partner)
    body = await read_body(request, state.settings.intake.max_backflow_bytes)
    try:
        signing.verify(secret, request.headers.get(signing.TIMESTAMP_HEADER),
                       request.headers.get(signing.SIGNATURE_HEADER), body, now=time.time(),
                       skew_s=state.settings.intake.signature_skew_s)
    except SignatureRefused as exc:
        refuse(401, exc.message, field=exc.field)
    try:
        rows = list(backflow.parse_rows(body))
    except ValidationError as exc:
        refuse(422, exc.message, field=exc.field)
    _admit(service, key_id, len(rows))
    outcome = await service.ingest_backflow(partner, rows, endpoint=f"POST /v1/backflow/{partner}",
                                            default_sample_rate=sample_rate)
    return IntakeResult(**outcome.public())


async def _spool(request: Request, directory: FilePath, mac: Any) -> tuple[FilePath, bytes]:
    """Stream the body to an encrypted spool under ``directory`` (raw identifiers never reach disk in
    clear), feeding the HMAC; 507 when the disk runs low. Returns the path and the in-memory key."""
    directory.mkdir(parents=True, exist_ok=True)
    spool = SpoolWriter(directory / f"upload-{uuid.uuid4().hex}")
    checked = 0
    try:
        async for chunk in request.stream():
            mac.update(chunk)
            spool.write(chunk)
            checked += len(chunk)
            if checked >= 64 << 20:
                checked = 0
                if shutil.disk_usage(directory).free < DISK_RESERVE_BYTES:
                    refuse(507, "the server's disk is full; send the file in parts", field="body")
    except BaseException:
        spool.close()
        spool.path.unlink(missing_ok=True)
        raise
    spool.close()
    return spool.path, spool.key


@router.post("/v1/backflow/{partner}/files", summary="A signed bulk backflow file (CSV or Parquet)",
             responses=_RESPONSES, openapi_extra=_FILE_BODY)
async def post_backflow_file(
    *, partner: PartnerPath, request: Request, state: Annotated[AppState, Depends(app_state)],
    format: Annotated[str | None, Query(description="csv or parquet; sniffed when absent.")] = None,
    filename: Annotated[str, Query(max_length=300, description="The partner's name for the file.")] = "",
    declared_total: Annotated[int | None, Query(ge=0, le=INT64_MAX,
                                                description="Rows the partner says the file holds.")] = None,
    declared_amount: Annotated[int | None, Query(ge=-INT64_MAX, le=INT64_MAX,
                                                 description="Order amount total the partner declares.")] = None,
) -> dict[str, Any]:
    """Stream a file of backflow rows to disk (as large as the disk allows), check its signature, then
    validate and store it row by row. Answers with the load's reconciliation record: received,
    accepted, rejected, duplicate, and the partner's declared totals."""
    service, secret, _rate, _key_id = _partner_secret(state, request, partner)
    if format is not None and format not in ("csv", "parquet"):
        refuse(422, f"format must be csv or parquet, got {format[:20]!r}", field="format")
    try:
        timestamp = signing.check_timestamp(request.headers.get(signing.TIMESTAMP_HEADER), now=time.time(),
                                            skew_s=state.settings.intake.signature_skew_s)
    except SignatureRefused as exc:
        refuse(401, exc.message, field=exc.field)
    mac = signing.signer(secret, timestamp)
    path, key = await _spool(request, state.settings.ensure_data_dir() / "uploads", mac)
    try:
        try:
            signing.check_signature(mac.hexdigest(), request.headers.get(signing.SIGNATURE_HEADER))
        except SignatureRefused as exc:
            refuse(401, exc.message, field=exc.field)
        declared = {"amount": declared_amount} if declared_amount is not None else {}
        return await load_file(service, path, partner=partner, fmt=format, filename=filename,
                               declared_total=declared_total, declared=declared,
                               endpoint=f"POST /v1/backflow/{partner}/files", key=key)
    finally:
        await run_in_threadpool(os.unlink, path)


@router.get("/v1/backflow/{partner}/loads/{load_id}", summary="The reconciliation record of a file load",
            responses={401: _RESPONSES[401], 404: {"description": "No such load for this partner."}})
def get_load(partner: PartnerPath, load_id: str, request: Request,
             state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """Received, accepted, rejected and duplicate rows of a load, beside the partner's declared totals."""
    principal = key_principal(state, request)
    if principal.role not in ("partner", "admin") or (principal.role == "partner" and principal.partner_id != partner):
        refuse(401, "this key may not read this partner's loads", field="authorization")
    with state.catalog.session() as session:
        load = session.get(Load, load_id)
        if load is None or load.partner_id != partner:
            refuse(404, f"there is no load {load_id[:60]!r} for {partner[:20]!r}", field="load_id")
        return load_record(load)
