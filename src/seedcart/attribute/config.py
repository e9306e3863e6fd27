"""What an attribution run needs to know: lookbacks, half-life, precedence, models.

Lookbacks combine per back-link event, first match wins (documented in DESIGN §5 terms):

1. the partner's override for the touch class (``Partner.lookback_overrides``, seconds per class);
2. else the category's ROI(T+x) window (``Category.lookback_days``), the same for every class;
3. else the default of the class (``settings.lookback``; 15 days each).

A lookback of 0 means that class never counts (a touch must come strictly before the event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from seedcart.config import Settings
from seedcart.errors import ValidationError
from seedcart.types import MODELS, TOUCH_CLASSES, Model, TouchClass

DAY = timedelta(days=1)


@dataclass(frozen=True)
class AttributionConfig:
    """Settings of one attribution run. Build from settings with :func:`config_from_settings`."""

    #: Default lookback per touch class.
    lookback: dict[TouchClass, timedelta] = field(
        default_factory=lambda: dict.fromkeys(TOUCH_CLASSES, 15 * DAY))
    #: Per partner, per class overrides (first rule above).
    partner_lookback: dict[str, dict[TouchClass, timedelta]] = field(default_factory=dict)
    #: Per category T+x windows (second rule above).
    category_lookback: dict[str, timedelta] = field(default_factory=dict)
    #: Half-life of ``time_decay``.
    half_life: timedelta = 7 * DAY
    #: Single-touch models prefer click > engagement > view.
    precedence: bool = True
    #: First / middle (shared) / last weights of ``position_based``.
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    #: Models to run.
    models: tuple[Model, ...] = MODELS
    #: Back-link actions credited (refunds follow their orders); None credits every action.
    actions: tuple[str, ...] | None = None
    #: End of the window for non-converting paths (markov, shapley); default the latest event.
    window_end: datetime | None = None
    #: Use an engine's fast path where it has one (DuckDB: ``seedcart.attribute.fast``); the
    #: portable Ibis form otherwise. Both give the same credit table.
    fast_paths: bool = True

    def __post_init__(self) -> None:
        for model in self.models:
            if model not in MODELS:
                raise ValidationError(f"model must be one of {', '.join(MODELS)}, got {model!r}", field="model")
        if self.half_life.total_seconds() <= 0:
            raise ValidationError("half_life must be positive", field="half_life")
        missing = [c for c in TOUCH_CLASSES if c not in self.lookback]
        if missing:
            raise ValidationError(f"lookback missing for {missing}", field="lookback")

    def seconds(self, value: timedelta) -> int:
        """Whole seconds of a lookback."""
        return int(value.total_seconds())


def config_from_settings(settings: Settings, catalog: Any = None, *,
                         models: tuple[Model, ...] | None = None) -> AttributionConfig:
    """The run configuration from settings and, when given, the catalog's partner/category lookbacks."""
    partner_lookback: dict[str, dict[TouchClass, timedelta]] = {}
    category_lookback: dict[str, timedelta] = {}
    if catalog is not None:
        from sqlalchemy import select

        from seedcart.catalog.models import Category, Partner

        with catalog.session() as session:
            for partner in session.scalars(select(Partner)):
                if partner.lookback_overrides:
                    partner_lookback[partner.id] = {
                        cls: timedelta(seconds=int(v)) for cls, v in partner.lookback_overrides.items()
                        if cls in TOUCH_CLASSES}
            for category in session.scalars(select(Category)):
                category_lookback[category.id] = timedelta(days=int(category.lookback_days))
    return AttributionConfig(
        lookback={"click": settings.lookback.click, "engagement": settings.lookback.engagement,
                  "view": settings.lookback.view},
        partner_lookback=partner_lookback,
        category_lookback=category_lookback,
        half_life=settings.attribution.half_life,
        precedence=settings.attribution.precedence,
        position_weights=settings.attribution.position_weights,
        models=models or MODELS,
    )
