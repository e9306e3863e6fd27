"""Intake benchmark: events/s of Segment-shaped NDJSON batches through the HTTP API (validated,
deduplicated, fsynced to the durable log before each 200), against DuckDB ``read_json`` loading
the same NDJSON into a table, in the same run (DESIGN §6).

``python -m benchmarks.intake [--quick] [--events N] [--batch B] [--connections C] [--all-services]``

The server is ``uvicorn --factory`` (uvloop + httptools, one worker) in its own process on a fresh
data dir, running the app of :func:`intake_app`: ``create_app`` with only the ``intake`` service
(the durable log and its lake flusher) unless ``--all-services`` also starts attribution, links and
reports, whose background refreshes would otherwise re-credit and re-roll the lake while it fills.
The load comes from this process over loopback, ``C`` connections posting ``/v1/batch`` bodies
prepared in advance. DuckDB reads the NDJSON of the very same messages. Also reported: p50/p99 per
batch, the server's CPU time per event (user + system, the lake flush worker included) and when the last
acknowledged event reached the lake.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.proc import cpu_seconds

EVENTS = ("note_impression", "note_impression", "note_impression", "note_read", "note_like", "link_click",
          "note_collect", "search")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_messages(n: int) -> list[dict[str, Any]]:
    """``n`` Segment track messages drawn from the documented vocabulary. Their ``messageId`` is a
    random UUID, as Segment's libraries make it (seeded: the same ids every run), so the dedupe index
    meets keys in no order, as it does in service."""
    rng = random.Random(20261207)
    out = []
    for i in range(n):
        event = EVENTS[i % len(EVENTS)]
        props: dict[str, Any] = {"note_id": f"note-{i % 5000}", "placement": ("feed", "search", "video")[i % 3],
                                 "position": i % 20}
        if event == "note_read":
            props["dwell_ms"] = (i * 37) % 12000
        if event == "search":
            props = {"query": f"防晒 {i % 100}"}
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.append({"type": "track", "event": event, "messageId": message_id, "userId": f"user-{i % 50000}",
                    "timestamp": "2026-05-01T12:00:00.000Z", "properties": props,
                    "context": {"os": {"name": "iOS" if i % 2 else "Android"}}})
    return out


def duckdb_reference(path: Path, n: int, threads: int | None = None) -> float:
    """Seconds for DuckDB to load the NDJSON file into a table (the reference)."""
    import duckdb

    con = duckdb.connect(config={"threads": threads} if threads else {})
    started = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}', format='newline_delimited')")
    elapsed = time.perf_counter() - started
    count = con.execute("SELECT count(*) FROM t").fetchone()
    assert count is not None and count[0] == n, count
    con.close()
    return elapsed


_SERVICES_ENV = "SEEDCART_BENCH_SERVICES"


def intake_app() -> Any:
    """The app the benchmark serves: every router, but only the services named in
    ``$SEEDCART_BENCH_SERVICES`` (comma-separated; all when unset)."""
    from seedcart.serve import app as app_module

    wanted = os.environ.get(_SERVICES_ENV)
    if wanted:
        names = set(wanted.split(","))
        app_module.SERVICES[:] = [(name, factory) for name, factory in app_module.SERVICES if name in names]
    return app_module.create_app()


def server_services(all_services: bool) -> list[str]:
    """The services the benchmark server starts."""
    from seedcart.serve.app import SERVICES

    return [name for name, _ in SERVICES if all_services or name == "intake"]


def start_server(data_dir: Path, port: int, services: list[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env.update({"SEEDCART__DATA_DIR": str(data_dir), "SEEDCART__INTAKE__CLIENT_EVENTS_PER_S": "0",
                "SEEDCART__INTAKE__QUEUE_SOFT_MAX": "0", _SERVICES_ENV: ",".join(services),
                "PYTHONPATH": os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)})
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "benchmarks.intake:intake_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             "--loop", "uvloop", "--http", "httptools", "--no-access-log"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise RuntimeError(f"server exited: {err}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/intake/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _request(host: str, key: str, body: bytes) -> bytes:
    """One keep-alive ``POST /v1/batch``, as bytes on the wire."""
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = (f"POST /v1/batch HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _status_of_response(sock: socket.socket, pending: bytearray) -> int:
    """Read one response (head and Content-Length body) off ``sock``; its status. Bytes read past it
    stay in ``pending``."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        rest += chunk
    pending[:] = rest[length:]
    return int(lines[0].split()[1])


