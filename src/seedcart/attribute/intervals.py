"""Aggregates of credit with 95 % intervals for sampled backflow.

Estimator: a partner sending a declared fraction ``r`` of its events keeps each event with
probability ``r`` (Bernoulli sampling), so each kept event is weighted ``w = 1/r`` (Horvitz-Thompson).
For a group, with ``x_i`` the event's credit (or credited amount) in the group summed over its
touches, the estimate is ``sum(w_i x_i)`` and its variance estimate is
``sum((1 - r_i) / r_i^2 x_i^2) = sum((w_i^2 - w_i) x_i^2)``; the interval is
``estimate +- z sqrt(variance)`` with ``z = 1.959963984540054`` (normal, 95 %). Unsampled events
(``w = 1``) add no variance, so fully unsampled groups have zero-width intervals.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from seedcart.attribute.candidates import f64

Z95 = 1.959963984540054


def aggregate_credit(credit: ir.Table, by: list[str], value: str = "credit", z: float = Z95) -> ir.Table:
    """Per ``by`` group: ``estimate``, ``std_error``, ``lo``, ``hi``, ``events`` (distinct events credited).

    ``credit`` is the credit table (or any table with ``partner``, ``event_id``, ``weight`` and ``value``).
    """
    per_event = credit.group_by([*by, "partner", "event_id"]).aggregate(
        _x=credit[value].cast("float64").sum(), _w=credit.weight.cast("float64").max())
    x = ibis.coalesce(per_event._x, f64(0.0))
    groups = per_event.group_by(by).aggregate(
        estimate=(per_event._w * x).sum(),
        _var=((per_event._w * per_event._w - per_event._w) * x * x).sum(),
        events=per_event.event_id.count(),
    )
    se = groups._var.sqrt()
    return groups.mutate(std_error=se, lo=groups.estimate - f64(z) * se,
                         hi=groups.estimate + f64(z) * se).drop("_var")
