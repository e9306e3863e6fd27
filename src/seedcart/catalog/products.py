"""Products (an item on one partner) and notes (the platform's posts), by the ids callers hold."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from seedcart.catalog import _checks as check
from seedcart.catalog.models import Brand, Category, Note, Partner, Product
from seedcart.errors import Conflict, NotFound
from seedcart.types import CATEGORIES, NOTE_FORMATS, PARTNERS


def create_product(session: Session, *, partner_id: str, item_id: str, brand_id: int, category_id: str,
                   title: str = "", price: int = 0, store_id: str | None = None) -> Product:
    """A new product; Conflict when the partner's item is registered already."""
    check.choice(partner_id, PARTNERS, "partner_id")
    check.require(session, Partner, partner_id, "partner_id")
    item = check.text(item_id, "item_id", max_len=100)
    check.require(session, Brand, check.integer(brand_id, "brand_id"), "brand_id")
    check.choice(category_id, CATEGORIES, "category_id")
    check.require(session, Category, category_id, "category_id")
    if find_product(session, partner_id, item) is not None:
        raise Conflict(f"{partner_id} item {item!r} is registered already", field="item_id",
                       partner_id=partner_id, item_id=item)
    product = Product(partner_id=partner_id, item_id=item, brand_id=brand_id, category_id=category_id,
                      title=check.text(title, "title", max_len=300, required=False),
                      price=check.integer(price, "price", minimum=0),
                      store_id=check.optional_text(store_id, "store_id", max_len=100))
    session.add(product)
    session.flush()
    return product


def get_product(session: Session, product_id: int) -> Product:
    """The product, or NotFound."""
    return check.require(session, Product, check.integer(product_id, "product_id"), "product_id")


def find_product(session: Session, partner_id: str, item_id: str) -> Product | None:
    """The product a partner knows as ``item_id``, if registered."""
    return session.scalar(select(Product).where(Product.partner_id == partner_id, Product.item_id == item_id))


def get_product_by_item(session: Session, partner_id: str, item_id: str) -> Product:
    """The product a partner knows as ``item_id``, or NotFound."""
    product = find_product(session, partner_id, item_id)
    if product is None:
        raise NotFound(f"{partner_id} item {item_id!r} is not registered", field="item_id",
                       partner_id=partner_id, item_id=item_id)
    return product


def list_products(session: Session, *, brand_id: int | None = None, partner_id: str | None = None) -> list[Product]:
    """Products, optionally of one brand and/or one partner, by id."""
    query = select(Product).order_by(Product.id)
    if brand_id is not None:
        query = query.where(Product.brand_id == brand_id)
    if partner_id is not None:
        query = query.where(Product.partner_id == partner_id)
    return list(session.scalars(query))


def upsert_note(session: Session, note_id: str, *, brand_id: int | None = None, creator_id: str | None = None,
                title: str = "", topics: Iterable[str] = (), format: str = "image", is_ad: bool = False,
                created_at: datetime | None = None) -> Note:
    """Create the note or update it in place (its id is the platform's, so callers repeat it freely)."""
    nid = check.text(note_id, "note_id", max_len=64)
    if brand_id is not None:
        check.require(session, Brand, check.integer(brand_id, "brand_id"), "brand_id")
    if isinstance(topics, str):
        topics = [topics]
    clean_topics = [check.text(t, "topics", max_len=100) for t in topics]
    values = {
        "brand_id": brand_id,
        "creator_id": check.optional_text(creator_id, "creator_id", max_len=64),
        "title": check.text(title, "title", max_len=300, required=False),
        "topics": clean_topics,
        "format": check.choice(format, NOTE_FORMATS, "format"),
        "is_ad": bool(is_ad),
    }
    note = session.get(Note, nid)
    if note is None:
        note = Note(id=nid, **values)
        if created_at is not None:
            note.created_at = check.aware(created_at, "created_at")
        session.add(note)
    else:
        for key, value in values.items():
            if getattr(note, key) != value:
                setattr(note, key, value)
    session.flush()
    return note


def get_note(session: Session, note_id: str) -> Note:
    """The note, or NotFound."""
    return check.require(session, Note, note_id, "note_id")


def list_notes(session: Session, *, brand_id: int | None = None) -> list[Note]:
    """Notes, optionally of one brand, by id."""
    query = select(Note).order_by(Note.id)
    if brand_id is not None:
        query = query.where(Note.brand_id == brand_id)
    return list(session.scalars(query))
