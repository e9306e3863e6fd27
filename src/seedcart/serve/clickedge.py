"""The click edge: a lean HTTP/1.1 listener that serves only the short links ``GET|HEAD /c/{code}``.

Short links live on their own host in production (the way a platform's short-link domain is not
its API's), so the hot path needs no web framework. When ``serve.click_port`` is set, the app
(``seedcart.serve.app``) starts this listener on that port beside the API, in the same process and
event loop, sharing the links service (link cache, click recorder) and the intake's durable log;
the API keeps answering ``/c/{code}`` too, the same way (``seedcart.serve.routers.redirect``).
This module is compiled with mypyc when built (``seedcart.native``): no async generators here, and
a value whose stub is wrong is read through ``Any`` (compiled code checks declared types).

Per request it parses with ``httptools`` straight from the socket's bytes, calls
``RedirectService.begin_click`` (the same decision and the same record as the API's route) and
writes the answer from a callback on the click's durable future: nothing is sent before the
click is fsynced (DESIGN §4), and no task is created per request.

What a hostile or broken client meets:

- a malformed request line or header block: 400, and the connection is closed; a request to
  upgrade the protocol is answered as plain HTTP, then the connection is closed;
- a URL longer than 8 KiB: 414; more than 16 KiB of headers: 431; a body over 64 KiB: 413;
- a method other than GET or HEAD: 405 with ``Allow``; another path: 404 (``/healthz`` answers 200);
- a request not complete within ``request_timeout_s``, or a keep-alive connection idle for
  ``keep_alive_s``: the connection is closed (checked once a second for every connection);
- more than ``max_connections`` open: 503 and close;
- pipelined requests are answered in order; a connection with 64 answers outstanding, or whose
  peer stops reading, is not read from until it drains.

The client address is the peer's, or, when the peer is one of ``trusted_proxies``, the
right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote_plus

import httptools
import orjson

from seedcart.collect.redirect import Answer, error_answer, not_found_page, running
from seedcart.serve.state import AppState

logger = logging.getLogger(__name__)

MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_OUTSTANDING = 64
_PREFIX = b"/c/"
_JSON = {"content-type": "application/json"}  # shared by answers: never mutated (see Answer)
_NOT_ALLOWED = {"allow": "GET, HEAD", **_JSON}


class _TooLarge(Exception):
    """Raised from a parser callback; the status to answer is on the connection."""


#: The fixed part of answers (status line, every header but location and date), by what decides it.
#: Keyed by the headers dict's identity, kept beside it so that a reused id never matches: the
#: redirect hands every 302 the same dict, and hashing its items on every click would cost more.
_HEADS: dict[tuple[int, int, int, bool], tuple[dict[str, str], bytes]] = {}


def _head(status: int, headers: dict[str, str], length: int, close: bool) -> bytes:
    key = (status, id(headers), length, close)
    found = _HEADS.get(key)
    if found is not None and found[0] is headers:
        return found[1]
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())]
    lines += [b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    lines.append(b"content-length: %d\r\n" % length)
    if close:
        lines.append(b"connection: close\r\n")
    head = b"".join(lines)
    if len(_HEADS) >= 1024:
        _HEADS.clear()
    _HEADS[key] = (headers, head)
    return head


def render(status: int, headers: dict[str, str], body: bytes, *, date: bytes, location: str | None = None,
           head_only: bool = False, close: bool = False) -> bytes:
    """One HTTP/1.1 response as bytes (``head_only``: HEAD, the length GET would send, no body)."""
    head = _head(status, headers, len(body), close)
    where = b"" if location is None else b"location: %s\r\n" % location.encode("latin-1")
    return b"".join((head, where, date, b"\r\n", b"" if head_only else body))


class ClickEdge:
    """The listener and its connections (see the module docstring)."""

    def __init__(self, state: AppState, *, host: str, port: int, keep_alive_s: float = 5.0,
                 request_timeout_s: float = 10.0, max_connections: int = 10_000,
                 trusted_proxies: Iterable[str] = ()) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.keep_alive_s = keep_alive_s
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self.trusted_proxies = frozenset(trusted_proxies)
        self.connections: set[_Connection] = set()
        self.now = 0.0
        self.date = b""
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.TimerHandle | None = None

    @property
    def url(self) -> str:
        """The base URL of the short links this edge serves."""
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start accepting (``port=0`` picks a free port, then kept in ``self.port``)."""
        loop = asyncio.get_running_loop()
        self._tick()
        server: Any = await loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=4096)
        self._server = server
        # read through Any: uvloop's ``sockets`` is a list where typeshed says tuple, and the compiled
        # module (seedcart.native) checks declared types at run time
        self.port = int(server.sockets[0].getsockname()[1])
        logger.info("click edge listening on %s:%d", self.host, self.port)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let answers in flight go out (at most ``grace_s``), close every connection."""
        if self._server is not None:
            self._server.close()
        deadline = asyncio.get_running_loop().time() + grace_s
        while any(c.outstanding for c in self.connections) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            connection.close()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def status(self) -> dict[str, Any]:
        """For /healthz."""
        return {"port": self.port, "connections": len(self.connections), "requests": self.requests}

    def _tick(self) -> None:
        """Once a second: the Date header, and closing connections past their deadline."""
        loop = asyncio.get_running_loop()
        self.now = loop.time()
        self.date = b"date: %s\r\n" % email.utils.formatdate(usegmt=True).encode()
        for connection in [c for c in self.connections if c.deadline < self.now and not c.outstanding]:
            connection.close()
        self._ticker = loop.call_later(1.0, self._tick)

    def client_ip(self, peer: str, forwarded: bytes | None) -> str:
        """The client's address (see the module docstring)."""
        if forwarded is None or peer not in self.trusted_proxies:
            return peer
        for raw in reversed(forwarded.decode("latin-1").split(",")):
            hop = raw.strip()
            if hop and hop not in self.trusted_proxies:
                return hop[:64]
        return peer


