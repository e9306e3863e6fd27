"""The FastAPI app factory: one router per resource, joined here, and the services they share.

Services are started in order at lifespan and stopped in reverse; each is an async context
manager factory ``(settings, catalog) -> service`` stored in ``AppState.services[name]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from seedcart import __version__
from seedcart.attribute.service import attribution_service
from seedcart.catalog.db import Catalog, open_catalog
from seedcart.collect.linkservice import redirect_service
from seedcart.config import Settings, load_settings
from seedcart.errors import (
    Backpressure,
    Conflict,
    Forbidden,
    NotFound,
    SeedcartError,
    TransientError,
    ValidationError,
)
from seedcart.heap import settled
from seedcart.lake.compaction import compaction_service
from seedcart.lake.ingest import open_intake
from seedcart.measure.service import reports_service
from seedcart.serve.clickedge import ClickEdge
from seedcart.serve.routers import ROUTERS
from seedcart.serve.routers.redirect import ClickFastAPI
from seedcart.serve.state import AppState

logger = logging.getLogger(__name__)

ServiceFactory = Callable[[Settings, Catalog], AbstractAsyncContextManager[Any]]

#: Started in this order, stopped in reverse. Stages add theirs here.
SERVICES: list[tuple[str, ServiceFactory]] = [("intake", open_intake)]  # first: the log others append to
SERVICES.append(("compaction", compaction_service))  # after intake: merges the small files it leaves
SERVICES.append(("attribution", attribution_service))  # after intake: credits new backflow
SERVICES.append(("links", redirect_service))  # link cache + click recorder; reads intake's log per request
SERVICES.append(("reports", reports_service))  # after attribution: rollups behind the reports


@asynccontextmanager
async def click_edge(state: AppState) -> AsyncIterator[ClickEdge]:
    """Run the click edge of ``state.settings.serve`` for the life of the block (here, not in
    ``seedcart.serve.clickedge``: that module is compiled with mypyc, which compiles no async generator)."""
    serve = state.settings.serve
    assert serve.click_port is not None
    edge = ClickEdge(state, host=serve.host, port=serve.click_port, trusted_proxies=serve.trusted_proxies)
    await edge.start()
    try:
        yield edge
    finally:
        await edge.stop()


def _status_of(exc: SeedcartError) -> int:
    if isinstance(exc, ValidationError):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Backpressure | TransientError):
        return 503
    return 400


async def _seedcart_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SeedcartError)
    headers = {}
    if isinstance(exc, Backpressure):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse(exc.to_dict(), status_code=_status_of(exc), headers=headers)


def create_app(settings: Settings | None = None, *, services: bool = True) -> FastAPI:
    """The seedcart API. ``services=False`` starts none of the stages' background services."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        catalog = open_catalog(settings)
        state = AppState(settings=settings, catalog=catalog)
        app.state.seedcart = state
        try:
            async with AsyncExitStack() as stack:
                if services:
                    for name, factory in SERVICES:
                        state.services[name] = await stack.enter_async_context(factory(settings, catalog))
                        logger.info("started service %s", name)
                    if settings.serve.click_port is not None and "links" in state.services:
                        state.services["click_edge"] = await stack.enter_async_context(click_edge(state))
                stack.enter_context(settled(settings.serve.gc_young_threshold))
                yield
        finally:
            catalog.close()

    app = ClickFastAPI(  # answers GET|HEAD /c/{code} before FastAPI's stack: the click hot path
        title="seedcart",
        version=__version__,
        description="The open seeding-to-purchase loop: front-link events in, partner backflow in, "
        "note-granularity attribution and reports out.",
        lifespan=lifespan,
    )
    app.add_exception_handler(SeedcartError, _seedcart_error)
    for router in ROUTERS:
        app.include_router(router)
    return app
