"""Redirect benchmark: clicks/s and latency of ``GET /c/{code}`` with the durable click log on,
against nginx ``return 302`` measured in the same run on the same machine (DESIGN §6).

The seedcart side is one server process (uvicorn with uvloop + httptools, one worker, no access
log) running the intake and links services, loaded through its click edge (``serve.click_port``,
the lean listener short links are served from); ``--api`` also loads the API's own ``/c/{code}``
route. nginx runs one worker. All on loopback, loaded by ``wrk`` from a separate process with the
same connections and agent (an iPhone, so every click is a human click: appended and fsynced
before its 302). A reference side is the floor of a Python ASGI server: the same uvicorn settings
answering a constant 302 from a bare ASGI function (no click, no log). Each side's server CPU time
per request is read from ``/proc`` (user + system, the whole process and its direct children:
nginx's worker, seedcart's lake flush worker). The seedcart side runs its click hot path compiled
when the tree's mypyc build matches the sources (``seedcart.native``; ``make bench`` builds it), and
the report says which ran.

Every side is measured at each ``--connections`` count (default 32, 64, 128 and 256), in ``--rounds``
interleaved rounds (default 3: seedcart, its API route with ``--api``, the floor, nginx, then again),
all servers running throughout; each side's medians are reported, and the ratio to nginx round by
round with its median, so that a slow spell of a shared machine falls on every side rather than on
one. After each seedcart round, its server's lake flush is waited for, so the Parquet that round
left is not written during another side's round. A person's click is
answered only after its fsync, so with few connections the rate is bound by the disk's fsync
latency (every connection waits on the same write), with many by CPU; nginx has no such wait.

``--pin`` runs every server on CPU 0 and wrk on CPU 1 (``taskset``), so the load generator never
competes with the server it measures; without it the scheduler places both.

Needs the OS packages ``wrk`` and ``nginx`` (``apt-get install -y wrk nginx``); a side whose tool
is missing is skipped with a message. ``--quick`` runs 3 s per side instead of 10 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from benchmarks.proc import cpu_seconds

AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
NGINX_TARGET = "https://item.m.jd.com/product/100012043978.html?sc_cid=0123456789abcdefghijkl"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path, port: int, click_port: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SEEDCART__DATA_DIR": str(data_dir), "SEEDCART__SERVE__PORT": str(port),
                "SEEDCART__SERVE__PUBLIC_URL": f"http://127.0.0.1:{port}"})
    if click_port is not None:
        env["SEEDCART__SERVE__CLICK_PORT"] = str(click_port)
    return env


def _seed(data_dir: Path) -> str:
    """A catalog with one ad link; returns its code."""
    from seedcart.catalog.brands import create_brand
    from seedcart.catalog.campaigns import create_campaign
    from seedcart.catalog.db import open_catalog
    from seedcart.catalog.links import create_link
    from seedcart.catalog.products import create_product, upsert_note
    from seedcart.config import load_settings

    catalog = open_catalog(load_settings({"SEEDCART__DATA_DIR": str(data_dir)}))
    try:
        with catalog.session() as s:
            brand = create_brand(s, "bench").id
            product = create_product(s, partner_id="jd", item_id="100012043978", brand_id=brand,
                                     category_id="beauty").id
            upsert_note(s, "bench-note", brand_id=brand, is_ad=True)
            campaign = create_campaign(s, brand_id=brand, partner_id="jd", mode="CID", bid_type="CPC",
                                       bid_price=10, start_at=datetime(2026, 1, 1, tzinfo=UTC)).id
            return create_link(s, kind="ad_link", note_id="bench-note", product_id=product,
                               campaign_id=campaign, placement="feed").code
    finally:
        catalog.close()


_UVICORN: dict[str, Any] = {"host": "127.0.0.1", "loop": "uvloop", "http": "httptools", "log_level": "warning",
                            "access_log": False}


async def _constant_302(scope: Any, receive: Any, send: Any) -> None:
    """The floor side: a bare ASGI app answering every request with the same 302."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 302, "headers": [
        (b"location", NGINX_TARGET.encode()), (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def serve_floor(port: int) -> None:
    """Child process: the floor side (uvicorn, same settings, constant 302)."""
    import uvicorn

    uvicorn.run(_constant_302, port=port, lifespan="off", **_UVICORN)


def serve(port: int) -> None:
    """Child process: the seedcart app with only the intake (durable log) and links services."""
    import uvicorn

    from seedcart.collect.log import DurableLog
    from seedcart.config import load_settings
    from seedcart.serve import app as app_module

    @asynccontextmanager
    async def log_only_intake(settings: Any, catalog: Any) -> Any:
        log = DurableLog(settings.log_dir, group_commit_ms=settings.intake.group_commit_ms)
        await log.start()
        try:
            yield type("Intake", (), {"log": log, "status": log.status})()
        finally:
            await log.stop()

    services = dict(app_module.SERVICES)
    app_module.SERVICES[:] = [("intake", services.get("intake", log_only_intake)), ("links", services["links"])]
    app = app_module.create_app(load_settings())
    uvicorn.run(app, port=port, **_UVICORN)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _wait_http(url: str, timeout: float = 60.0, *, expect_redirect: bool = False) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(_NoRedirect)
    while True:
        try:
            with opener.open(url, timeout=2):  # loopback only
                return
        except urllib.error.HTTPError as exc:
            if expect_redirect and exc.code == 302:
                return
            raise
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def _wrk(url: str, seconds: int, connections: int, server_pid: int, pin: bool) -> dict[str, float]:
    before = cpu_seconds(server_pid)
    out = subprocess.run(_pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H",
                                  f"User-Agent: {AGENT}", url], 1 if pin else None),
                         check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(server_pid) - before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    return {"rate": rate, "p50": lat.get("50", float("nan")), "p99": lat.get("99", float("nan")),
            "total": total, "errors": int(non2xx.group(1)) if non2xx else 0,
            "cpu_us": cpu / total * 1e6 if total else float("nan")}


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@dataclass
class _Side:
    """One server under measurement: where to load it, its process, and each round's numbers."""

    name: str
    url: str
    pid: int
    health: str | None = None  # seedcart's /healthz: its lake flush is waited for after each round
    rounds: list[dict[str, float]] = field(default_factory=list)
    recorded: int | None = None  # clicks the stopped server kept
    hot_path: str = ""  # seedcart's: compiled or interpreted (seedcart.native), from its /healthz