def post_all(url: str, key: str, bodies: list[bytes], connections: int) -> tuple[float, list[float], int]:
    """Post every body over ``connections`` keep-alive connections; (seconds, latencies, failures).

    A bare socket client with the requests rendered in advance, so the load generator takes as little
    of the machine's two cores as it can (an HTTP library costs about 3 us of CPU per event here)."""
    host, port = url.removeprefix("http://").split(":")
    requests = [_request(f"{host}:{port}", key, body) for body in bodies]
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    next_index = [0]

    def worker() -> None:
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = bytearray()
            while True:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if i >= len(requests):
                    return
                t0 = time.perf_counter()
                sock.sendall(requests[i])
                status = _status_of_response(sock, pending)
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    if status != 200:
                        failures[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, failures[0]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k events instead of 200k")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--batch", type=int, default=500, help="messages per /v1/batch request")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--all-services", action="store_true",
                        help="also start attribution, links and reports in the server (default: intake only)")
    args = parser.parse_args(argv)
    n = args.events or (20_000 if args.quick else 200_000)

    from seedcart.catalog.db import open_catalog
    from seedcart.catalog.keys import create_key
    from seedcart.config import load_settings

    messages = make_messages(n)
    with tempfile.TemporaryDirectory(prefix="seedcart-bench-intake-") as tmp:
        workdir = Path(tmp)
        ndjson = workdir / "events.ndjson"
        ndjson.write_bytes(b"\n".join(orjson.dumps(m) for m in messages) + b"\n")
        bodies = [orjson.dumps({"batch": messages[i:i + args.batch], "sentAt": "2026-05-01T12:00:00.100Z"})
                  for i in range(0, n, args.batch)]

        duck_s = duckdb_reference(ndjson, n)
        duck1_s = duckdb_reference(ndjson, n, threads=1)

        data_dir = workdir / "data"
        settings = load_settings({"SEEDCART__DATA_DIR": str(data_dir)})
        catalog = open_catalog(settings)
        with catalog.session() as session:
            key = create_key(session, "source", name="benchmark")[0]
        catalog.close()
        port = _free_port()
        services = server_services(args.all_services)
        proc = start_server(data_dir, port, services)
        try:
            url = f"http://127.0.0.1:{port}"
            server_cpu0, client_cpu0 = cpu_seconds(proc.pid), time.process_time()
            http_s, latencies, failures = post_all(url, key, bodies, args.connections)
            acked_at = time.perf_counter()
            server_cpu, client_cpu = cpu_seconds(proc.pid) - server_cpu0, time.process_time() - client_cpu0
            lake_s = float("nan")
            with httpx.Client(base_url=url, timeout=10) as client:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    health = client.get("/v1/intake/health").json()
                    if health["lag"] == 0 and health["lake"]["rows_written"] >= n:
                        lake_s = time.perf_counter() - acked_at
                        break
                    time.sleep(0.05)
            server_cpu_lake = cpu_seconds(proc.pid) - server_cpu0
        finally:
            proc.terminate()
            proc.wait(timeout=60)

    http_eps = n / http_s
    duck_eps = n / duck_s
    print(f"{n} Segment-shaped events, {len(bodies)} batches of {args.batch}, {args.connections} connections; "
          f"server: uvicorn uvloop+httptools, 1 process, services: {', '.join(services)}")
    print(f"{'':34}{'events/s':>14}{'seconds':>10}")
    print(f"{'seedcart HTTP /v1/batch (fsynced)':34}{http_eps:>14,.0f}{http_s:>10.2f}")
    print(f"{'DuckDB read_json (reference)':34}{duck_eps:>14,.0f}{duck_s:>10.2f}")
    print(f"{'DuckDB read_json, 1 thread':34}{n / duck1_s:>14,.0f}{duck1_s:>10.2f}")
    print(f"ratio seedcart / DuckDB: {http_eps / duck_eps:.3f} x   (target >= 0.5 x); "
          f"vs DuckDB on 1 thread: {http_eps * duck1_s / n:.3f} x")
    if n < 200_000:
        print(f"  (a smoke run: on {n:,} events DuckDB's fixed start-up cost weighs on its rate and flatters the "
              "ratio; quote the default size, 200,000)")
    print(f"per batch: p50 {_pct(latencies, 0.5) * 1000:.1f} ms, p99 {_pct(latencies, 0.99) * 1000:.1f} ms; "
          f"non-200 answers: {failures}")
    print(f"server CPU per event: {server_cpu / n * 1e6:.1f} us while posting, {server_cpu_lake / n * 1e6:.1f} us "
          f"until all is in the lake; load generator CPU per event: {client_cpu / n * 1e6:.1f} us")
    print(f"last acknowledged event in the lake {lake_s:.2f} s after the last acknowledgement")


if __name__ == "__main__":
    main()
