"""The link policy: what must hold before a shoppable link is created. Every refusal is a
``LinkRefused`` whose ``rule`` names the rule:

- ``category_not_opened``: the partner has not opened the product's category to external links;
- ``brand_not_in_pilot``: the partner keeps a pilot list and the product's brand is not on it;
- ``note_not_ad``: an ad link goes only under an ad note (``is_ad``), so the app shows the ad label;
- ``item_id``: the product's item id is not one the partner's link formats can open.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from seedcart.catalog.models import Note, Partner, Product
from seedcart.errors import LinkRefused, NotFound
from seedcart.links.partners import get


def check_link(session: Session, *, kind: str, note: Note, product: Product) -> None:
    """Refuse a link of ``kind`` from ``note`` to ``product`` that breaks a rule (see module doc)."""
    partner = session.get(Partner, product.partner_id)
    if partner is None:
        raise NotFound(f"partner {product.partner_id!r} does not exist", field="partner_id")
    if product.category_id not in (partner.opened_categories or []):
        raise LinkRefused(f"{partner.id} has not opened category {product.category_id} to external links",
                          rule="category_not_opened", field="product_id", partner=partner.id,
                          category=product.category_id)
    if partner.pilot_brands is not None and product.brand_id not in partner.pilot_brands:
        raise LinkRefused(f"{partner.id} is in pilot and brand {product.brand_id} is not on its pilot list",
                          rule="brand_not_in_pilot", field="product_id", partner=partner.id,
                          brand_id=product.brand_id)
    if kind == "ad_link" and not note.is_ad:
        raise LinkRefused(f"note {note.id} carries an ad link but is not an ad note (is_ad); the app must "
                          "show the ad label", rule="note_not_ad", field="note_id", note_id=note.id)
    get(product.partner_id).product(product.item_id, product.store_id)  # raises LinkRefused(rule="item_id")