@contextmanager
def _python_side(work: Path, pin: bool, *, floor: bool = False, via: str = "edge") -> Iterator[_Side]:
    """The seedcart side (``floor=False``; its click edge, or the API's route with ``via="api"``) or the
    bare-uvicorn floor side (``floor=True``), running for the life of the block."""
    data_dir = work / ("floor" if floor else f"data-{via}")
    code = "x" if floor else _seed(data_dir)
    port = _free_port()
    click_port = _free_port() if not floor and via == "edge" else None
    child = subprocess.Popen(_pinned([sys.executable, "-m", "benchmarks.redirect",
                                      "--serve-floor" if floor else "--serve", str(port)], 0 if pin else None),
                             env=_env(data_dir, port, click_port), cwd=Path(__file__).resolve().parents[1])
    name = ("uvicorn floor: constant 302, no work" if floor else
            "seedcart click edge /c/{code} (fsynced)" if via == "edge" else "seedcart API route /c/{code} (fsynced)")
    side = _Side(name, f"http://127.0.0.1:{click_port or port}/c/{code}", child.pid,
                 None if floor else f"http://127.0.0.1:{port}/healthz")
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", expect_redirect=floor)
        if click_port is not None:
            _wait_http(f"http://127.0.0.1:{click_port}/healthz")
        if not floor:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:  # loopback only
                hot = orjson.loads(answer.read())["hot_path"]
            side.hot_path = (f"compiled ({len(hot['compiled'])} modules)" if hot["compiled"]
                             else f"interpreted: {hot['reason']}")
        yield side
    finally:
        child.terminate()
        child.wait(timeout=60)
    if not floor:
        side.recorded = _clicks_recorded(data_dir)


def _flushed(side: _Side, timeout: float = 60.0) -> None:
    """Wait until a seedcart side's lake flush has caught up with its log, so that the work its last
    round left does not run during another side's round."""
    if side.health is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(side.health, timeout=5) as answer:  # loopback only
            intake = orjson.loads(answer.read())["services"]["intake"]
        if intake["lake"]["flushed"] >= intake["log"]["position"]:
            return
        time.sleep(0.2)


def _clicks_recorded(data_dir: Path) -> int:
    """Clicks the stopped server kept: in the lake (its flusher drains the log there on the way out)
    and any still in the log after the flusher's checkpoint."""
    import pyarrow.parquet as pq

    from seedcart.collect.log import iter_entries
    from seedcart.config import load_settings
    from seedcart.lake.ingest import CHECKPOINT
    from seedcart.lake.reader import table_files

    settings = load_settings({"SEEDCART__DATA_DIR": str(data_dir)})
    in_lake = sum(pq.ParquetFile(path).metadata.num_rows for path in table_files(settings.resolved_lake_root, "touch"))
    checkpoint = settings.log_dir / CHECKPOINT
    flushed = int(orjson.loads(checkpoint.read_bytes()).get("flushed", 0)) if checkpoint.exists() else 0
    in_log = sum(len(records) for _, table, records in iter_entries(settings.log_dir, flushed) if table == "touch")
    return in_lake + in_log


