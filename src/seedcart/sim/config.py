"""What a simulated world is made of: its size, its seed, its faults, and the behaviour constants.

Everything here is plain, frozen data; the same ``WorldConfig`` always builds the same world.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from seedcart.errors import ValidationError
from seedcart.types import CATEGORIES

#: Mean lag in days of a causal (note-driven) purchase journey, per category: the slow deliberation
#: categories push a good share of their effect past T+7, and some past T+15 (ROI(T+x)).
LAG_MEAN_DAYS: Final[dict[str, float]] = {
    "beauty": 11.0, "sports_outdoor": 7.0, "fashion": 6.0, "food": 3.0,
    "mother_baby": 24.0, "home": 12.0, "digital": 14.0, "health": 11.0,
}

#: Share of causal journeys that start within hours of the read (the impulse share), per category.
IMPULSE_SHARE: Final[dict[str, float]] = {
    "beauty": 0.35, "sports_outdoor": 0.35, "fashion": 0.45, "food": 0.6,
    "mother_baby": 0.15, "home": 0.25, "digital": 0.2, "health": 0.3,
}

#: Probability that one read of a branded note starts a purchase journey it causes, per category.
UPLIFT: Final[dict[str, float]] = {
    "beauty": 0.05, "sports_outdoor": 0.03, "fashion": 0.045, "food": 0.04,
    "mother_baby": 0.03, "home": 0.025, "digital": 0.02, "health": 0.03,
}

#: Median price in minor units (fen) per category.
PRICE_MEDIAN: Final[dict[str, int]] = {
    "beauty": 19_900, "sports_outdoor": 29_900, "fashion": 25_900, "food": 5_900,
    "mother_baby": 16_900, "home": 39_900, "digital": 129_900, "health": 12_900,
}

#: Topic tags per category, drawn onto notes.
TOPICS: Final[dict[str, tuple[str, ...]]] = {
    "beauty": ("skincare", "serum", "makeup", "sunscreen", "lipstick", "haul"),
    "sports_outdoor": ("hiking", "running", "camping", "yoga", "cycling", "gear"),
    "fashion": ("ootd", "streetwear", "dress", "sneakers", "capsule", "vintage"),
    "food": ("snacks", "coffee", "recipe", "tea", "healthy", "baking"),
    "mother_baby": ("newborn", "formula", "stroller", "diapers", "toddler", "parenting"),
    "home": ("decor", "storage", "kitchen", "cleaning", "bedding", "diy"),
    "digital": ("phone", "headphones", "laptop", "camera", "gaming", "smartwatch"),
    "health": ("vitamins", "sleep", "fitness", "protein", "wellness", "probiotics"),
}

assert set(LAG_MEAN_DAYS) == set(CATEGORIES) == set(UPLIFT) == set(PRICE_MEDIAN) == set(TOPICS)


@dataclass(frozen=True)
class Faults:
    """The realistic faults of a world, each on by default at a realistic rate; 0 / False turns one off."""

    #: Share of rows delivered a second time with the same event id.
    duplicates: float = 0.01
    #: Share of rows whose ``received_at`` is days after ``ts``.
    late: float = 0.02
    #: Longest delay of a late arrival, in days.
    late_days: int = 4
    #: Partners keep only their declared sample rate of backflow (and say so in ``sample_rate``).
    sampling: bool = True
    #: Probability that a partner sends no backflow at all for a day.
    missing_days: float = 0.03
    #: Bot clicks per human link click.
    bots: float = 0.03
    #: Share of wire rows (Segment messages, backflow rows) rendered malformed.
    malformed: float = 0.01

    @classmethod
    def off(cls) -> Faults:
        """No faults at all."""
        return cls(duplicates=0.0, late=0.0, sampling=False, missing_days=0.0, bots=0.0, malformed=0.0)

    @property
    def any(self) -> bool:
        """Whether any fault is on."""
        return (self.duplicates > 0 or self.late > 0 or self.sampling or self.missing_days > 0
                or self.bots > 0 or self.malformed > 0)


@dataclass(frozen=True)
class WorldConfig:
    """The size, seed and knobs of a simulated world.

    ``users`` x ``days`` x ``impressions_per_user_day`` sets the touch volume (most touches are
    impressions); ``conversion_scale`` multiplies every purchase probability.
    """

    users: int = 2_000
    days: int = 30
    seed: int = 0
    start: date = date(2026, 10, 1)
    brands: int = 16
    notes_per_brand: int = 24
    #: Notes by creators that seed no brand, per brand (filler of the feeds).
    unbranded_notes_per_brand: int = 6
    products_per_brand: int = 6
    impressions_per_user_day: float = 12.0
    #: Share of impressions served from ad slots.
    ad_share: float = 0.25
    #: Default holdout fraction of campaigns (each campaign varies around it).
    holdout: float = 0.1
    #: Organic partner visits per user per day (the baseline that no note causes).
    organic_visits_per_user_day: float = 0.02
    conversion_scale: float = 1.0
    #: Users per generation chunk (memory is bounded by one day of one block).
    block_users: int = 20_000
    #: Declared sample rates of partners; None takes the catalog's (pdd 0.5).
    sample_rates: dict[str, float] | None = None
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        for name in ("users", "days", "brands", "notes_per_brand", "products_per_brand", "block_users"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(f"{name} must be at least 1, got {getattr(self, name)!r}", field=name)
        for name in ("ad_share", "holdout"):
            value = float(getattr(self, name))
            if not 0.0 <= value < 1.0:
                raise ValidationError(f"{name} must be in [0, 1), got {value!r}", field=name)
        if self.impressions_per_user_day <= 0 or self.conversion_scale < 0:
            raise ValidationError("impressions_per_user_day must be > 0 and conversion_scale >= 0",
                                  field="impressions_per_user_day")

    @property
    def start_at(self) -> datetime:
        """Midnight UTC of the first day."""
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        """Midnight UTC after the last day; nothing happens at or after it."""
        return self.start_at + timedelta(days=self.days)

    def replace(self, **changes: Any) -> WorldConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_touches(cls, touches: int, *, conversion_rate: float = 0.05, days: int = 30, seed: int = 0,
                    faults: Faults | None = None) -> WorldConfig:
        """A world of about ``touches`` touch rows where back-link orders are about ``conversion_rate``
        of the touches (for attribution benchmarks at 1M / 10M / 100M touches)."""
        per_user_day = 12.0
        # Touch rows per impression: 1 + reads + deep reads + engagements + clicks + searches.
        rows_per_impression = 1.31
        users = max(10, round(touches / (days * per_user_day * rows_per_impression)))
        # Measured: orders / touches ~= 0.00076 + 0.00202 x conversion_scale (click-through orders do
        # not scale, read-caused and organic ones do).
        scale = max(0.0, (conversion_rate - 0.00076) / 0.00202)
        return cls(users=users, days=days, seed=seed, impressions_per_user_day=per_user_day,
                   conversion_scale=scale, brands=max(16, min(400, users // 500)),
                   faults=faults if faults is not None else Faults())
