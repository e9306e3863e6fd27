"""Intake health: the log position (written and fsynced), queue depth, and how far the lake has caught up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from seedcart.serve.routers._intake import intake
from seedcart.serve.state import AppState, app_state

router = APIRouter(tags=["health"])


@router.get("/v1/intake/health", summary="Log position, queue depth and lake lag",
            responses={503: {"description": "Intake is not running."}})
def intake_health(state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """``log.fsynced`` is the newest acknowledged position; ``lake.flushed`` how far the lake holds it;
    ``lag`` their difference in records; ``dedupe`` the keys the dedupe index keeps and the oldest
    hour it keeps, in all and per family (keys are forgotten past ``intake.dedupe_retention_*``);
    ``dedupe_filter`` whether its in-memory key filter answers first (``ready``) or is still being
    read from the index after a start (``loading``: every lookup goes to the index meanwhile)."""
    status = intake(state).status()
    lake = status.get("lake") or {}
    status["lag"] = status["log"]["fsynced"] - int(lake.get("flushed", 0))
    return status
