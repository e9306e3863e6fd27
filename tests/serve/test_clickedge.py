"""The click edge as an HTTP/1.1 server: real sockets, a real durable log, hostile clients.

The redirect's decisions (targets, bots, duplicates) are tested through both doors in
``tests/collect/test_redirect.py``; here is what the edge itself promises: answers in order on a
kept-alive or pipelined connection, nothing answered before its click is fsynced, clear refusals
of malformed, oversized and slow requests, and the client address it believes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httptools
import pytest
from tests.links.world import OneLinkCache

from seedcart.collect.clicks import ClickRecorder
from seedcart.collect.log import Done, DurableLog, iter_entries
from seedcart.collect.redirect import RedirectService
from seedcart.errors import Backpressure
from seedcart.serve.clickedge import MAX_HEADER_BYTES, MAX_URL_BYTES, ClickEdge, render

IPHONE = b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
KEY = b"k" * 32


class _State:
    def __init__(self, services: dict[str, Any]) -> None:
        self.services = services


class _Intake:
    def __init__(self, log: Any) -> None:
        self.log = log


@asynccontextmanager
async def _edge(tmp_path: Path, *, log: Any = None, **options: Any) -> AsyncIterator[tuple[ClickEdge, Any]]:
    """A click edge on a free port over a real durable log (or ``log``)."""
    durable = None
    if log is None:
        durable = log = DurableLog(tmp_path / "log", group_commit_ms=0)
        await durable.start()
    service = RedirectService(OneLinkCache(), ClickRecorder(KEY))  # type: ignore[arg-type]
    edge = ClickEdge(_State({"links": service, "intake": _Intake(log)}), host="127.0.0.1", port=0,  # type: ignore[arg-type]
                     **options)
    await edge.start()
    try:
        yield edge, log
    finally:
        await edge.stop()
        await service.drain()
        if durable is not None:
            await durable.stop()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def _get(path: str, *headers: bytes, method: bytes = b"GET") -> bytes:
    lines = [method + b" " + path.encode() + b" HTTP/1.1", b"Host: s.example", b"User-Agent: " + IPHONE, *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def _clicks(log_dir: Path) -> list[dict[str, Any]]:
    return [r for _, table, records in iter_entries(log_dir) if table == "touch" for r in records]


def test_each_answer_carries_its_own_headers_whatever_was_rendered_before() -> None:
    date = b"date: Thu, 03 Dec 2026 12:00:00 GMT\r\n"
    shared = {"cache-control": "no-store"}
    first = render(302, shared, b"", date=date, location="https://item.m.jd.com/1")
    other = render(302, {"retry-after": "1"}, b"", date=date, location="https://item.m.jd.com/2")
    again = render(302, shared, b"", date=date, location="https://item.m.jd.com/3", close=True)
    assert first.startswith(b"HTTP/1.1 302 Found\r\ncache-control: no-store\r\ncontent-length: 0\r\n")
    assert b"retry-after: 1\r\n" in other and b"cache-control" not in other
    assert b"cache-control: no-store\r\n" in again and b"connection: close\r\n" in again
    assert b"location: https://item.m.jd.com/3\r\n" in again and first.endswith(date + b"\r\n")


def test_pipelined_requests_are_answered_in_order_each_after_its_click_is_fsynced(tmp_path: Path) -> None:
    async def test() -> None:
        async with _edge(tmp_path) as (edge, log):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(_get("/c/abc?uid=u1") + _get("/nothing") + _get("/c/abc?uid=u2&placement=video"))
            answers = [await _read_response(reader) for _ in range(3)]
            assert [status for status, _, _ in answers] == [302, 404, 302]
            clicks = _clicks(tmp_path / "log")  # read at once: fsynced before the answers went out
            assert log.fsynced_position == 2
            assert [r["user_id"] for r in clicks] == ["u1", "u2"]
            assert [r["placement"] for r in clicks] == ["feed", "feed"]  # the link's fixed placement wins
            for (_, headers, _), click in zip([answers[0], answers[2]], clicks, strict=True):
                sent = json.loads(parse_qs(urlsplit(headers["location"]).query)["params"][0])["sc_cid"]
                assert sent == click["click_id"]
            assert all(h["cache-control"] == "no-store" and "date" in h for _, h, _ in answers)
            writer.close()

    _run(test)


def test_keep_alive_serves_many_requests_on_one_connection_and_close_is_honoured(tmp_path: Path) -> None:
    async def test() -> None:
        async with _edge(tmp_path) as (edge, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            for i in range(20):
                writer.write(_get(f"/c/abc?uid=u{i}"))
                status, _, _ = await _read_response(reader)
                assert status == 302
            writer.write(_get("/c/abc", b"Connection: close"))
            status, headers, _ = await _read_response(reader)
            assert (status, headers["connection"]) == (302, "close")
            assert await reader.read() == b""  # closed by the server
            assert len(_clicks(tmp_path / "log")) == 21

    _run(test)


def test_head_is_a_bot_answered_without_a_body(tmp_path: Path) -> None:
    async def test() -> None:
        async with _edge(tmp_path) as (edge, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(_get("/nothing", method=b"HEAD") + _get("/c/abc", method=b"HEAD"))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 404") and b"content-length: " in head
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 302")
            writer.close()
            await edge.state.services["links"].drain()
            (click,) = _clicks(tmp_path / "log")
            assert (click["is_bot"], click["ua_class"]) == (True, "bot")

    _run(test)


def test_malformed_oversized_and_other_methods_are_refused_clearly(tmp_path: Path) -> None:
    async def ask(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        status, headers, body = await _read_response(reader)
        closed = await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        return status, headers, body, closed

    async def test() -> None:
        async with _edge(tmp_path) as (edge, _):
            status, _, body, closed = await ask(edge.port, b"GARBAGE\r\n\r\n")
            assert (status, closed) == (400, True) and b"malformed" in body
            status, headers, _, _ = await ask(edge.port, _get("/c/abc", b"Connection: close", method=b"POST"))
            assert (status, headers["allow"]) == (405, "GET, HEAD")
            status, _, _, closed = await ask(edge.port, _get("/c/" + "a" * (MAX_URL_BYTES + 1)))
            assert (status, closed) == (414, True)
            status, _, _, closed = await ask(edge.port, _get("/c/abc", b"X-Big: " + b"b" * (MAX_HEADER_BYTES + 1)))
            assert (status, closed) == (431, True)
            assert _clicks(tmp_path / "log") == []  # nothing refused was recorded
            status, _, _, closed = await ask(edge.port, _get("/c/abc", b"Upgrade: websocket", b"Connection: Upgrade"))
            assert (status, closed) == (302, True)  # plain HTTP, then no other protocol on this connection

    _run(test)


def test_a_failure_while_answering_costs_that_answer_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(url: bytes) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(httptools, "parse_url", broken)  # read at run time, compiled or not

    async def test() -> None:
        async with _edge(tmp_path) as (edge, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(_get("/c/abc?uid=u1") + _get("/c/abc"))  # pipelined: the failing one first
            first, second = await _read_response(reader), await _read_response(reader)
            assert first[0] == 500 and b"location" not in first[2]
            assert second[0] == 302 and "sc_cid" in unquote(second[1]["location"])
            writer.close()

    _run(test)


def test_slow_and_idle_connections_are_closed(tmp_path: Path) -> None:
    async def test() -> None:
        async with _edge(tmp_path, keep_alive_s=1.0, request_timeout_s=1.0) as (edge, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(b"GET /c/abc HTTP/1.1\r\nHost: s")  # a request that never finishes
            assert await asyncio.wait_for(reader.read(), 5) == b""
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(_get("/c/abc"))
            assert (await _read_response(reader))[0] == 302
            assert await asyncio.wait_for(reader.read(), 5) == b""  # idle after the answer
            assert edge.status()["connections"] == 0

    _run(test)


def test_too_many_connections_get_503(tmp_path: Path) -> None:
    async def test() -> None:
        async with _edge(tmp_path, max_connections=2) as (edge, _):
            held = [await asyncio.open_connection("127.0.0.1", edge.port) for _ in range(2)]
            await asyncio.sleep(0.05)
            reader, _ = await asyncio.open_connection("127.0.0.1", edge.port)
            status, headers, _ = await _read_response(reader)
            assert (status, headers["retry-after"]) == (503, "1")
            for _, writer in held:
                writer.close()

    _run(test)


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(tmp_path: Path) -> None:
    def ip_hash(ip: str) -> str:
        return hmac.new(KEY, b"ip:" + ip.encode(), hashlib.sha256).hexdigest()[:32]

    async def test() -> None:
        for trusted, expected in ((["127.0.0.1"], "203.0.113.9"), ([], "127.0.0.1")):
            async with _edge(tmp_path / str(bool(trusted)), trusted_proxies=trusted) as (edge, _):
                reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
                writer.write(_get("/c/abc", b"X-Forwarded-For: 198.51.100.1, 203.0.113.9"))
                assert (await _read_response(reader))[0] == 302
                writer.close()
            (click,) = _clicks(tmp_path / str(bool(trusted)) / "log")
            assert click["ip_hash"] == ip_hash(expected)

    _run(test)


def test_a_full_log_answers_503_with_retry_after_and_never_redirects(tmp_path: Path) -> None:
    class FullLog:
        def append_soon(self, table: str, records: list[dict[str, Any]], done: Done) -> None:
            raise Backpressure("the intake log queue is full", retry_after=2.0)

    async def test() -> None:
        async with _edge(tmp_path, log=FullLog()) as (edge, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(_get("/c/abc") + _get("/c/abc"))
            for _ in range(2):
                status, headers, body = await _read_response(reader)
                assert (status, headers["retry-after"]) == (503, "2") and "location" not in headers
                assert b"full" in body
            writer.write(_get("/healthz"))
            assert (await _read_response(reader))[0] == 200  # the edge itself is fine
            writer.close()

    _run(test)
