"""The rollup refresh service: keeps the report store current while the app runs.

Registered in ``seedcart.serve.app.SERVICES`` as ``("reports", reports_service)``, after attribution.
Every ``serve.reports_refresh_s`` seconds it rebuilds the rollup days whose lake inputs changed and
reloads the store, in a worker thread so requests keep flowing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from seedcart.catalog.db import Catalog
from seedcart.config import Settings
from seedcart.measure.rollup import RefreshResult
from seedcart.measure.store import ReportStore
from seedcart.tasks import cancel

logger = logging.getLogger(__name__)


class ReportsService:
    """Owns a :class:`ReportStore` and refreshes it in the background."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.store = ReportStore(settings.resolved_lake_root, catalog)
        self.interval = settings.serve.reports_refresh_s
        self.refreshes = 0
        self.last_refresh: float | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def refresh(self, *, full: bool = False) -> RefreshResult:
        """Rebuild changed rollup days now and reload the store (blocking)."""
        result = self.store.refresh(full=full)
        self.refreshes += 1
        self.last_refresh = time.time()
        self.last_error = None
        return result

    async def refresh_async(self) -> None:
        """One refresh in a worker thread; a failure keeps the last good rollups and shows at /healthz."""
        try:
            await asyncio.to_thread(self.refresh)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("rollup refresh failed")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh_async()

    async def start(self) -> None:
        """Refresh once (so the first request sees the lake), then keep refreshing in the background."""
        await self.refresh_async()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="seedcart-reports")

    async def stop(self) -> None:
        """Stop the loop and release the store (after a refresh still running in its thread: cancelling
        the loop does not stop that thread)."""
        await cancel(self._task)
        await asyncio.to_thread(self.store.close)

    def status(self) -> dict[str, Any]:
        """Shown at /healthz."""
        return {"refreshes": self.refreshes, "last_refresh": self.last_refresh, "error": self.last_error,
                "rows": dict(self.store.rows), "interval_s": self.interval}


@asynccontextmanager
async def reports_service(settings: Settings, catalog: Catalog) -> AsyncIterator[ReportsService]:
    """The SERVICES factory: a running :class:`ReportsService`, stopped on exit."""
    service = ReportsService(settings, catalog)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
