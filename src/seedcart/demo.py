"""Serving, and the demo: the whole loop on a generated world, with live simulated traffic.

This is the composition root (rightmost in DESIGN §2): it may import every stage.

``run_demo`` does, in order: a fresh demo data dir; a simulated world whose history ends
yesterday (catalog + lake); demo keys (admin, one brand, the platform's source, one per partner);
the full site on a real server, whose services start the intake log, the link cache, attribution
(which credits the world in the background, then keeps re-crediting as traffic arrives) and the
rollup refresher; and the simulated apps and partners streaming today's events into it over HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from seedcart.config import Settings, load_settings

logger = logging.getLogger(__name__)

Say = Callable[[str], None]


def build_app(settings: Settings, *, services: bool = True) -> Any:
    """The full site: the API of every stage plus the dashboard pages."""
    from seedcart.dashboard.site import build_site

    return build_site(settings, services=services)


def serve_forever(settings: Settings | None = None, *, host: str | None = None, port: int | None = None,
                  click_port: int | None = None) -> None:
    """Run the full site under uvicorn until interrupted (and the click edge, with ``click_port``)."""
    import uvicorn

    settings = settings or load_settings()
    if click_port is not None:
        settings = settings.model_copy(update={"serve": settings.serve.model_copy(update={"click_port": click_port})})
    uvicorn.run(build_app(settings), host=host or settings.serve.host, port=port or settings.serve.port,
                log_level="info", access_log=False)


def leave_if_threads_linger(code: int = 0) -> None:
    """After an orderly stop, end the process at once when an attribution pass is still running.

    The attribution service runs each pass on a daemon thread, so that a stopping server never waits
    minutes for a rebuild (a pass cut short is safe: the credit table is swapped under a journal). If
    that pass is inside DuckDB while the interpreter finalizes, the thread's way back into Python
    unwinds through DuckDB's C++ frames and the process aborts ("terminate called after throwing an
    instance of ''"; seen on about one ``seedcart demo --seconds 25`` in four). So when such a thread is
    alive, the output is flushed and the process leaves with ``os._exit`` (no finalization); the
    services, the log and the lake flush have stopped by then. Otherwise this returns."""
    from seedcart.attribute.service import RUN_THREAD  # loaded already by the server that stopped

    if not any(t.is_alive() and t.name == RUN_THREAD for t in threading.enumerate()):
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@dataclass
class DemoKeys:
    """The keys the demo mints: shown once on the terminal and kept in ``<demo dir>/demo-keys.json``."""

    admin: str
    brand: str
    brand_id: int
    brand_name: str
    source: str
    partners: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"admin": self.admin, "brand": self.brand, "brand_id": self.brand_id,
                "brand_name": self.brand_name, "source": self.source, "partners": self.partners}


@dataclass
class DemoRun:
    """A running demo: where it serves, its keys, and how to stop it."""

    url: str
    settings: Settings
    keys: DemoKeys
    summary: dict[str, Any]
    stop: threading.Event
    threads: list[threading.Thread]
    server: Any
    stream_stats: Any = None
    click_url: str = ""  # where short links point: the click edge

    def shutdown(self) -> None:
        """Stop the traffic, then the server; wait for both."""
        self.stop.set()
        for thread in self.threads[1:]:
            thread.join(timeout=30)
        self.server.should_exit = True
        self.threads[0].join(timeout=30)


def demo_settings(settings: Settings, *, port: int | None = None, host: str | None = None) -> Settings:
    """The demo's own settings: a ``demo`` data dir inside the configured one, its own catalog and lake."""
    host = host or settings.serve.host
    port = port if port is not None else settings.serve.port
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    serve = settings.serve.model_copy(update={"host": host, "port": port,
                                              "public_url": f"http://{shown_host}:{port}"})
    return settings.model_copy(update={"data_dir": settings.data_dir / "demo", "catalog_url": None,
                                       "lake_root": None, "serve": serve})


