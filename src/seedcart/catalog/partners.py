"""Partners ("1+N"): read them, and change what an operator may change: pilot list, sample rate,
opened categories, lookback overrides, UD placements, signing secret."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from seedcart.catalog import _checks as check
from seedcart.catalog.models import Brand, Partner
from seedcart.durations import parse_duration
from seedcart.errors import ValidationError
from seedcart.types import CATEGORIES, PARTNERS, PLACEMENTS, TOUCH_CLASSES


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: Marks an argument of :func:`update_partner` that is to stay as it is.
UNSET: Final = _Unset()


def get_partner(session: Session, partner_id: str) -> Partner:
    """The partner, or NotFound (ValidationError when the id is not a partner name at all)."""
    check.choice(partner_id, PARTNERS, "partner_id")
    return check.require(session, Partner, partner_id, "partner_id")


def list_partners(session: Session) -> list[Partner]:
    """Every partner, by id."""
    return list(session.scalars(select(Partner).order_by(Partner.id)))


def admits_brand(partner: Partner, brand_id: int) -> bool:
    """Whether the partner's pilot list (if it keeps one) lets ``brand_id`` in."""
    return partner.pilot_brands is None or brand_id in partner.pilot_brands


def lookback_override(partner: Partner, touch_class: str) -> timedelta | None:
    """The partner's lookback for a touch class, when it overrides the default."""
    seconds = (partner.lookback_overrides or {}).get(touch_class)
    return None if seconds is None else timedelta(seconds=seconds)


def _pilot_list(session: Session, brands: Iterable[int] | None) -> list[int] | None:
    if brands is None:
        return None
    out: list[int] = []
    for brand_id in brands:
        check.require(session, Brand, check.integer(brand_id, "pilot_brands"), "pilot_brands")
        if brand_id not in out:
            out.append(brand_id)
    return out


def _overrides(values: Mapping[str, Any] | None) -> dict[str, int] | None:
    if values is None:
        return None
    out: dict[str, int] = {}
    for touch_class, value in values.items():
        field = f"lookback_overrides.{touch_class}"
        check.choice(touch_class, TOUCH_CLASSES, field)
        out[touch_class] = int(parse_duration(value, field=field).total_seconds())
    return out


def update_partner(session: Session, partner_id: str, *,
                   pilot_brands: Iterable[int] | _Unset | None = UNSET,
                   sample_rate: float | _Unset = UNSET,
                   opened_categories: Iterable[str] | _Unset = UNSET,
                   lookback_overrides: Mapping[str, Any] | _Unset | None = UNSET,
                   ud_placements: Iterable[str] | _Unset = UNSET,
                   name: str | _Unset = UNSET) -> Partner:
    """Change the given settings of a partner; the others stay.

    ``pilot_brands=None`` drops the pilot list (every brand admitted); ``[]`` admits nobody.
    ``lookback_overrides`` takes durations (``{"click": "30d"}``) or seconds.
    """
    partner = get_partner(session, partner_id)
    if not isinstance(pilot_brands, _Unset):
        partner.pilot_brands = _pilot_list(session, pilot_brands)
    if not isinstance(sample_rate, _Unset):
        partner.sample_rate = check.fraction(sample_rate, "sample_rate", low=0.0, high=1.0, include_low=False)
    if not isinstance(opened_categories, _Unset):
        partner.opened_categories = check.choices(opened_categories, CATEGORIES, "opened_categories")
    if not isinstance(lookback_overrides, _Unset):
        partner.lookback_overrides = _overrides(lookback_overrides)
    if not isinstance(ud_placements, _Unset):
        partner.ud_placements = check.choices(ud_placements, PLACEMENTS, "ud_placements")
    if not isinstance(name, _Unset):
        partner.name = check.text(name, "name", max_len=100)
    session.flush()
    return partner


def add_pilot_brand(session: Session, partner_id: str, brand_id: int) -> Partner:
    """Admit a brand to a partner's pilot; a partner without a pilot list admits everyone already."""
    partner = get_partner(session, partner_id)
    if partner.pilot_brands is None:
        raise ValidationError(f"{partner_id} keeps no pilot list: every brand is admitted", field="pilot_brands")
    if brand_id in partner.pilot_brands:
        return partner
    return update_partner(session, partner_id, pilot_brands=[*partner.pilot_brands, brand_id])


def remove_pilot_brand(session: Session, partner_id: str, brand_id: int) -> Partner:
    """Take a brand off a partner's pilot list."""
    partner = get_partner(session, partner_id)
    if partner.pilot_brands is None:
        raise ValidationError(f"{partner_id} keeps no pilot list", field="pilot_brands")
    return update_partner(session, partner_id, pilot_brands=[b for b in partner.pilot_brands if b != brand_id])


def rotate_signing_secret(session: Session, partner_id: str) -> str:
    """Replace the partner's backflow signing secret; returns the new one (shown once)."""
    partner = get_partner(session, partner_id)
    partner.signing_secret = secrets.token_hex(32)
    session.flush()
    return partner.signing_secret
