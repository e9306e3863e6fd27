"""Identity registration: the platform posts (user_id, match_key) pairs, hashed keys only."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request

from seedcart.collect import backflow
from seedcart.collect.service import RateLimited
from seedcart.errors import ValidationError
from seedcart.serve.routers._intake import IntakeResult, intake, key_principal, read_body, refuse, too_fast
from seedcart.serve.state import AppState, app_state

router = APIRouter(tags=["identities"])

_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "array",
    "items": {"type": "object", "required": ["user_id", "match_key"], "properties": {
        "user_id": {"type": "string"},
        "match_key": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "ts": {"type": "string", "format": "date-time"},
    }},
}}}}}


@router.post("/v1/identities", summary="Register (user_id, match_key) pairs", response_model=IntakeResult,
             responses={401: {"description": "No valid key."}, 403: {"description": "Not a source key."},
                        413: {"description": "The body is too large."},
                        422: {"description": "The body is not a JSON array or NDJSON."},
                        429: {"description": "Too fast; retry after Retry-After."},
                        503: {"description": "The intake log is full; retry after Retry-After."}},
             openapi_extra=_BODY)
async def post_identities(request: Request, state: Annotated[AppState, Depends(app_state)]) -> IntakeResult:
    """A JSON array (or NDJSON, or ``{"identities": [...]}``) of pairs. ``match_key`` must already be
    hashed (HMAC-SHA256 hex under the alliance secret); raw identifiers are refused per row."""
    service = intake(state)
    principal = key_principal(state, request)
    if principal.role not in ("source", "admin"):
        refuse(403, f"identities need a source key; yours is {principal.role}", field="authorization")
    body = await read_body(request, state.settings.intake.max_backflow_bytes)
    try:
        if body.lstrip()[:1] == b"{" and b'"identities"' in body[:200]:
            wrapped = orjson.loads(body)
            items = wrapped.get("identities") if isinstance(wrapped, dict) else None
            if not isinstance(items, list):
                raise ValidationError("identities must be an array", field="identities")
            rows = list(enumerate(items))
        else:
            rows = list(backflow.parse_rows(body))
    except (ValidationError, orjson.JSONDecodeError) as exc:
        refuse(422, getattr(exc, "message", str(exc)), field=getattr(exc, "field", "body"))
    try:
        service.admit(f"key:{principal.key_id}", len(rows))
    except RateLimited as exc:
        too_fast(exc)
    outcome = await service.ingest_identities(rows, endpoint="POST /v1/identities")
    return IntakeResult(**outcome.public())