class _Connection(asyncio.Protocol):
    """One client connection: parse, dispatch, answer in order."""

    def __init__(self, edge: ClickEdge) -> None:
        self.edge = edge
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.url = b""
        self.user_agent = ""
        self.referrer: str | None = None
        self.forwarded: bytes | None = None
        self.header_bytes = 0
        self.body_bytes = 0
        self.too_large = 0
        self.deadline = 0.0
        self.outstanding = 0  # answers not yet written
        self.answers: deque[list[Any]] = deque()  # [bytes | None, close after]
        self.paused = False
        self.write_paused = False
        self.broken = False  # the parser failed: nothing more is read from this connection

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        edge = self.edge
        if len(edge.connections) >= edge.max_connections:
            transport.write(render(503, {"retry-after": "1"}, b"", date=edge.date, close=True))
            transport.close()
            return
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        self.deadline = edge.now + edge.keep_alive_s
        edge.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.edge.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # answered as plain HTTP (RFC 9110 lets a server ignore
            self._stop_after_answers()        # Upgrade); what follows is another protocol: close after
        except httptools.HttpParserError:
            if self.too_large:
                self._refuse(self.too_large, HTTPStatus(self.too_large).phrase.lower())
            else:
                self._refuse(400, "malformed request")

    def pause_writing(self) -> None:
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._flow()

    # -- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.user_agent = ""
        self.referrer = None
        self.forwarded = None
        self.header_bytes = 0
        self.body_bytes = 0
        self.deadline = self.edge.now + self.edge.request_timeout_s

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL_BYTES:
            self.too_large = 414
            raise _TooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > MAX_HEADER_BYTES:
            self.too_large = 431
            raise _TooLarge
        lowered = name.lower()
        if lowered == b"user-agent":
            self.user_agent = value.decode("latin-1")
        elif lowered == b"referer":
            self.referrer = value.decode("latin-1")
        elif lowered == b"x-forwarded-for":
            self.forwarded = value if self.forwarded is None else self.forwarded + b"," + value

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > MAX_BODY_BYTES:
            self.too_large = 413
            raise _TooLarge

    def on_message_complete(self) -> None:
        self.edge.requests += 1
        method = self.parser.get_method()
        close = not self.parser.should_keep_alive()
        slot: list[Any] = [None, close]
        self.answers.append(slot)
        self.outstanding += 1
        head_only = method == b"HEAD"
        if method != b"GET" and not head_only:
            self._fill(slot, Answer(405, _NOT_ALLOWED, '{"error":"method not allowed"}'), False)
        else:
            try:
                self._dispatch(slot, head_only)
            except Exception as exc:  # a bug costs this answer (500), never the answers queued behind it
                if slot[0] is None:
                    self._fill(slot, error_answer(exc), head_only)
        if self.outstanding >= MAX_OUTSTANDING:
            self._flow()

    # -- answering -----------------------------------------------------------------------------

    def _dispatch(self, slot: list[Any], head_only: bool) -> None:
        raw = self.url
        if raw.startswith(_PREFIX) and b"?" not in raw and b"#" not in raw:
            path, query_bytes = raw, None  # the usual short link: nothing for parse_url to split
        else:
            try:
                url: Any = httptools.parse_url(raw)  # Any: its stub says bytes where an absent query is None
            except httptools.HttpParserInvalidURLError:
                self._fill(slot, not_found_page(), head_only)
                return
            path, query_bytes = url.path, url.query
        if not path.startswith(_PREFIX):
            if path == b"/healthz":
                self._fill(slot, Answer(200, _JSON, orjson.dumps({"status": "ok", **self.edge.status()})
                                        .decode()), head_only)
            else:
                self._fill(slot, not_found_page(), head_only)
            return
        user_id = placement = None
        if query_bytes:
            query: dict[bytes, str] = {}
            for pair in query_bytes.split(b"&"):
                key, _, value = pair.partition(b"=")
                if key in (b"uid", b"placement") and key not in query:
                    query[key] = unquote_plus(value.decode("latin-1"))
            user_id, placement = query.get(b"uid"), query.get(b"placement")
        try:
            service, log = running(self.edge.state.services)
            answer, waiting = service.begin_click(
                log, path[len(_PREFIX):].decode("latin-1"), lambda error: self._settled(slot, answer, head_only, error),
                method="HEAD" if head_only else "GET", ip=self.edge.client_ip(self.peer, self.forwarded),
                user_agent=self.user_agent, referrer=self.referrer, user_id=user_id, placement=placement)
        except Exception as exc:  # every failure is an answer, never a dropped connection
            self._fill(slot, error_answer(exc), head_only)
            return
        if not waiting:
            self._fill(slot, answer, head_only)

    def _settled(self, slot: list[Any], answer: Answer, head_only: bool, error: BaseException | None) -> None:
        self._fill(slot, answer if error is None else error_answer(error), head_only)
        if self.paused:
            self._flow()

    def _fill(self, slot: list[Any], answer: Answer, head_only: bool) -> None:
        slot[0] = render(answer.status, answer.headers, answer.body.encode(), date=self.edge.date,
                         location=answer.location, head_only=head_only, close=slot[1])
        answers = self.answers
        transport = self.transport
        while answers and answers[0][0] is not None:
            data, close = answers.popleft()
            self.outstanding -= 1
            if transport is None:
                continue
            transport.write(data)
            if close:
                transport.close()
                self.transport = None
                transport = None
        if not self.outstanding:
            self.deadline = self.edge.now + self.edge.keep_alive_s

    def _flow(self) -> None:
        """Stop reading while the peer is not reading or too many answers are outstanding."""
        transport = self.transport
        if transport is None:
            return
        should_pause = self.write_paused or self.outstanding >= MAX_OUTSTANDING
        if should_pause and not self.paused:
            transport.pause_reading()
            self.paused = True
        elif not should_pause and self.paused:
            transport.resume_reading()
            self.paused = False

    def _refuse(self, status: int, reason: str) -> None:
        """Answer a request that cannot be parsed or is too large, then close (after earlier answers)."""
        self.broken = True
        if self.transport is not None:
            self.transport.pause_reading()
        body = orjson.dumps({"error": reason})
        slot: list[Any] = [None, True]
        self.answers.append(slot)
        self.outstanding += 1
        self._fill(slot, Answer(status, _JSON, body.decode()), False)

    def _stop_after_answers(self) -> None:
        self.broken = True
        if self.transport is None:
            return
        self.transport.pause_reading()
        if self.answers:
            self.answers[-1][1] = True  # rendered when filled: with "connection: close", then closed
        else:
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
