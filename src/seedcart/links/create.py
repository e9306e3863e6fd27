"""Creating shoppable links on a caller's behalf: who may link what, the link policy, the short URL.

- An ad link (``ad_link``): note + product + campaign (+ placement). A brand key links its own
  products through its own CID campaigns; a partner key links products on its partner through
  the UD campaigns it manages; an admin key links anything. Then the link policy
  (``seedcart.links.policy``) runs, then the catalog row is written.
- A blue link (``blue_link``): a product URL in a comment, made by ``seedcart.links.blue``.

The short URL is ``<serve.public_url>/c/<code>``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from seedcart.catalog.campaigns import get_campaign
from seedcart.catalog.keys import Principal
from seedcart.catalog.links import create_link, get_link_by_code, list_links, set_link_active
from seedcart.catalog.models import Link, Note, Product
from seedcart.catalog.products import find_product, get_note, get_product
from seedcart.errors import Forbidden, LinkRefused, NotFound
from seedcart.links.cache import CachedLink, cached
from seedcart.links.partners import PartnerRef, get
from seedcart.links.policy import check_link


def short_url(public_url: str, code: str) -> str:
    """The short URL of a link code."""
    return f"{public_url.rstrip('/')}/c/{code}"


def _product_for(session: Session, principal: Principal, product_id: int) -> Product:
    product = get_product(session, product_id)
    if principal.role == "brand" and product.brand_id != principal.brand_id:
        raise NotFound(f"product {product_id} does not exist", field="product_id")
    if principal.role == "partner" and product.partner_id != principal.partner_id:
        raise NotFound(f"product {product_id} does not exist", field="product_id")
    return product


def create_ad_link(session: Session, principal: Principal, *, note_id: str, product_id: int, campaign_id: int,
                   placement: str | None = None) -> tuple[Link, CachedLink]:
    """An ad link under an ad note, after the scope checks and the link policy."""
    if principal.role not in ("admin", "brand", "partner"):
        raise Forbidden(f"a {principal.role} key cannot create links", field="authorization")
    product = _product_for(session, principal, product_id)
    campaign = get_campaign(session, campaign_id)
    if principal.role == "brand":
        if campaign.brand_id != principal.brand_id:
            raise NotFound(f"campaign {campaign_id} does not exist", field="campaign_id")
        if campaign.mode == "UD":
            raise Forbidden(f"campaign {campaign_id} is a UD campaign, managed by {campaign.partner_id}; "
                            "its links are created with the partner's key", field="campaign_id")
    if principal.role == "partner":
        if campaign.partner_id != principal.partner_id:
            raise NotFound(f"campaign {campaign_id} does not exist", field="campaign_id")
        if campaign.mode != "UD":
            raise Forbidden(f"campaign {campaign_id} is a CID campaign, run by its brand", field="campaign_id")
    note = get_note(session, note_id)
    if note.brand_id is not None and note.brand_id != product.brand_id:
        raise LinkRefused(f"note {note.id} seeds brand {note.brand_id}, the product is brand {product.brand_id}'s",
                          rule="note_of_other_brand", field="note_id")
    check_link(session, kind="ad_link", note=note, product=product)
    link = create_link(session, kind="ad_link", note_id=note.id, product_id=product.id, campaign_id=campaign.id,
                       placement=placement)
    return link, cached(link, product)


def create_blue_link(session: Session, ref: PartnerRef, *, note_id: str, commenter_id: str | None,
                     comment_id: str | None) -> tuple[Link, CachedLink]:
    """A blue link from a comment on ``note_id`` to the catalog product ``ref`` names (the
    comment's existing link to that product when ``comment_id`` was rendered before).

    LinkRefused (``rule``) when the URL is not a product, the product is not in the catalog, or
    the link policy refuses it.
    """
    if ref.kind != "product":
        raise LinkRefused(f"{ref.partner} {ref.kind} links cannot become blue links; paste the product's URL",
                          rule="not_a_product", field="url")
    product = find_product(session, ref.partner, ref.item_id)
    if product is None:
        raise LinkRefused(f"{ref.partner} item {ref.item_id} is not a product in the catalog",
                          rule="product_not_in_catalog", field="url", partner=ref.partner, item_id=ref.item_id)
    note: Note = get_note(session, note_id)
    check_link(session, kind="blue_link", note=note, product=product)
    if comment_id is not None:  # rendering the same comment again reuses its links
        for old in list_links(session, note_id=note.id, product_id=product.id, active=True):
            if old.kind == "blue_link" and old.comment_id == comment_id:
                return old, cached(old, product)
    link = create_link(session, kind="blue_link", note_id=note.id, product_id=product.id,
                       comment_id=comment_id, commenter_id=commenter_id)
    return link, cached(link, product)


def link_view(link: Link, public_url: str, entry: CachedLink | None = None) -> dict[str, Any]:
    """A link as the API shows it: the row, its short URL and, when known, where it leads."""
    out = link.to_dict()
    out["short_url"] = short_url(public_url, link.code)
    if entry is not None:
        links = get(entry.partner)
        ref = links.product(entry.item_id, entry.store_id)
        out.update(partner=entry.partner, item_id=entry.item_id, canonical_url=ref.canonical_url)
    return out


def visible_link(session: Session, principal: Principal, code: str) -> tuple[Link, Product]:
    """The link with ``code`` if the caller may see it (brand: its products; partner: its partner)."""
    link = get_link_by_code(session, code)
    product = _product_for(session, principal, link.product_id)
    return link, product


def visible_links(session: Session, principal: Principal, *, note_id: str | None = None,
                  campaign_id: int | None = None, active: bool | None = None) -> list[tuple[Link, Product]]:
    """The links the caller may see (brand: to its products; partner: to products on it), filtered."""
    out: list[tuple[Link, Product]] = []
    products: dict[int, Product] = {}
    for link in list_links(session, note_id=note_id, campaign_id=campaign_id, active=active):
        product = products.get(link.product_id) or products.setdefault(link.product_id,
                                                                        get_product(session, link.product_id))
        if principal.role == "brand" and product.brand_id != principal.brand_id:
            continue
        if principal.role == "partner" and product.partner_id != principal.partner_id:
            continue
        out.append((link, product))
    return out


def deactivate(session: Session, principal: Principal, code: str) -> Link:
    """Deactivate a link the caller may see (it stops redirecting; its history stays)."""
    link, _ = visible_link(session, principal, code)
    return set_link_active(session, link.id, False)
