"""In-server crediting: watch the lake for new touch, backflow and identity files and re-credit.

Every ``interval`` seconds the service lists the input tables' files; when the set changed (new
backflow, late touches, new identity pairs) it recomputes the credit table in a worker thread and
replaces it. Recomputing everything is what makes a late touch re-credit the events it changes and
keeps the served table equal to a full rebuild by construction. A rebuild costs time proportional
to the lake (about 5 minutes for 11M touches today), so after each run the service waits at least
as long as that run took: crediting never takes more than about half the machine while live
traffic keeps changing the inputs. ``status()`` reports the last run at /healthz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from seedcart.attribute.lake import rebuild_credit
from seedcart.config import Settings
from seedcart.lake.reader import table_files

logger = logging.getLogger(__name__)

INPUTS = ("touch", "backflow", "identity")


class AttributionService:
    """Polls the lake and keeps the credit table current."""

    def __init__(self, settings: Settings, catalog: Any = None, interval: float = 1.0) -> None:
        self.settings = settings
        self.catalog = catalog
        self.interval = interval
        self.seen: tuple[str, ...] = ()
        self.runs = 0
        self.rows = 0
        self.last_seconds: float | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def fingerprint(self) -> tuple[str, ...]:
        """The committed input files, by name and size."""
        root = self.settings.resolved_lake_root
        return tuple(f"{p}:{p.stat().st_size}" for table in INPUTS for p in table_files(root, table))

    def run_once(self) -> bool:
        """Re-credit when the inputs changed since the last run; True when it ran."""
        current = self.fingerprint()
        if current == self.seen:
            return False
        started = time.perf_counter()
        try:
            self.rows = rebuild_credit(self.settings, self.catalog)
        except Exception as exc:  # keep serving; report the failure at /healthz
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("attribution run failed")
            return False
        self.seen = current
        self.runs += 1
        self.last_error = None
        self.last_seconds = time.perf_counter() - started
        return True

    def pause(self) -> float:
        """Seconds to wait before the next look: the interval, or as long as the last run took."""
        return max(self.interval, self.last_seconds or 0.0)

    async def _run_in_background(self) -> None:
        """``run_once`` on a daemon thread: a stopping server never waits minutes for a rebuild to end
        (a rebuild cut short by exit is safe: the credit table is swapped in under a journal)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def work() -> None:
            try:
                self.run_once()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop closed while we ran
                    loop.call_soon_threadsafe(finished)

        threading.Thread(target=work, name="seedcart-attribution", daemon=True).start()
        await done

    async def _loop(self) -> None:
        while True:
            await self._run_in_background()
            await asyncio.sleep(self.pause())

    def start(self) -> None:
        """Start polling in the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop polling (a run in progress finishes in its thread)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> dict[str, Any]:
        """Runs so far, rows of the credit table, seconds of the last run, last error."""
        return {"runs": self.runs, "rows": self.rows, "last_seconds": self.last_seconds,
                "last_error": self.last_error, "credit_current": self.seen == self.fingerprint()}


@asynccontextmanager
async def attribution_service(settings: Settings, catalog: Any) -> AsyncIterator[AttributionService]:
    """The ``attribution`` service of the app (``seedcart.serve.app.SERVICES``)."""
    service = AttributionService(settings, catalog)
    service.start()
    try:
        yield service
    finally:
        await service.stop()
