"""In-server crediting: watch the lake for new touch, backflow and identity files and credit them.

Every ``interval`` seconds the service lists the input tables' files. When files were added, an
incremental pass (``seedcart.attribute.incremental``) re-credits only the back-link events they can
change: new backflow, events a late touch falls before, events whose match key gained an identity.
That takes seconds, not a rebuild of the lake. Per-event models then hold exactly what a full rebuild
gives; the path models credit new paths from the last full solve (``seedcart.attribute.pathstore``).

A full pass recomputes the whole credit table and re-solves the path models. It runs at start,
when a file already credited changed or went away (compaction), when the run configuration changed
(lookbacks in the catalog), with ``attribution.incremental`` off or on an engine other than DuckDB,
and at least every ``attribution.full_every`` while the inputs keep changing. After a full pass
the service waits at least as long as that pass took, so crediting never takes more than about
half the machine. ``status()`` reports the passes at /healthz.

A restart does not start over: after each pass the service saves what that pass credited (the
input files with their sizes, the run configuration, when the last full pass ran, and the credit
table's files) in ``<data>/state/attribution.json``. A new server resumes from it, so its first pass
is incremental when only files were added meanwhile. The saved state is ignored, and a full pass
runs, when the credit table's files are not those it names, the path store is missing, or it
cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from seedcart.attribute.config import config_from_settings
from seedcart.attribute.incremental import Delta, recredit
from seedcart.attribute.lake import rebuild_credit
from seedcart.attribute.pathstore import PathStore
from seedcart.config import Settings
from seedcart.lake.compaction import compacted_from
from seedcart.lake.reader import table_files
from seedcart.tasks import cancel

#: The name of the daemon thread a pass runs on (``seedcart.demo.leave_if_threads_linger`` looks for it).
RUN_THREAD = "seedcart-attribution"

logger = logging.getLogger(__name__)

INPUTS = ("touch", "backflow", "identity")
#: The committed input files, by table: path → size.
Listing = dict[str, dict[Path, int]]


def _sizes(root: str | Path, table: str) -> dict[Path, int]:
    return {p: p.stat().st_size for p in table_files(root, table)}


def list_inputs(root: str | Path) -> Listing:
    """The committed files of the input tables with their sizes."""
    return {table: _sizes(root, table) for table in INPUTS}


def delta_of(before: Listing, now: Listing) -> Delta | None:
    """The files added since ``before`` that hold rows not credited yet; None when a file of ``before``
    changed, or went away other than into a compaction's merged file (which then holds nothing new
    when every file merged into it had been credited)."""
    added: dict[str, tuple[Path, ...]] = {}
    for table in INPUTS:
        old, new = before.get(table, {}), now.get(table, {})
        merged: set[Path] = set()
        fresh: list[Path] = []
        for path in sorted(p for p in new if p not in old):
            sources = compacted_from(path)
            merged.update(sources)
            if not sources or any(source not in old for source in sources):
                fresh.append(path)
        if any(new.get(path) != size and not (path in merged and path not in new) for path, size in old.items()):
            return None
        added[table] = tuple(fresh)
    return Delta(touch=added["touch"], backflow=added["backflow"], identity=added["identity"])


def _relative(root: Path, files: dict[Path, int]) -> dict[str, int]:
    return {str(path.relative_to(root)): size for path, size in sorted(files.items())}


def _credit_files(root: Path) -> dict[str, int]:
    return _relative(root, _sizes(root, "credit"))


#: The saved state's version: 2 since credit files hold one row per credited (event, touch)
#: (``seedcart.lake.credit``); a state of another version is not resumed, so a lake from before
#: is credited afresh by the first pass.
STATE_VERSION = 2


class AttributionService:
    """Polls the lake and keeps the credit table current."""

    def __init__(self, settings: Settings, catalog: Any = None, interval: float = 1.0) -> None:
        self.settings = settings
        self.catalog = catalog
        self.interval = interval
        self.seen: Listing = {}
        state = Path(settings.resolved_lake_root).parent / "state"
        self.paths = PathStore(state / "path-solve")
        self.state_file = state / "attribution.json"
        self.runs = 0
        self.full_runs = 0
        self.rows = 0
        self.last_kind: str | None = None
        self.last_events: int | None = None
        self.last_seconds: float | None = None
        self.last_full_seconds: float | None = None
        self.last_error: str | None = None
        self._full_at: float | None = None
        self._config: str | None = None
        self._full_wall: float | None = None  # time.time() of the last full pass, for the saved state
        self._task: asyncio.Task[None] | None = None
        self.resumed = self._resume()

    # -- the state a restart resumes from --------------------------------------------------------------

    def _save(self) -> None:
        """Save what the credit table now holds (module docstring); a failure only costs a full pass later."""
        root = Path(self.settings.resolved_lake_root)
        state = {"version": STATE_VERSION, "config": self._config, "full_wall": self._full_wall, "rows": self.rows,
                 "inputs": {table: _relative(root, files) for table, files in self.seen.items()},
                 "credit": _credit_files(root)}
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            temp = self.state_file.with_suffix(".tmp")
            temp.write_text(json.dumps(state))
            os.replace(temp, self.state_file)
        except OSError as exc:
            logger.warning("could not save the attribution state (%s); a restart will rebuild the credit table", exc)

    def _resume(self) -> bool:
        """Take up the saved state of an earlier run, when it still describes the credit table."""
        root = Path(self.settings.resolved_lake_root)
        try:
            state = json.loads(self.state_file.read_text())
            if state.get("version") != STATE_VERSION or self.paths.models() is None or state["full_wall"] is None:
                return False
            if state["credit"] != _credit_files(root):
                logger.info("the credit table changed since the saved attribution state; rebuilding it")
                return False
            seen = {table: {root / name: int(size) for name, size in state["inputs"].get(table, {}).items()}
                    for table in INPUTS}
            config, full_wall, rows = str(state["config"]), float(state["full_wall"]), int(state["rows"])
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("ignoring the saved attribution state %s: %s", self.state_file, exc)
            return False
        self.seen, self._config, self._full_wall, self.rows = seen, config, full_wall, rows
        self._full_at = time.monotonic() - max(0.0, time.time() - full_wall)
        self.paths.reuse = True
        return True

    def _wants_full(self, delta: Delta | None, config: str) -> bool:
        settings = self.settings.attribution
        return (delta is None or not settings.incremental or self.settings.engine != "duckdb"
                or self._full_at is None or config != self._config or self.paths.models() is None
                or time.monotonic() - self._full_at >= settings.full_every.total_seconds())

    def _full(self, config: str) -> None:
        self.paths.reuse = False
        self.rows = rebuild_credit(self.settings, self.catalog, paths=self.paths)
        self.paths.reuse = True
        self._full_at, self._config, self._full_wall = time.monotonic(), config, time.time()
        self.full_runs += 1
        self.last_kind, self.last_events = "full", None

    def run_once(self) -> bool:
        """Credit what changed since the last pass (module docstring); True when a pass ran."""
        current = list_inputs(self.settings.resolved_lake_root)
        if current == self.seen:
            return False
        started = time.perf_counter()
        try:
            config = repr(config_from_settings(self.settings, self.catalog))
            delta = delta_of(self.seen, current)
            if delta is not None and not delta and config == self._config and self._full_at is not None:
                self.seen = current  # only compactions: their merged files hold what was credited
                self._save()
                return False
            full = self._wants_full(delta, config)
            if not full and delta is not None:
                result = recredit(self.settings, self.catalog, delta, self.paths,
                                  max_share=self.settings.attribution.incremental_max_share)
                self.last_kind, self.last_events = "incremental", result.events
                full = result.too_many
            if full:
                self._full(config)
        except Exception as exc:  # keep serving; report the failure at /healthz
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._full_at = None  # whatever failed, the next pass starts over
            logger.exception("attribution run failed")
            return False
        self.seen = current
        self._save()
        self.runs += 1
        self.last_error = None
        self.last_seconds = time.perf_counter() - started
        if self.last_kind == "full":
            self.last_full_seconds = self.last_seconds
        return True

    def pause(self) -> float:
        """Seconds to wait before the next look: the interval, or as long as the last full pass took."""
        return max(self.interval, (self.last_seconds or 0.0) if self.last_kind == "full" else 0.0)

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

        threading.Thread(target=work, name=RUN_THREAD, daemon=True).start()
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
        await cancel(self._task)

    def status(self) -> dict[str, Any]:
        """Passes so far, stored rows (credited event and touch pairs) of the last full pass, what the last
        pass did and took, the last error."""
        return {"runs": self.runs, "full_runs": self.full_runs, "rows": self.rows, "resumed": self.resumed,
                "last_kind": self.last_kind,
                "last_events": self.last_events, "last_seconds": self.last_seconds,
                "last_full_seconds": self.last_full_seconds, "last_error": self.last_error,
                "credit_current": self.seen == list_inputs(self.settings.resolved_lake_root)}


@asynccontextmanager
async def attribution_service(settings: Settings, catalog: Any) -> AsyncIterator[AttributionService]:
    """The ``attribution`` service of the app (``seedcart.serve.app.SERVICES``)."""
    service = AttributionService(settings, catalog)
    service.start()
    try:
        yield service
    finally:
        await service.stop()
