"""Who may do what with a campaign (DESIGN §1: UD vs CID), over ``seedcart.catalog.campaigns``.

- ``CID``: run by the brand: a brand key creates and edits its own; placements search, feed, video.
- ``UD``: created and managed with the partner's key on the brand's behalf; the brand sees it
  read-only; placements as the partner's ``ud_placements`` allow (checked by the catalog).
- A brand sees only its campaigns, a partner only campaigns on itself; anything else is
  NotFound, so ids of others' campaigns are not revealed. An admin key may do anything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from seedcart.catalog.campaigns import create_campaign, get_campaign, list_campaigns, update_campaign
from seedcart.catalog.keys import Principal
from seedcart.catalog.models import Campaign
from seedcart.errors import Forbidden, NotFound, ValidationError


def create_for(session: Session, principal: Principal, fields: dict[str, Any]) -> Campaign:
    """Create a campaign as ``principal``: brands create CID ones, partners UD ones."""
    values = dict(fields)
    mode = values.get("mode")
    if principal.role == "brand":
        if mode != "CID":
            raise Forbidden("a brand key creates CID campaigns only; UD campaigns are created by the partner",
                            field="mode")
        if values.get("brand_id") not in (None, principal.brand_id):
            raise Forbidden("a brand key creates campaigns of its own brand only", field="brand_id")
        values["brand_id"] = principal.brand_id
    elif principal.role == "partner":
        if mode != "UD":
            raise Forbidden("a partner key creates UD campaigns only; CID campaigns are run by the brand",
                            field="mode")
        if values.get("partner_id") not in (None, principal.partner_id):
            raise Forbidden("a partner key creates campaigns on its own partner only", field="partner_id")
        values["partner_id"] = principal.partner_id
    elif principal.role != "admin":
        raise Forbidden(f"a {principal.role} key cannot create campaigns", field="authorization")
    for name in ("brand_id", "partner_id"):
        if values.get(name) is None:
            raise ValidationError(f"{name} is required", field=name)
    return create_campaign(session, **values)


def visible(principal: Principal, campaign: Campaign) -> bool:
    """Whether ``principal`` may see ``campaign``."""
    if principal.role == "admin":
        return True
    if principal.role == "brand":
        return campaign.brand_id == principal.brand_id
    if principal.role == "partner":
        return campaign.partner_id == principal.partner_id
    return False


def get_for(session: Session, principal: Principal, campaign_id: int) -> Campaign:
    """The campaign if ``principal`` may see it, else NotFound."""
    campaign = get_campaign(session, campaign_id)
    if not visible(principal, campaign):
        raise NotFound(f"campaign {campaign_id} does not exist", field="campaign_id")
    return campaign


def list_for(session: Session, principal: Principal) -> list[Campaign]:
    """The campaigns ``principal`` may see."""
    if principal.role == "brand":
        return list_campaigns(session, brand_id=principal.brand_id)
    if principal.role == "partner":
        return list_campaigns(session, partner_id=principal.partner_id)
    if principal.role == "admin":
        return list_campaigns(session)
    return []


def may_edit(principal: Principal, campaign: Campaign) -> bool:
    """Admin: any; CID: its brand; UD: its partner."""
    if principal.role == "admin":
        return True
    if campaign.mode == "CID":
        return principal.role == "brand" and campaign.brand_id == principal.brand_id
    return principal.role == "partner" and campaign.partner_id == principal.partner_id


def update_for(session: Session, principal: Principal, campaign_id: int, changes: dict[str, Any]) -> Campaign:
    """Change a campaign as ``principal`` (see the module docstring for who may)."""
    campaign = get_for(session, principal, campaign_id)
    if not may_edit(principal, campaign):
        who = "its partner" if campaign.mode == "UD" else "its brand"
        raise Forbidden(f"campaign {campaign_id} is a {campaign.mode} campaign, managed by {who}; "
                        "your key sees it read-only", field="campaign_id")
    return update_campaign(session, campaign_id, **changes)


def campaign_view(campaign: Campaign, principal: Principal) -> dict[str, Any]:
    """A campaign as the API shows it, with who manages it and whether the caller may edit it."""
    out = campaign.to_dict()
    out["managed_by"] = "partner" if campaign.mode == "UD" else "brand"
    out["editable"] = may_edit(principal, campaign)
    return out
