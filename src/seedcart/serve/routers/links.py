"""Ad links: ``/v1/links`` — create (note + product + campaign -> short code), read, deactivate,
and ``/v1/links/parse`` to check what a pasted partner URL is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from seedcart.catalog.keys import Principal
from seedcart.links.cache import cached
from seedcart.links.create import create_ad_link, deactivate, link_view, visible_link, visible_links
from seedcart.links.partners import describe, parse_url
from seedcart.serve.auth import current_principal, require
from seedcart.serve.state import AppState, app_state, short_link_base
from seedcart.types import Placement

router = APIRouter(prefix="/v1/links", tags=["links"])

Linker = Annotated[Principal, Depends(require("admin", "brand", "partner"))]
State = Annotated[AppState, Depends(app_state)]


class AdLinkIn(BaseModel):
    """An ad link to create."""

    note_id: str = Field(description="The ad note the link goes under.")
    product_id: int = Field(description="The catalog product the link leads to.")
    campaign_id: int = Field(description="The campaign the link belongs to.")
    placement: Placement | None = Field(default=None, description="search, feed or video.")


class ParseIn(BaseModel):
    """A URL to parse."""

    url: str = Field(description="What a user pasted.")


def _cache(state: AppState) -> Any:
    service = state.services.get("links")
    return None if service is None else service.cache


@router.post("", status_code=201, summary="Create an ad link (short code and short URL)")
def create(body: AdLinkIn, principal: Linker, state: State) -> dict[str, Any]:
    """Refused with 422 naming the policy rule, 403/404 outside the caller's scope."""
    with state.catalog.session() as session:
        link, entry = create_ad_link(session, principal, note_id=body.note_id, product_id=body.product_id,
                                     campaign_id=body.campaign_id, placement=body.placement)
        view = link_view(link, short_link_base(state), entry)
    cache = _cache(state)
    if cache is not None:
        cache.put(entry)
    return view


@router.post("/parse", summary="What a pasted partner URL is, and where its links go")
def parse(body: ParseIn, principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
    """422 with the refusing rule for hostile or unknown URLs."""
    return describe(parse_url(body.url))


@router.get("", summary="The caller's links")
def index(principal: Linker, state: State, note_id: str | None = None, campaign_id: int | None = None,
          active: bool | None = None) -> list[dict[str, Any]]:
    """Links to the caller's products (brand) or to products on the caller (partner), filtered."""
    with state.catalog.session() as session:
        return [link_view(link, short_link_base(state), cached(link, product))
                for link, product in visible_links(session, principal, note_id=note_id, campaign_id=campaign_id,
                                                   active=active)]


@router.get("/{code}", summary="One link")
def read(code: str, principal: Linker, state: State) -> dict[str, Any]:
    """The link if the caller's brand or partner owns its product."""
    with state.catalog.session() as session:
        link, product = visible_link(session, principal, code)
        return link_view(link, short_link_base(state), cached(link, product))


@router.delete("/{code}", summary="Deactivate a link")
def remove(code: str, principal: Linker, state: State) -> dict[str, Any]:
    """The link stops redirecting at once; its clicks stay."""
    with state.catalog.session() as session:
        link = deactivate(session, principal, code)
        view = link_view(link, short_link_base(state))
    cache = _cache(state)
    if cache is not None:
        cache.drop(code)
    return view
