"""Helpers shared by the intake routers (segment, backflow, identities, intake_health): the running
intake service, bounded body reads, and the HTTP shapes of intake refusals."""

from __future__ import annotations

import gzip
import zlib
from typing import Any, NoReturn

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from seedcart.catalog.keys import Principal
from seedcart.collect.service import IntakeService, RateLimited
from seedcart.serve.auth import presented_key, principal_for_key
from seedcart.serve.state import AppState


class RowErrorModel(BaseModel):
    """One refused row: its 0-based index, the field at fault, and why."""

    row: int
    field: str | None = None
    reason: str


class IntakeResult(BaseModel):
    """What happened to the rows of a request. Refused rows are kept in the quarantine table."""

    received: int = Field(description="Rows (messages) in the request.")
    accepted: int = Field(description="Rows stored (durably: acknowledged after fsync).")
    duplicate: int = Field(description="Rows already stored before (same idempotency key): not stored again.")
    rejected: int = Field(description="Rows refused; see errors. Kept in quarantine for replay.")
    ignored: int = Field(default=0, description="Calls acknowledged but not used (e.g. identify without match_key).")
    errors: list[RowErrorModel] = Field(default_factory=list)


def refuse(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None,
           **extra: Any) -> NoReturn:
    """Raise an HTTP error whose body names the field."""
    detail: dict[str, Any] = {"error": message, "field": field, **extra}
    raise HTTPException(status_code=status, detail=detail, headers=headers)


def intake(state: AppState) -> IntakeService:
    """The running intake service, or 503 while it is not started."""
    service = state.services.get("intake")
    if not isinstance(service, IntakeService):
        refuse(503, "intake is not running", headers={"Retry-After": "5"})
    return service


def too_fast(exc: RateLimited) -> NoReturn:
    """429 with Retry-After for a rate-limited client."""
    refuse(429, exc.message, headers={"Retry-After": str(max(1, round(exc.retry_after)))})


async def read_body(request: Request, limit: int, *, status: int = 413) -> bytes:
    """The request body (gunzipped when ``Content-Encoding: gzip``), refused past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        refuse(status, f"the body is larger than {limit} bytes", field="body", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            refuse(status, f"the body is larger than {limit} bytes", field="body", limit=limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            body = inflater.decompress(body, limit + 1)
        except (zlib.error, gzip.BadGzipFile):
            refuse(400, "the body is not valid gzip", field="body")
        if len(body) > limit or inflater.unconsumed_tail:
            refuse(status, f"the body is larger than {limit} bytes once decompressed", field="body", limit=limit)
    return body


def key_principal(state: AppState, request: Request, fallback_key: str | None = None) -> Principal:
    """The caller by its Authorization header (or a key found in the body); 401 when none is valid."""
    key = presented_key(request) or fallback_key
    principal = principal_for_key(state, key) if key else None
    if principal is None:
        refuse(401, "a valid API key is required", field="authorization", headers={"WWW-Authenticate": "Basic"})
    return principal
