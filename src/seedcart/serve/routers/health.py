"""Liveness and what the server is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from seedcart import __version__, native
from seedcart.serve.state import AppState, app_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and the state of each service")
def healthz(state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """Answers 200 while the process serves; lists the running services and their status, and whether
    the click hot path runs compiled (``hot_path``: seedcart.native)."""
    out: dict[str, Any] = {"status": "ok", "version": __version__, "hot_path": native.status().public(),
                           "services": {}}
    for name, service in state.services.items():
        status = getattr(service, "status", None)
        out["services"][name] = status() if callable(status) else "running"
    return out
