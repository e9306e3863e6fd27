"""Campaigns: a brand's paid push of notes to one partner, in UD or CID mode."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from seedcart.catalog import _checks as check
from seedcart.catalog.brands import get_brand
from seedcart.catalog.models import Campaign, Partner
from seedcart.catalog.partners import admits_brand, get_partner
from seedcart.errors import Forbidden, ValidationError
from seedcart.types import BID_TYPES, CAMPAIGN_MODES, PLACEMENTS

CampaignStatus = Literal["active", "paused", "ended"]
CAMPAIGN_STATUSES: Final[tuple[CampaignStatus, ...]] = get_args(CampaignStatus)

#: Fields :func:`update_campaign` may change; brand, partner and mode are fixed at creation.
UPDATABLE: Final = ("name", "placements", "bid_type", "bid_price", "budget", "start_at", "end_at",
                    "holdout_fraction", "status")


def _placements(partner: Partner, mode: str, placements: Iterable[str]) -> list[str]:
    chosen = check.choices(placements, PLACEMENTS, "placements")
    if not chosen:
        raise ValidationError("placements must name at least one of search, feed, video", field="placements")
    if mode == "UD":
        refused = [p for p in chosen if p not in partner.ud_placements]
        if refused:
            raise ValidationError(f"{partner.id} does not run UD campaigns on {', '.join(refused)} "
                                  f"(allowed: {', '.join(partner.ud_placements) or 'none'})", field="placements")
    return chosen


def _check(campaign: Campaign, partner: Partner) -> None:
    """Validate a campaign's fields together (every refusal names its field)."""
    campaign.name = check.text(campaign.name, "name", max_len=200, required=False)
    campaign.placements = _placements(partner, campaign.mode, campaign.placements)
    check.choice(campaign.bid_type, BID_TYPES, "bid_type")
    check.integer(campaign.bid_price, "bid_price", minimum=1)
    check.integer(campaign.budget, "budget", minimum=0)
    check.aware(campaign.start_at, "start_at")
    if campaign.end_at is not None and check.aware(campaign.end_at, "end_at") <= campaign.start_at:
        raise ValidationError("end_at must be after start_at", field="end_at")
    campaign.holdout_fraction = check.fraction(campaign.holdout_fraction, "holdout_fraction", low=0.0, high=0.99)
    check.choice(campaign.status, CAMPAIGN_STATUSES, "status")


def create_campaign(session: Session, *, brand_id: int, partner_id: str, mode: str, bid_type: str,
                    bid_price: int, start_at: datetime, placements: Iterable[str] = ("feed",), name: str = "",
                    budget: int = 0, end_at: datetime | None = None, holdout_fraction: float = 0.0,
                    status: str = "active") -> Campaign:
    """A new campaign. Forbidden when the partner's pilot list does not admit the brand."""
    brand = get_brand(session, brand_id)
    partner = get_partner(session, partner_id)
    check.choice(mode, CAMPAIGN_MODES, "mode")
    if not admits_brand(partner, brand.id):
        raise Forbidden(f"{partner_id} is in pilot and has not admitted brand {brand.id}", field="partner_id",
                        brand_id=brand.id, partner_id=partner_id)
    campaign = Campaign(brand_id=brand.id, partner_id=partner.id, mode=mode, bid_type=bid_type,
                        bid_price=bid_price, start_at=start_at, placements=list(placements), name=name,
                        budget=budget, end_at=end_at, holdout_fraction=holdout_fraction, status=status)
    _check(campaign, partner)
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign, or NotFound."""
    return check.require(session, Campaign, check.integer(campaign_id, "campaign_id"), "campaign_id")


def list_campaigns(session: Session, *, brand_id: int | None = None, partner_id: str | None = None,
                   status: str | None = None) -> list[Campaign]:
    """Campaigns, optionally of one brand, one partner and/or one status, by id."""
    query = select(Campaign).order_by(Campaign.id)
    if brand_id is not None:
        query = query.where(Campaign.brand_id == brand_id)
    if partner_id is not None:
        query = query.where(Campaign.partner_id == partner_id)
    if status is not None:
        query = query.where(Campaign.status == check.choice(status, CAMPAIGN_STATUSES, "status"))
    return list(session.scalars(query))


def update_campaign(session: Session, campaign_id: int, **changes: Any) -> Campaign:
    """Change the given fields (see ``UPDATABLE``); the campaign is validated as a whole.

    Nothing is changed when any field is refused.
    """
    campaign = get_campaign(session, campaign_id)
    for key in changes:
        if key not in UPDATABLE:
            raise ValidationError(f"{key} cannot be changed (changeable: {', '.join(UPDATABLE)})", field=key)
    before = {key: getattr(campaign, key) for key in UPDATABLE}
    for key, value in changes.items():
        setattr(campaign, key, list(value) if key == "placements" else value)
    try:
        with session.no_autoflush:
            _check(campaign, get_partner(session, campaign.partner_id))
    except ValidationError:
        for key, value in before.items():
            setattr(campaign, key, value)
        raise
    session.flush()
    return campaign
