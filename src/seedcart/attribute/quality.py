"""How well credit tracks the truth on simulated worlds: per model, Spearman rank correlation per note.

``truth`` is the simulator's ``truth`` lake table (one row per back-link event with the note that
truly caused it, null for the organic baseline). A note's true incremental conversions are its
truth rows of the action; its credited conversions are the sum of ``credit x weight`` of that action.
Notes that appear on either side take part, with 0 where the other side has none.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    raw = np.empty(len(values))
    raw[order] = np.arange(len(values), dtype=float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=raw)
    return np.asarray(sums[inverse] / counts[inverse], dtype=float)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson of tie-averaged ranks); nan when either side is constant."""
    ra, rb = ranks(np.asarray(a, dtype=float)), ranks(np.asarray(b, dtype=float))
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_correlation(credit: pa.Table, truth: pa.Table, action: str = "order") -> dict[str, float]:
    """Per model in ``credit``, the rank correlation between credited and true conversions per note."""
    caused = truth.filter(pc.and_(pc.equal(truth["action"], action), pc.is_valid(truth["note_id"])))
    true_counts = caused.group_by("note_id").aggregate([("note_id", "count")])
    truth_of = dict(zip(true_counts["note_id"].to_pylist(), true_counts["note_id_count"].to_pylist(), strict=True))
    rows = credit.filter(pc.equal(credit["action"], action))
    rows = rows.append_column("_w", pc.multiply(rows["credit"], rows["weight"]))
    per = rows.group_by(["model", "note_id"]).aggregate([("_w", "sum")])
    out: dict[str, float] = {}
    for model in sorted(set(per["model"].to_pylist())):
        mine = per.filter(pc.equal(per["model"], model))
        credited = dict(zip(mine["note_id"].to_pylist(), mine["_w_sum"].to_pylist(), strict=True))
        notes = sorted(set(truth_of) | set(credited), key=str)
        out[model] = spearman(np.array([credited.get(n, 0.0) for n in notes]),
                              np.array([float(truth_of.get(n, 0)) for n in notes]))
    return out
