"""The leave-one-out rule on path conversion rates (called ``shapley`` by fractribution), on path summaries.

A path summary maps a path (the ordered notes of one user's touches) to
``(conversions, non_conversions, revenue)``. ``p(path) = conversions / (conversions + non_conversions)``,
and a path never seen has ``p = 0``. In each converting path every distinct note gains
``max(p(path) - p(path without that note), 0)``; the gains are normalised to sum to one within the
path (if all are zero the last note takes everything).
"""

from __future__ import annotations

import hashlib
from collections import Counter
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
    """Per converting path, each note's share of one conversion under the leave-one-out rule.

    A path without note ``n`` can only have been seen if some path of the summary has exactly the
    other notes and ``len(path) - count(n)`` touches, so every path is indexed by a hash of its set
    of notes (a sum of random 64-bit words, one per note) and its length; the reduced path is built
    and looked up only when that index has a match. Everything else has ``p = 0``.
    """
    words: dict[str, int] = {}
    seen: set[tuple[int, int]] = set()
    for path in summary:
        seen.add((_set_hash(Counter(path), words), len(path)))
    shares: Shares = {}
    for path, (conversions, _non, _revenue) in summary.items():
        if conversions <= 0 or not path:
            continue
        p = conversion_rate(summary, path)
        counts = Counter(path)
        whole = _set_hash(counts, words)
        gains = {}
        for note, count in counts.items():
            if ((whole - words[note]) & _MASK, len(path) - count) in seen:
                without = tuple(n for n in path if n != note)
                gains[note] = max(p - conversion_rate(summary, without), 0.0)
            else:
                gains[note] = max(p, 0.0)
        shares[path] = normalised(gains, path)
    return shares


_MASK = (1 << 64) - 1


def _set_hash(counts: Counter[str], words: dict[str, int]) -> int:
    """The sum (mod 2**64) of each distinct note's random word, drawn on first sight (stable per run)."""
    total = 0
    for note in counts:
        word = words.get(note)
        if word is None:
            word = words[note] = int.from_bytes(hashlib.blake2b(note.encode(), digest_size=8).digest(), "little")
        total += word
    return total & _MASK


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
