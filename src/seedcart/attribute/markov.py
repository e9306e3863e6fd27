"""First-order Markov removal effects over notes, by an exact absorbing-chain solve (no Monte Carlo).

States are ``start``, one per note, and the absorbing ``conversion`` and ``null``. Transition
probabilities are estimated from the path summary (converting and non-converting paths, weighted by
their counts). With ``Q`` the transient block, ``N = (I - Q)^-1`` and ``h = N r`` the probability of
converting from each state, removing note ``k`` (sending every transition into it to ``null``) leaves

    P(convert without k) = h[start] - N[start, k] / N[k, k] * h[k]

because ``N[start, k] / N[k, k]`` is the probability of ever reaching ``k``. The removal effect of
``k`` is ``1 - P(convert without k) / h[start]``. Within each converting path, the distinct notes share
one conversion in proportion to their removal effects (all to the last note when every effect is 0).
"""

from __future__ import annotations

import itertools

import numpy as np

from seedcart.attribute.shapley import PathSummary, Shares, normalised


def transition_counts(summary: PathSummary) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """``(notes, T, conv, null)``: counts between transient states (0 = start), into conversion, into null."""
    notes = sorted({note for path in summary for note in path})
    index = {note: i + 1 for i, note in enumerate(notes)}
    size = len(notes) + 1
    counts = np.zeros((size, size))
    conv = np.zeros(size)
    null = np.zeros(size)
    sources: list[int] = []
    targets: list[int] = []
    weights: list[float] = []
    lasts: list[int] = []
    convs: list[float] = []
    nulls: list[float] = []
    for path, (conversions, non_conversions, _revenue) in summary.items():
        if not path:
            continue
        total = conversions + non_conversions
        states = [0, *(index[n] for n in path)]
        sources.extend(states[:-1])
        targets.extend(states[1:])
        weights.extend(itertools.repeat(total, len(path)))
        lasts.append(states[-1])
        convs.append(conversions)
        nulls.append(non_conversions)
    # one vectorised scatter-add instead of an item assignment per transition
    np.add.at(counts, (np.asarray(sources, dtype=np.intp), np.asarray(targets, dtype=np.intp)),
              np.asarray(weights, dtype=float))
    np.add.at(conv, np.asarray(lasts, dtype=np.intp), np.asarray(convs, dtype=float))
    np.add.at(null, np.asarray(lasts, dtype=np.intp), np.asarray(nulls, dtype=float))
    return notes, counts, conv, null


def removal_effects(summary: PathSummary) -> dict[str, float]:
    """Each note's removal effect (0..1) from the exact absorbing-chain solve."""
    notes, counts, conv, null = transition_counts(summary)
    effects = effects_from_counts(counts, conv, null)
    return {note: float(e) for note, e in zip(notes, effects, strict=True)}


def effects_from_counts(counts: np.ndarray, conv: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Removal effects of states 1.. from transition counts (state 0 = start), conversions and nulls."""
    out = counts.sum(axis=1) + conv + null
    out[out == 0] = 1.0
    q = counts / out[:, None]
    r = conv / out
    fundamental = np.linalg.inv(np.eye(len(out)) - q)
    h = fundamental @ r
    if h[0] <= 0:
        return np.zeros(len(out) - 1)
    diag = np.diag(fundamental)[1:]
    reach = fundamental[0, 1:] / diag
    return np.asarray(np.clip(reach * h[1:] / h[0], 0.0, 1.0), dtype=float)


def markov_shares(summary: PathSummary) -> Shares:
    """Per converting path, each distinct note's share by removal effect."""
    effects = removal_effects(summary)
    shares: Shares = {}
    for path, row in summary.items():
        if row[0] <= 0 or not path:
            continue
        shares[path] = normalised({note: effects[note] for note in dict.fromkeys(path)}, path)
    return shares
