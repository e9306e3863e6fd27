"""Shoppable links in the catalog: ad links under ad notes and blue links in comments.

Each link has a short random ``code`` (the redirect's path). Links are never deleted, only
deactivated; ``updated_at`` moves on every change, so the redirect's cache can follow changes
with :func:`links_changed_since`, and :func:`catalog_version` tells any cache whether anything
in the catalog changed at all.

Which partner hosts and categories a link may point to is the link policy's business
(``seedcart.links``); this module keeps the rows consistent with each other.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from seedcart.catalog import _checks as check
from seedcart.catalog.campaigns import get_campaign
from seedcart.catalog.models import CatalogRevision, Link, Note, Product, utcnow
from seedcart.errors import Conflict, NotFound, ValidationError
from seedcart.types import LINK_KINDS, PLACEMENTS

#: Alphabet of link codes: letters and digits without look-alikes (0/O, 1/l/I).
CODE_ALPHABET: Final = "23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH: Final = 8  # 57**8 ~ 1.1e14 codes


def new_code(length: int = CODE_LENGTH) -> str:
    """A random link code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def _code(session: Session, code: str | None) -> str:
    if code is not None:
        clean = check.text(code, "code", max_len=32)
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in clean):
            raise ValidationError("code may hold only letters, digits, - and _", field="code")
        if find_link_by_code(session, clean) is not None:
            raise Conflict(f"link code {clean!r} is taken", field="code", code=clean)
        return clean
    for _ in range(8):
        candidate = new_code()
        if find_link_by_code(session, candidate) is None:
            return candidate
    raise Conflict("could not find a free link code", field="code")  # pragma: no cover - 1e-100 odds


def create_link(session: Session, *, kind: str, note_id: str, product_id: int, campaign_id: int | None = None,
                placement: str | None = None, comment_id: str | None = None, commenter_id: str | None = None,
                code: str | None = None) -> Link:
    """A new active link with a unique code.

    An ``ad_link`` belongs to a campaign of the product's brand on the product's partner; a
    ``blue_link`` lives in a comment and has no campaign.
    """
    check.choice(kind, LINK_KINDS, "kind")
    note = check.require(session, Note, note_id, "note_id")
    product = check.require(session, Product, check.integer(product_id, "product_id"), "product_id")
    if placement is not None:
        check.choice(placement, PLACEMENTS, "placement")
    if kind == "ad_link":
        if campaign_id is None:
            raise ValidationError("an ad_link needs its campaign_id", field="campaign_id")
        campaign = get_campaign(session, campaign_id)
        if campaign.partner_id != product.partner_id:
            raise ValidationError(f"campaign {campaign.id} runs on {campaign.partner_id}, the product is on "
                                  f"{product.partner_id}", field="campaign_id")
        if campaign.brand_id != product.brand_id:
            raise ValidationError(f"campaign {campaign.id} is not of the product's brand", field="campaign_id")
        if placement is not None and placement not in campaign.placements:
            raise ValidationError(f"campaign {campaign.id} does not run on {placement}", field="placement")
        if not note.is_ad:
            raise ValidationError(f"note {note.id} is not an ad note; ad links go under ad notes", field="note_id")
    elif campaign_id is not None:
        raise ValidationError("a blue_link has no campaign", field="campaign_id")
    link = Link(code=_code(session, code), kind=kind, note_id=note.id, product_id=product.id,
                campaign_id=campaign_id, placement=placement,
                comment_id=check.optional_text(comment_id, "comment_id", max_len=64),
                commenter_id=check.optional_text(commenter_id, "commenter_id", max_len=64),
                active=True, updated_at=utcnow())
    session.add(link)
    session.flush()
    return link


def get_link(session: Session, link_id: int) -> Link:
    """The link, or NotFound."""
    return check.require(session, Link, check.integer(link_id, "link_id"), "link_id")


def find_link_by_code(session: Session, code: str) -> Link | None:
    """The link with ``code``, if any (active or not)."""
    return session.scalar(select(Link).where(Link.code == code))


def get_link_by_code(session: Session, code: str) -> Link:
    """The link with ``code``, or NotFound."""
    link = find_link_by_code(session, code)
    if link is None:
        raise NotFound(f"link {code!r} does not exist", field="code", code=code)
    return link


def list_links(session: Session, *, note_id: str | None = None, product_id: int | None = None,
               campaign_id: int | None = None, active: bool | None = None) -> list[Link]:
    """Links filtered by any of note, product, campaign and active, by id."""
    query = select(Link).order_by(Link.id)
    if note_id is not None:
        query = query.where(Link.note_id == note_id)
    if product_id is not None:
        query = query.where(Link.product_id == product_id)
    if campaign_id is not None:
        query = query.where(Link.campaign_id == campaign_id)
    if active is not None:
        query = query.where(Link.active.is_(active))
    return list(session.scalars(query))


def set_link_active(session: Session, link_id: int, active: bool) -> Link:
    """Activate or deactivate a link (deactivated links stop redirecting; their history stays)."""
    link = get_link(session, link_id)
    if link.active != active:
        link.active = active
        link.updated_at = utcnow()
    session.flush()
    return link


def links_changed_since(session: Session, since: datetime | None, *, limit: int | None = None) -> list[Link]:
    """Links created or changed after ``since`` (all when None), oldest change first.

    A cache keeps the newest ``updated_at`` it saw and asks again with it. Changes in the same
    microsecond as ``since`` are not returned again, so a cache should ask with a small overlap
    (or use :func:`catalog_version` to know whether to ask at all).
    """
    query = select(Link).order_by(Link.updated_at, Link.id)
    if since is not None:
        query = query.where(Link.updated_at > check.aware(since, "since"))
    if limit is not None:
        query = query.limit(check.integer(limit, "limit", minimum=1))
    return list(session.scalars(query))


def catalog_version(session: Session) -> int:
    """A counter that grows with every committed change to catalog rows (not loads)."""
    return int(session.scalar(select(CatalogRevision.value).where(CatalogRevision.id == 1)) or 0)
