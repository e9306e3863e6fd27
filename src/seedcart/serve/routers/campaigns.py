"""Campaigns: ``/v1/campaigns``. CID campaigns are the brand's; UD campaigns are managed with the
partner's key and read-only to the brand (rules in ``seedcart.links.campaigns``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from seedcart.catalog.keys import Principal
from seedcart.links.campaigns import campaign_view, create_for, get_for, list_for, update_for
from seedcart.serve.auth import require
from seedcart.serve.state import AppState, app_state
from seedcart.types import BidType, CampaignMode, Partner, Placement

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

Caller = Annotated[Principal, Depends(require("admin", "brand", "partner"))]
State = Annotated[AppState, Depends(app_state)]


def _feed() -> list[Placement]:
    return ["feed"]


class CampaignIn(BaseModel):
    """A campaign to create. A brand key's brand and a partner key's partner are implied."""

    mode: CampaignMode = Field(description="CID (run by the brand) or UD (managed by the partner).")
    brand_id: int | None = Field(default=None, description="Required for partner and admin keys.")
    partner_id: Partner | None = Field(default=None, description="Required for brand and admin keys.")
    name: str = Field(default="", description="A label.")
    placements: list[Placement] = Field(default_factory=_feed, description="search, feed, video.")
    bid_type: BidType = Field(description="CPM or CPC.")
    bid_price: int = Field(description="Minor units per 1000 impressions (CPM) or per click (CPC).")
    budget: int = Field(default=0, description="Minor units.")
    start_at: datetime = Field(description="When the campaign starts (with a time zone).")
    end_at: datetime | None = Field(default=None, description="When it ends; open-ended when null.")
    holdout_fraction: float = Field(default=0.0, description="Share of the audience held out for lift.")


class CampaignPatch(BaseModel):
    """Fields to change; brand, partner and mode are fixed."""

    name: str | None = None
    placements: list[Placement] | None = None
    bid_type: BidType | None = None
    bid_price: int | None = None
    budget: int | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    holdout_fraction: float | None = None
    status: str | None = Field(default=None, description="active, paused or ended.")


@router.post("", status_code=201, summary="Create a campaign")
def create(body: CampaignIn, principal: Caller, state: State) -> dict[str, Any]:
    """Brands create CID campaigns, partners UD campaigns for a brand."""
    with state.catalog.session() as session:
        return campaign_view(create_for(session, principal, body.model_dump()), principal)


@router.get("", summary="The caller's campaigns")
def index(principal: Caller, state: State) -> list[dict[str, Any]]:
    """A brand's own; a partner's on itself; all for admin."""
    with state.catalog.session() as session:
        return [campaign_view(c, principal) for c in list_for(session, principal)]


@router.get("/{campaign_id}", summary="One campaign")
def read(campaign_id: int, principal: Caller, state: State) -> dict[str, Any]:
    """404 when the caller may not see it."""
    with state.catalog.session() as session:
        return campaign_view(get_for(session, principal, campaign_id), principal)


@router.patch("/{campaign_id}", summary="Change a campaign")
def update(campaign_id: int, body: CampaignPatch, principal: Caller, state: State) -> dict[str, Any]:
    """403 when the caller sees it read-only (a brand on a UD campaign, a partner on a CID one)."""
    with state.catalog.session() as session:
        changes = body.model_dump(exclude_unset=True)
        return campaign_view(update_for(session, principal, campaign_id, changes), principal)
