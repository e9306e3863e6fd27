"""Front-link events, wire-compatible with the Segment HTTP Tracking API (``/v1/batch``, ``/v1/track``,
``/v1/identify``, ``/v1/page``). Point a Segment client at seedcart with ``host=`` and a source key as
its writeKey. The vocabulary is documented in :mod:`seedcart.collect.segment`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from seedcart.collect import segment, segment_wire
from seedcart.collect.fields import now_us
from seedcart.collect.service import RateLimited
from seedcart.errors import ValidationError
from seedcart.serve.routers._intake import IntakeResult, intake, key_principal, read_body, refuse, too_fast
from seedcart.serve.state import AppState, app_state

router = APIRouter(tags=["events"])

_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": list(segment.CALL_TYPES)},
        "event": {"type": "string", "enum": list(segment.TRACK_KINDS)},
        "messageId": {"type": "string"},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "properties": {
            "type": "object",
            "properties": {
                "note_id": {"type": "string"}, "placement": {"type": "string", "enum": ["search", "feed", "video"]},
                "campaign_id": {"type": "integer"}, "position": {"type": "integer"}, "query": {"type": "string"},
                "dwell_ms": {"type": "integer"}, "watch_ratio": {"type": "number"},
            },
        },
        "traits": {"type": "object"},
        "context": {"type": "object"},
    },
}
_BATCH_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "properties": {"batch": {"type": "array", "items": _MESSAGE_SCHEMA}, "sentAt": {"type": "string"},
                   "writeKey": {"type": "string"}},
    "required": ["batch"],
}}}}}
_SINGLE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": _MESSAGE_SCHEMA}}}}


class SegmentResult(IntakeResult):
    """Segment's answer (``success``) plus what seedcart did with each message."""

    success: bool = True


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed, oversized (32 KB per message, 500 KB per batch), or a message nested too "
                         "deeply to keep as JSON (over 255 levels)."},
    401: {"description": "No valid writeKey."},
    403: {"description": "The key is not a source key."},
    429: {"description": "This key sends too fast; retry after Retry-After."},
    503: {"description": "The intake log is full; retry after Retry-After."},
}


async def _front(request: Request, state: AppState, call: str) -> SegmentResult:
    service = intake(state)
    limits = state.settings.intake
    received_us = now_us()
    body = await read_body(request, limits.max_batch_bytes, status=400)
    try:
        messages = segment_wire.read(body, call)
    except ValidationError as exc:
        refuse(400, exc.message, field=exc.field)
    principal = key_principal(state, request, messages.write_key)
    if principal.role not in ("source", "admin"):
        refuse(403, f"front events need a source key; yours is {principal.role}", field="authorization")
    try:
        big = messages.oversized(limits.max_message_bytes)
    except ValidationError as exc:
        refuse(400, exc.message, field=exc.field, row=exc.row)
    if big is not None:
        refuse(400, f"message {big} is larger than {limits.max_message_bytes} bytes", field="batch", row=big)
    try:
        service.admit(f"key:{principal.key_id}", len(messages.rows))
    except RateLimited as exc:
        too_fast(exc)
    batch = messages.parse(received_us)
    outcome = await service.ingest_front(batch, endpoint=f"POST /v1/{call}")
    return SegmentResult(success=True, **outcome.public())


@router.post("/v1/batch", summary="A batch of Segment calls", response_model=SegmentResult, responses=_RESPONSES,
             openapi_extra=_BATCH_BODY)
async def post_batch(request: Request, state: Annotated[AppState, Depends(app_state)]) -> SegmentResult:
    """Segment's batch call: ``{"batch": [...], "sentAt": ...}``; writeKey by Basic auth or in the body.

    Answers 200 once every stored message is durable; bad messages come back in ``errors`` and are
    quarantined; a repeated ``messageId`` is counted as ``duplicate`` and not stored again.
    """
    return await _front(request, state, "batch")


@router.post("/v1/track", summary="One Segment track call", response_model=SegmentResult, responses=_RESPONSES,
             openapi_extra=_SINGLE_BODY)
async def post_track(request: Request, state: Annotated[AppState, Depends(app_state)]) -> SegmentResult:
    """A single track call (``event`` from the documented vocabulary)."""
    return await _front(request, state, "track")


@router.post("/v1/identify", summary="One Segment identify call", response_model=SegmentResult,
             responses=_RESPONSES, openapi_extra=_SINGLE_BODY)
async def post_identify(request: Request, state: Annotated[AppState, Depends(app_state)]) -> SegmentResult:
    """An identify call; ``traits.match_key`` (hashed) registers the user's match key."""
    return await _front(request, state, "identify")


@router.post("/v1/page", summary="One Segment page call", response_model=SegmentResult, responses=_RESPONSES,
             openapi_extra=_SINGLE_BODY)
async def post_page(request: Request, state: Annotated[AppState, Depends(app_state)]) -> SegmentResult:
    """A page call; with ``properties.note_id`` it is a read of that note."""
    return await _front(request, state, "page")
