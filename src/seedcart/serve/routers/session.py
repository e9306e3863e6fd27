"""Dashboard sessions: sign in with a key (then a signed cookie), see who you are, sign out.

Only admin, brand and partner keys may sign in; source keys post events and read nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from seedcart.catalog.keys import Principal
from seedcart.catalog.models import Brand
from seedcart.serve.auth import SESSION_COOKIE, SESSION_TTL_S, current_principal, principal_for_key, sign_session
from seedcart.serve.state import AppState, app_state

router = APIRouter(prefix="/v1/session", tags=["session"])

SIGN_IN_ROLES = ("admin", "brand", "partner")


def describe(principal: Principal, state: AppState) -> dict[str, Any]:
    """What the dashboard shows about the signed-in key."""
    out: dict[str, Any] = {"role": principal.role, "brand_id": principal.brand_id,
                           "partner_id": principal.partner_id}
    if principal.brand_id is not None:
        with state.catalog.session() as session:
            brand = session.get(Brand, principal.brand_id)
            out["brand_name"] = brand.name if brand else None
    return out


async def _presented(request: Request) -> tuple[str, str | None]:
    """The key in a JSON or form body, and (forms only) where to go afterwards."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HTTPException(422, detail={"error": "expected a JSON object with a key", "field": "key"})
        return str(body.get("key") or ""), None
    form = await request.form()
    target = str(form.get("next") or "/")
    return str(form.get("key") or ""), target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("", summary="Sign in with an API key; sets the session cookie")
async def sign_in(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Response:
    """Body: JSON ``{"key": ...}`` (answers the principal) or a form with ``key`` and ``next`` (redirects)."""
    key, target = await _presented(request)
    if not key:
        raise HTTPException(422, detail={"error": "key is required", "field": "key"})
    principal = principal_for_key(state, key.strip())
    if principal is None or principal.role not in SIGN_IN_ROLES:
        if target is not None:
            return RedirectResponse("/?error=key", status_code=303)
        raise HTTPException(401, detail={"error": "unknown, revoked or non-reading key", "field": "key"})
    response: Response = (RedirectResponse(target, status_code=303) if target is not None
                          else JSONResponse(describe(principal, state)))
    response.set_cookie(SESSION_COOKIE, sign_session(state, principal.key_id), max_age=SESSION_TTL_S,
                        httponly=True, samesite="lax", path="/",
                        secure=state.settings.serve.public_url.startswith("https://"))
    return response


@router.get("", summary="Who is signed in")
def whoami(principal: Annotated[Principal, Depends(current_principal)],
           state: Annotated[AppState, Depends(app_state)]) -> dict[str, Any]:
    """The role and scope of the session (or key) presented."""
    return describe(principal, state)


@router.delete("", summary="Sign out")
def sign_out() -> Response:
    """Clear the session cookie."""
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/logout", summary="Sign out (form) and go to the sign-in page")
def sign_out_form() -> Response:
    """Clear the session cookie and redirect to ``/``."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
