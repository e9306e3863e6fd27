"""Brands (tenants) and categories: create, get, list, and their few settings."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from seedcart.catalog import _checks as check
from seedcart.catalog.models import Brand, Category
from seedcart.errors import Conflict, ValidationError
from seedcart.types import BACK_ACTIONS


def _weights(weights: Mapping[str, float] | None) -> dict[str, float] | None:
    if weights is None:
        return None
    if not isinstance(weights, Mapping):
        raise ValidationError("contribution_weights must be an object of action -> weight",
                              field="contribution_weights")
    out: dict[str, float] = {}
    for action, weight in weights.items():
        field = f"contribution_weights.{action}"
        check.choice(action, BACK_ACTIONS, field)
        out[action] = check.fraction(weight, field, low=0.0, high=1e9)
    return out


def create_brand(session: Session, name: str, *,
                 contribution_weights: Mapping[str, float] | None = None) -> Brand:
    """A new brand; Conflict when the name is taken."""
    clean = check.text(name, "name", max_len=200)
    if session.scalar(select(Brand.id).where(Brand.name == clean)) is not None:
        raise Conflict(f"brand {clean!r} exists already", field="name", name=clean)
    brand = Brand(name=clean, contribution_weights=_weights(contribution_weights))
    session.add(brand)
    session.flush()
    return brand


def get_brand(session: Session, brand_id: int) -> Brand:
    """The brand, or NotFound."""
    return check.require(session, Brand, check.integer(brand_id, "brand_id"), "brand_id")


def find_brand_by_name(session: Session, name: str) -> Brand | None:
    """The brand called ``name``, if any."""
    return session.scalar(select(Brand).where(Brand.name == name.strip()))


def list_brands(session: Session) -> list[Brand]:
    """Every brand, by id."""
    return list(session.scalars(select(Brand).order_by(Brand.id)))


def set_contribution_weights(session: Session, brand_id: int,
                             weights: Mapping[str, float] | None) -> Brand:
    """Set (or, with None, reset to the defaults) the brand's seeding-contribution weights."""
    brand = get_brand(session, brand_id)
    brand.contribution_weights = _weights(weights)
    session.flush()
    return brand


def get_category(session: Session, category_id: str) -> Category:
    """The category, or NotFound."""
    return check.require(session, Category, category_id, "category_id")


def list_categories(session: Session) -> list[Category]:
    """Every category, by id."""
    return list(session.scalars(select(Category).order_by(Category.id)))


def set_category_lookback(session: Session, category_id: str, days: int) -> Category:
    """Change a category's ROI(T+x) lookback in days (1..365)."""
    category = get_category(session, category_id)
    days = check.integer(days, "lookback_days", minimum=1)
    if days > 365:
        raise ValidationError(f"lookback_days must be at most 365, got {days}", field="lookback_days")
    category.lookback_days = days
    session.flush()
    return category


def brand_rows(session: Session) -> list[dict[str, object]]:
    """Every brand as a JSON-able dict, by id."""
    return [brand.to_dict() for brand in list_brands(session)]
