"""The site: the seedcart API plus the dashboard pages and their static assets, in one app.

``build_site(settings)`` is what ``seedcart demo`` and ``seedcart serve`` run. Everything works
offline: the chart library is plotly.js from the ``plotly`` wheel's package data, served locally.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from seedcart.catalog.keys import Principal
from seedcart.config import Settings, load_settings
from seedcart.dashboard.i18n import LANG_COOKIE, LANGS, pick_lang
from seedcart.dashboard.pages import render_page, render_sign_in
from seedcart.errors import MissingDependency
from seedcart.serve.app import create_app
from seedcart.serve.auth import optional_principal
from seedcart.serve.routers.session import SIGN_IN_ROLES, describe
from seedcart.serve.state import AppState, app_state

STATIC_DIR = Path(__file__).parent / "static"
_CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal | None, Depends(optional_principal)]
State = Annotated[AppState, Depends(app_state)]


def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the ``plotly`` wheel."""
    try:
        path = Path(str(importlib.resources.files("plotly") / "package_data" / "plotly.min.js"))
    except ModuleNotFoundError as exc:
        raise MissingDependency("plotly", "dashboard") from exc
    if not path.is_file():
        raise MissingDependency("plotly", "dashboard")
    return path


def _page(request: Request, principal: Principal | None, state: AppState, page: str,
          note_id: str | None = None) -> Response:
    lang = pick_lang(request)
    if principal is None or principal.role not in SIGN_IN_ROLES:
        if page != "overview":
            return RedirectResponse("/", status_code=303)
        body = render_sign_in(lang, error=request.query_params.get("error") == "key")
        response: Response = HTMLResponse(body, status_code=200)
    else:
        response = HTMLResponse(render_page(page, lang, describe(principal, state), path=request.url.path,
                                            note_id=note_id))
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/")
def overview(request: Request, principal: Viewer, state: State) -> Response:
    """Today's live counters and the period's totals; the sign-in page when signed out."""
    return _page(request, principal, state, "overview")


@router.get("/notes")
def notes_page(request: Request, principal: Viewer, state: State) -> Response:
    """The full-link note table."""
    return _page(request, principal, state, "notes")


@router.get("/notes/{note_id}")
def note_page(note_id: str, request: Request, principal: Viewer, state: State) -> Response:
    """One note: funnel, trend, lag histogram, ROI(T+x) and paths."""
    return _page(request, principal, state, "note", note_id=note_id)


@router.get("/breakdowns")
def breakdowns_page(request: Request, principal: Viewer, state: State) -> Response:
    """Campaign, placement, mode, partner and day breakdowns."""
    return _page(request, principal, state, "breakdowns")


@router.get("/models")
def models_page(request: Request, principal: Viewer, state: State) -> Response:
    """The attribution models side by side."""
    return _page(request, principal, state, "models")


@router.get("/static/vendor/plotly.min.js")
def plotly_bundle() -> FileResponse:
    """plotly.js, from the local wheel: the dashboard needs no CDN."""
    return FileResponse(plotly_js(), media_type="text/javascript", headers=_CACHE)


def mount_dashboard(app: FastAPI) -> FastAPI:
    """Add the dashboard pages and static files to an app made by ``create_app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    return app


def build_site(settings: Settings | None = None, *, services: bool = True) -> FastAPI:
    """The API and the dashboard in one app: ``uvicorn.run(build_site(settings))``."""
    return mount_dashboard(create_app(settings or load_settings(), services=services))
