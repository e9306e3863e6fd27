"""Sampling intervals of credited counts and GMV (DESIGN §5 rule 4).

A partner that posts back a declared fraction ``r`` of its events makes every credited sum a
Horvitz-Thompson estimate: each kept event counts ``x / r`` (``x`` its credit or credited amount,
``1 / r`` the row's ``weight``). Events are kept independently, so the estimate's variance is

    var = sum over kept events of (1 - r) / r^2 * x^2  =  sum of w * (w - 1) * x^2,   w = 1 / r

and the 95 % interval is ``estimate ± 1.96 * sqrt(var)``. Unsampled rows (w = 1) add nothing.
Variances add across disjoint groups of events, which is why rollups store them next to sums.
``x`` is summed per back-link event before squaring: one event's credit split over several touches
of the same group was kept or dropped as one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from seedcart.attribute.intervals import Z95

#: The same variance term as SQL over columns ``w`` (weight) and ``x`` (value), used by rollups.
VARIANCE_SQL = "{w} * ({w} - 1.0) * {x} * {x}"


def ht_variance(values: Iterable[float], weights: Iterable[float]) -> float:
    """The Horvitz-Thompson variance of ``sum(x * w)`` over independently kept events."""
    return math.fsum(w * (w - 1.0) * x * x for x, w in zip(values, weights, strict=True))


def interval(estimate: float, variance: float, *, z: float = Z95,
             floor: float | None = None) -> tuple[float, float]:
    """``estimate ± z * sqrt(variance)``; the lower end is clipped at ``floor`` when given."""
    half = z * math.sqrt(max(variance, 0.0))
    low = estimate - half
    if floor is not None:
        low = max(low, floor)
    return low, estimate + half
