"""Authentication and tenancy for every router.

A key arrives as ``Authorization: Bearer <key>``, as HTTP Basic with the key as user name
(Segment's ``writeKey:``), or as the dashboard's signed session cookie. Lookups are cached for a
few seconds so the hot paths do not wait on the catalog on every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select

from seedcart.catalog.keys import Principal, authenticate
from seedcart.catalog.models import ApiKey
from seedcart.serve.state import AppState, app_state
from seedcart.types import Role

SESSION_COOKIE = "seedcart_session"
SESSION_TTL_S = 12 * 3600
_CACHE_TTL_S = 5.0
_CACHE_MAX = 10_000


class _KeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, state: AppState, key: str) -> Principal | None:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < _CACHE_TTL_S:
            return hit[1]
        with state.catalog.session() as session:
            principal = authenticate(session, key)
        if len(self._entries) >= _CACHE_MAX:
            self._entries.clear()
        self._entries[key] = (now, principal)
        return principal


def _key_cache(state: AppState) -> _KeyCache:
    cache = state.services.get("auth.key_cache")
    if cache is None:
        cache = state.services["auth.key_cache"] = _KeyCache()
    return cache


def presented_key(request: Request) -> str | None:
    """The key in the Authorization header (Bearer, or Basic user name), if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def principal_for_key(state: AppState, key: str) -> Principal | None:
    """The principal of ``key`` through the short-lived cache."""
    return _key_cache(state).get(state, key)


def sign_session(state: AppState, key_id: int, now: float | None = None) -> str:
    """A cookie value naming ``key_id`` until it expires, signed with the data dir's session key."""
    expires = int((now or time.time()) + SESSION_TTL_S)
    body = f"{key_id}.{expires}"
    mac = hmac.new(state.settings.session_key(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def session_principal(state: AppState, cookie: str) -> Principal | None:
    """The principal of a valid, unexpired session cookie whose key is still live."""
    body, _, mac = cookie.rpartition(".")
    expected = hmac.new(state.settings.session_key(), body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac, expected):
        return None
    key_id_s, _, expires_s = body.partition(".")
    if not key_id_s.isdigit() or not expires_s.isdigit() or int(expires_s) < time.time():
        return None
    with state.catalog.session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.id == int(key_id_s))).first()
        if row is None or row.revoked_at is not None:
            return None
        return Principal(key_id=row.id, role=row.role,  # type: ignore[arg-type]
                         brand_id=row.brand_id, partner_id=row.partner_id)


def optional_principal(request: Request,
                       state: Annotated[AppState, Depends(app_state)]) -> Principal | None:
    """The caller, or None when no valid credential was presented."""
    key = presented_key(request)
    if key is not None:
        return principal_for_key(state, key)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return session_principal(state, cookie)
    return None


def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The caller; 401 when no valid key or session was presented."""
    if principal is None:
        raise HTTPException(status_code=401, detail={"error": "a valid API key is required",
                                                     "field": "authorization"},
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only callers whose role is one of ``roles`` (403 otherwise)."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status_code=403, detail={
                "error": f"this needs a key with role {' or '.join(roles)}; yours is {principal.role}",
                "field": "authorization"})
        return principal

    return check