def _mint_keys(settings: Settings, summary: dict[str, Any]) -> DemoKeys:
    from sqlalchemy import func, select

    from seedcart.catalog.db import open_catalog
    from seedcart.catalog.keys import issue_key
    from seedcart.catalog.models import Brand, Note
    from seedcart.types import PARTNERS

    catalog = open_catalog(settings)
    try:
        with catalog.session() as session:
            # The demo brand: the one with the most notes, so its dashboard is the liveliest.
            brand_id, brand_name = session.execute(
                select(Brand.id, Brand.name).join(Note, Note.brand_id == Brand.id)
                .group_by(Brand.id, Brand.name).order_by(func.count(Note.id).desc(), Brand.id).limit(1)
            ).one()
            keys = DemoKeys(
                admin=issue_key(session, "admin", name="demo admin")["key"],
                brand=issue_key(session, "brand", brand_id=brand_id, name="demo brand")["key"],
                brand_id=int(brand_id), brand_name=str(brand_name),
                source=issue_key(session, "source", name="demo apps")["key"],
            )
            for partner in PARTNERS:
                issued = issue_key(session, "partner", partner_id=partner, name=f"demo {partner}")
                keys.partners[partner] = {"key": issued["key"], "secret": issued["signing_secret"]}
    finally:
        catalog.close()
    path = settings.data_dir / "demo-keys.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"summary": summary, **keys.to_dict()}, out, indent=2, default=str)
    return keys


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_demo(settings: Settings | None = None, *, users: int = 50_000, days: int = 14, seed: int = 7,
               host: str | None = None, port: int | None = None, fresh: bool = True, live: bool = True,
               events_per_s: float = 200.0, attribute_first: bool = False, say: Say | None = None,
               progress: Callable[[int, int], None] | None = None) -> DemoRun:
    """Build the demo world and start serving it (and, with ``live``, streaming into it); returns at once.

    The server answers as soon as the world is written; the attribution service credits it in the
    background (``attribute_first`` credits it before serving instead).
    """
    import uvicorn

    from seedcart.attribute.lake import rebuild_credit
    from seedcart.errors import ConfigError
    from seedcart.sim import WorldConfig, simulate
    from seedcart.sim.stream import PartnerAccess, stream

    say = say or (lambda message: logger.info("%s", message))
    demo = demo_settings(settings or load_settings(), port=port, host=host)
    if demo.serve.click_port is None:  # short links on the click edge: the next port when free, else any
        click_port = demo.serve.port + 1 if _port_free(demo.serve.host, demo.serve.port + 1) else 0
        demo = demo.model_copy(update={"serve": demo.serve.model_copy(update={"click_port": click_port})})
    if not _port_free(demo.serve.host, demo.serve.port):
        raise ConfigError(f"port {demo.serve.port} on {demo.serve.host} is taken; pass --port or set "
                          "SEEDCART__SERVE__PORT", field="port", port=demo.serve.port)
    if fresh and demo.data_dir.exists():
        shutil.rmtree(demo.data_dir)
    demo.ensure_data_dir()

    today = datetime.now(UTC).date()
    config = WorldConfig(users=users, days=days, seed=seed, start=today - timedelta(days=days))
    started = time.perf_counter()
    say(f"simulating {users:,} users over {days} days (history up to {today - timedelta(days=1)}) ...")
    summary = simulate(demo, config, progress=progress).to_dict()
    say(f"  {summary['events']:,} events in {summary['seconds']:.1f} s: "
        + ", ".join(f"{name} {count:,}" for name, count in summary["tables"].items()))
    if attribute_first:
        t0 = time.perf_counter()
        pairs = rebuild_credit(demo)
        say(f"attributed: {pairs:,} credited (event, touch) pairs under every model in "
            f"{time.perf_counter() - t0:.1f} s")
    else:
        say("attribution runs in the server's background service; credited numbers appear when its first "
            "run ends (GET /healthz: services.attribution)")
    keys = _mint_keys(demo, summary)

    app = build_app(demo)
    server = uvicorn.Server(uvicorn.Config(app, host=demo.serve.host, port=demo.serve.port, log_level="warning",
                                           access_log=False))
    server_thread = threading.Thread(target=server.run, name="seedcart-server", daemon=True)
    server_thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not server_thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the demo server did not start on {demo.serve.host}:{demo.serve.port}")
        time.sleep(0.05)
    say(f"serving after {time.perf_counter() - started:.0f} s")

    stop = threading.Event()
    edge = app.state.seedcart.services.get("click_edge")
    run = DemoRun(url=demo.serve.public_url, settings=demo, keys=keys, summary=summary, stop=stop,
                  threads=[server_thread], server=server, click_url=edge.url if edge else demo.serve.public_url)
    if live:
        partners = {p: PartnerAccess(key=v["key"], secret=v["secret"]) for p, v in keys.partners.items()}

        def feed() -> None:
            try:
                run.stream_stats = stream(demo, config, base_url=run.url, click_url=run.click_url,
                                          source_key=keys.source,
                                          partners=partners, stop=stop, max_events_per_s=events_per_s)
            except Exception:
                logger.exception("the live demo traffic stopped")

        feeder = threading.Thread(target=feed, name="seedcart-demo-traffic", daemon=True)
        feeder.start()
        run.threads.append(feeder)
    return run


def run_demo(settings: Settings | None = None, *, say: Say, duration_s: float | None = None,
             **options: Any) -> DemoRun:
    """``start_demo``, print how to use it, and serve until interrupted (or for ``duration_s``)."""
    run = start_demo(settings, say=say, **options)
    key_file = Path(run.settings.data_dir) / "demo-keys.json"
    say("")
    say(f"  dashboard   {run.url}/")
    say(f"  sign in as  {run.keys.brand_name} with key  {run.keys.brand}")
    say(f"  admin key   {run.keys.admin}")
    say(f"  API docs    {run.url}/docs      all demo keys: {key_file}")
    say(f"  short links {run.click_url}/c/<code>   (the click edge; GET {run.click_url}/healthz)")
    say("  live traffic is flowing; Ctrl-C stops the demo.")
    try:
        if duration_s is not None:
            run.stop.wait(duration_s)
        else:
            while run.threads[0].is_alive():
                run.threads[0].join(timeout=0.5)
    except KeyboardInterrupt:
        say("stopping ...")
    finally:
        run.shutdown()
    return run
