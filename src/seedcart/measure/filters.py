"""Who may see which rollup rows (scope) and which rows a report asks for (filter), as SQL.

Every report query goes through :func:`where`: tenancy is applied in this one place.
- admin: everything, or one brand when it asks for one;
- brand key: rows of its brand only;
- partner key: rows of the UD campaigns the partner runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from seedcart.catalog.keys import Principal
from seedcart.errors import Forbidden, ValidationError
from seedcart.measure.dimensions import Dimensions
from seedcart.types import MODELS, Model


@dataclass(frozen=True)
class Scope:
    """The rows a caller may see: one brand, a set of campaigns, or (both None) everything."""

    brand_id: int | None = None
    campaign_ids: tuple[int, ...] | None = None

    @classmethod
    def of(cls, principal: Principal, dims: Dimensions, *, brand_id: int | None = None) -> Scope:
        """The scope of ``principal``; ``brand_id`` narrows an admin's view and is refused otherwise."""
        if principal.role == "admin":
            return cls(brand_id=brand_id)
        if principal.role == "brand":
            if brand_id is not None and brand_id != principal.brand_id:
                raise Forbidden("a brand key sees only its own brand", field="brand_id")
            return cls(brand_id=principal.brand_id)
        if principal.role == "partner" and principal.partner_id is not None:
            if brand_id is not None:
                raise Forbidden("brand_id is for admin keys", field="brand_id")
            return cls(campaign_ids=tuple(dims.ud_campaigns_of(principal.partner_id)))
        raise Forbidden(f"a {principal.role} key cannot read reports", field="authorization")


@dataclass(frozen=True)
class ReportFilter:
    """The filters every report accepts. Dates are UTC days, both ends included."""

    start: date | None = None
    end: date | None = None
    note_id: str | None = None
    campaign_id: int | None = None
    placement: str | None = None
    partner: str | None = None
    mode: str | None = None
    model: Model = "last_touch"
    lookback_days: int | None = None  # credit only back-link events with lag_day <= this

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValidationError(f"start {self.start} is after end {self.end}", field="start")
        if self.model not in MODELS:
            raise ValidationError(f"model must be one of {', '.join(MODELS)}", field="model")
        if self.lookback_days is not None and self.lookback_days < 0:
            raise ValidationError("lookback cannot be negative", field="lookback")


def where(scope: Scope, flt: ReportFilter, *, credit: bool, alias: str = "",
          wide: bool = False) -> tuple[str, dict[str, Any]]:
    """A SQL ``WHERE`` body and its named parameters over a rollup table (``credit`` adds model and lag).

    ``wide``: over the store's ``wide`` table, where front rows have no model and no lag.
    """
    p = f"{alias}." if alias else ""
    clauses: list[str] = []
    params: dict[str, Any] = {}

    def add(sql: str, name: str, value: Any) -> None:
        clauses.append(sql.format(p=p, n=name))
        params[name] = value

    if scope.brand_id is not None:
        add("{p}brand_id = ${n}", "scope_brand", scope.brand_id)
    if scope.campaign_ids is not None:
        if scope.campaign_ids:
            add("list_contains(${n}, {p}campaign_id)", "scope_campaigns", list(scope.campaign_ids))
        else:
            clauses.append("FALSE")
    if flt.start is not None:
        add("{p}day >= ${n}", "start", flt.start)
    if flt.end is not None:
        add("{p}day <= ${n}", "end", flt.end)
    for name in ("note_id", "campaign_id", "placement", "partner", "mode"):
        value = getattr(flt, name)
        if value is not None:
            add(f"{{p}}{name} = ${{n}}", name, value)
    if credit:
        either = "({p}model IS NULL OR " if wide else "("
        add(either + "{p}model = ${n})", "model", flt.model)
        if flt.lookback_days is not None:
            either = "({p}lag_day IS NULL OR " if wide else "("
            add(either + "{p}lag_day <= ${n})", "lookback", flt.lookback_days)
    return (" AND ".join(clauses) or "TRUE"), params
