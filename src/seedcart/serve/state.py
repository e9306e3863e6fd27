"""What the running app holds: settings, the catalog, and the services each stage starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from seedcart.catalog.db import Catalog
from seedcart.config import Settings


@dataclass
class AppState:
    """Shared by every router through ``request.app.state.seedcart``.

    ``services`` holds what the stages start at lifespan (the intake log, the link cache, the
    attribution loop, ...), each under its own name, so that no stage imports another's router.
    """

    settings: Settings
    catalog: Catalog
    services: dict[str, Any] = field(default_factory=dict)


async def app_state(request: Request) -> AppState:
    """The AppState of the app serving ``request`` (a FastAPI dependency; a coroutine, so FastAPI runs it
    in the event loop rather than handing each request to its thread pool and back)."""
    state: AppState = request.app.state.seedcart
    return state


def short_link_base(state: AppState) -> str:
    """Where short links point: ``serve.click_url`` when set, else the running click edge's address,
    else the API's ``public_url`` (whose ``/c/{code}`` route answers the same way)."""
    serve = state.settings.serve
    if serve.click_url:
        return serve.click_url
    edge = state.services.get("click_edge")
    if edge is not None:
        url: str = edge.url
        return url
    return serve.public_url