@contextmanager
def _nginx_side(work: Path, pin: bool) -> Iterator[_Side | None]:
    """nginx ``return 302`` with one worker, running for the life of the block (None: not installed)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        print("nginx side skipped: nginx is not installed (apt-get install -y nginx)")
        yield None
        return
    port = _free_port()
    prefix = work / "nginx"
    (prefix / "logs").mkdir(parents=True)
    user = "user root;" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{user}
worker_processes 1; daemon off; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  server {{ listen 127.0.0.1:{port}; location / {{ return 302 {NGINX_TARGET}; }} }}
}}
""")
    child = subprocess.Popen(_pinned([nginx, "-p", str(prefix), "-c", str(conf)], 0 if pin else None))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    print("nginx side skipped: nginx did not start")
                    yield None
                    return
                time.sleep(0.05)
        yield _Side("nginx return 302", f"http://127.0.0.1:{port}/c/x", child.pid)
    finally:
        child.terminate()
        child.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    """Measure every side and print clicks/s, p50, p99, server CPU per request and the ratio."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redirect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per side instead of 10 s")
    parser.add_argument("--seconds", type=int, default=None, help="seconds per side")
    parser.add_argument("--connections", default="32,64,128,256",
                        help="wrk connections, comma-separated: every side is measured at each (default 32,64,128,256)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every side, interleaved; medians are reported (default 3)")
    parser.add_argument("--pin", action="store_true", help="servers on CPU 0, wrk on CPU 1 (taskset)")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-uvicorn reference side")
    parser.add_argument("--api", action="store_true",
                        help="also measure the API's own /c/{code} route (uvicorn + FastAPI) beside the click edge")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return
    if args.serve_floor is not None:
        serve_floor(args.serve_floor)
        return
    if shutil.which("wrk") is None:
        print("redirect benchmark skipped: wrk is not installed (apt-get install -y wrk)")
        return
    if args.pin and (shutil.which("taskset") is None or (os.cpu_count() or 1) < 2):
        print("--pin ignored: needs taskset and two CPUs")
        args.pin = False
    seconds = args.seconds or (3 if args.quick else 10)
    counts = [int(c) for c in args.connections.split(",") if c.strip()]
    pinned = "servers on CPU 0, wrk on CPU 1" if args.pin else "unpinned"
    with tempfile.TemporaryDirectory(prefix="seedcart-bench-redirect-") as tmp:
        for connections in counts:
            work = Path(tmp) / f"c{connections}"
            work.mkdir()
            with ExitStack() as stack:
                nginx = stack.enter_context(_nginx_side(work, args.pin))
                ours = stack.enter_context(_python_side(work, args.pin))
                api = stack.enter_context(_python_side(work, args.pin, via="api")) if args.api else None
                floor = None if args.no_floor else stack.enter_context(_python_side(work, args.pin, floor=True))
                sides = [side for side in (ours, api, floor, nginx) if side is not None]
                for _ in range(args.rounds):  # interleaved: a slow spell of the machine hits every side
                    for side in sides:
                        side.rounds.append(_wrk(side.url, seconds, connections, side.pid, args.pin))
                        _flushed(side)
            _report(connections, seconds, pinned, sides, ours, floor, nginx)


def _median(side: _Side, key: str) -> float:
    return statistics.median(row[key] for row in side.rounds)


def _report(connections: int, seconds: int, pinned: str, sides: list[_Side], ours: _Side, floor: _Side | None,
            nginx: _Side | None) -> None:
    """Each side's median over the rounds, and the ratio to nginx round by round."""
    rounds = len(ours.rounds)
    print(f"\nloopback, wrk -t1 -c{connections} -d{seconds}s, {rounds} interleaved rounds, one server process each, "
          f"{pinned}, durable log on; medians over the rounds")
    print(f"{'side':<40}{'clicks/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'cpu us/req':>12}{'x nginx':>9}")
    for side in sides:
        rate = _median(side, "rate")
        ratio = f"{rate / _median(nginx, 'rate'):.2f}" if nginx is not None else "-"
        print(f"{side.name:<40}{rate:>10,.0f}{_median(side, 'p50'):>9.2f}{_median(side, 'p99'):>9.2f}"
              f"{_median(side, 'cpu_us'):>12.0f}{ratio:>9}")
    for side in sides:
        print(f"  {side.name}, clicks/s by round: " + " / ".join(f"{row['rate']:,.0f}" for row in side.rounds))
    answered = int(sum(row["total"] for row in ours.rounds))
    errors = int(sum(row["errors"] for row in ours.rounds))
    print(f"seedcart: {answered} requests answered, {ours.recorded} clicks recorded (lake and log, also those in "
          f"flight when wrk stopped), {errors} non-2xx/3xx; hot path {ours.hot_path}")
    if floor is not None:
        print(f"seedcart/floor: {_median(ours, 'rate') / _median(floor, 'rate'):.2f} of the bare server's rate")
    if nginx is not None:
        ratios = [mine["rate"] / theirs["rate"] for mine, theirs in zip(ours.rounds, nginx.rounds, strict=True)]
        by_round = " / ".join(f"{r:.2f}" for r in ratios)
        print(f"ratio seedcart/nginx at {connections} connections by round: {by_round}; median "
              f"{statistics.median(ratios):.2f} (target >= 0.35); seedcart p99 {_median(ours, 'p99'):.2f} ms "
              "(target <= 10 ms)")


if __name__ == "__main__":
    main(sys.argv[1:])
