"""The leave-one-out rule on path conversion rates (called ``shapley`` by fractribution), on path summaries.

A path summary maps a path (the ordered notes of one user's touches) to
``(conversions, non_conversions, revenue)``. ``p(path) = conversions / (conversions + non_conversions)``,
and a path never seen has ``p = 0``. In each converting path every distinct note gains
``max(p(path) - p(path without that note), 0)``; the gains are normalised to sum to one within the
path (if all are zero the last note takes everything).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

Path = tuple[str, ...]
PathSummary = Mapping[Path, tuple[float, float, float]]
Shares = dict[Path, dict[str, float]]


def conversion_rate(summary: PathSummary, path: Path) -> float:
    """``conversions / (conversions + non_conversions)``; 0 for a path never seen."""
    row = summary.get(path)
    if row is None:
        return 0.0
    total = row[0] + row[1]
    return row[0] / total if total > 0 else 0.0


def normalised(gains: dict[str, float], path: Path) -> dict[str, float]:
    """Gains scaled to sum to one; all to the last note when they sum to zero."""
    total = sum(gains.values())
    if total <= 0:
        return {path[-1]: 1.0}
    return {note: gain / total for note, gain in gains.items() if gain > 0}


def shapley_shares(summary: PathSummary) -> Shares:
    """Per converting path, each note's share of one conversion under the leave-one-out rule."""
    shares: Shares = {}
    for path, (conversions, _non, _revenue) in summary.items():
        if conversions <= 0 or not path:
            continue
        p = conversion_rate(summary, path)
        gains = {}
        for note in dict.fromkeys(path):
            without = tuple(n for n in path if n != note)
            gains[note] = max(p - conversion_rate(summary, without), 0.0)
        shares[path] = normalised(gains, path)
    return shares


def last_touch_shares(summary: PathSummary) -> Shares:
    """Per converting path, everything to its last note."""
    return {path: {path[-1]: 1.0} for path, row in summary.items() if row[0] > 0 and path}


def channel_credit(summary: PathSummary, shares: Shares) -> dict[str, tuple[float, float]]:
    """Per note, ``(conversions, revenue)`` credited: the sum over paths of share x the path's totals."""
    out: dict[str, tuple[float, float]] = {}
    for path, split in shares.items():
        conversions, _non, revenue = summary[path]
        for note, share in split.items():
            conv, rev = out.get(note, (0.0, 0.0))
            out[note] = (conv + share * conversions, rev + share * revenue)
    return out


ShareRule = Callable[[PathSummary], Shares]
