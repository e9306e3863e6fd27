"""The click redirect ``GET|HEAD /c/{code}`` (logic in ``seedcart.collect.redirect``).

The hot path is ``ClickFastAPI``, the app class ``create_app`` builds: its ``__call__`` hands
``GET|HEAD /c/{code}`` to ``click_asgi`` before FastAPI's own entry (its telemetry check),
Starlette's middleware stack, routing and dependency solving run; everything else goes the usual
way. ``click_asgi`` builds no Request, parses the query only when there is one and sends
pre-encoded header names. The FastAPI route below answers the same way for an app of another
class, and documents the endpoint.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from seedcart.collect.redirect import Answer, error_answer, not_found_page, running
from seedcart.errors import SeedcartError
from seedcart.serve.state import AppState

router = APIRouter(tags=["redirect"])

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PREFIX = "/c/"


async def answer_click(state: AppState, code: str, *, method: str, ip: str, user_agent: str,
                       referrer: str | None, query: dict[str, str]) -> Answer:
    """The answer to one click on ``code`` (404 page for a malformed or unknown code)."""
    if not _CODE.match(code):
        return not_found_page()
    service, log = running(state.services)
    return await service.handle_click(log, code, method=method, ip=ip,
                                      user_agent=user_agent, referrer=referrer, user_id=query.get("uid"),
                                      placement=query.get("placement"))


def _response(answer: Answer, method: str) -> Response:
    body = b"" if method == "HEAD" else answer.body.encode()
    return Response(body, status_code=answer.status, headers=answer.all_headers())


@router.api_route("/c/{code}", methods=["GET", "HEAD"], include_in_schema=False)
async def click(code: str, request: Request) -> Response:
    """Record the click durably, then send the agent to the partner (302) or a landing page."""
    state: AppState = request.app.state.seedcart
    answer = await answer_click(
        state, code, method=request.method, ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""), referrer=request.headers.get("referer"),
        query=dict(request.query_params),
    )
    return _response(answer, request.method)


class ClickFastAPI(FastAPI):
    """A FastAPI app answering ``GET|HEAD /c/{code}`` with ``click_asgi`` before its own stack."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_PREFIX) and scope["method"] in _METHODS:
            state: AppState | None = getattr(self.state, "seedcart", None)
            if state is not None:
                await click_asgi(state, scope, send)
                return
        await super().__call__(scope, receive, send)


_METHODS = frozenset({"GET", "HEAD"})
_HEADER_NAMES: dict[str, bytes] = {}


async def click_asgi(state: AppState, scope: Scope, send: Send) -> None:
    """Answer one ``GET|HEAD /c/{code}`` ASGI request: the same answer as the route, less work."""
    method: str = scope["method"]
    user_agent = ""
    referrer: str | None = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name == b"referer":
            referrer = value.decode("latin-1")
    raw_query: bytes = scope.get("query_string", b"")
    query = {k: v[0] for k, v in parse_qs(raw_query.decode("latin-1")).items()} if raw_query else {}
    client = scope.get("client")
    try:
        answer = await answer_click(state, scope["path"][len(_PREFIX):], method=method,
                                    ip=client[0] if client else "", user_agent=user_agent, referrer=referrer,
                                    query=query)
    except SeedcartError as exc:
        answer = error_answer(exc)
    body = answer.body.encode() if answer.body else b""
    headers = [(_header_name(k), v.encode("latin-1")) for k, v in answer.all_headers().items()]
    headers.append((b"content-length", str(len(body)).encode()))  # HEAD: the length GET would send
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def _header_name(name: str) -> bytes:
    found = _HEADER_NAMES.get(name)
    if found is None:
        found = _HEADER_NAMES[name] = name.encode("latin-1")
    return found
