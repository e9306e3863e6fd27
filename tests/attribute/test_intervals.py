"""Sampled backflow: Horvitz-Thompson estimates whose 95 % intervals cover the unsampled truth."""

from __future__ import annotations

import ibis
import numpy as np
import pyarrow as pa
import pytest

from seedcart.attribute import aggregate_credit


def _credit(trial: np.ndarray, note: np.ndarray, event: np.ndarray, credit: np.ndarray, rate: float) -> pa.Table:
    return pa.table({"trial": trial, "note_id": note.astype(str), "partner": np.full(len(note), "jd"),
                     "event_id": event.astype(str), "credit": credit, "weight": np.full(len(note), 1 / rate)})


def test_unsampled_aggregates_have_zero_width_intervals() -> None:
    table = _credit(np.zeros(3, int), np.array([1, 1, 2]), np.array([1, 2, 3]), np.array([0.5, 1.0, 1.0]), 1.0)
    out = aggregate_credit(ibis.memtable(table), ["note_id"]).to_pyarrow().sort_by("note_id").to_pylist()
    assert [(r["estimate"], r["lo"], r["hi"], r["events"]) for r in out] == [(1.5, 1.5, 1.5, 2), (1.0, 1.0, 1.0, 1)]


@pytest.mark.slow
def test_intervals_cover_the_unsampled_truth_in_at_least_93_percent_of_200_trials() -> None:
    rng = np.random.default_rng(7)
    events, notes, trials, rate = 400, 5, 200, 0.3
    # One world: each event splits one unit over 1-3 notes; the truth per note is the unsampled sum.
    rows_event, rows_note, rows_credit = [], [], []
    for e in range(events):
        chosen = rng.choice(notes, size=int(rng.integers(1, 4)), replace=False, p=[0.4, 0.25, 0.15, 0.12, 0.08])
        split = rng.dirichlet(np.ones(len(chosen)))
        rows_event += [e] * len(chosen)
        rows_note += list(chosen)
        rows_credit += list(split)
    ev, nt, cr = np.array(rows_event), np.array(rows_note), np.array(rows_credit)
    truth = np.bincount(nt, weights=cr, minlength=notes)
    # 200 partner samples at rate r: each event kept with probability r, all in one table keyed by trial.
    kept = rng.random((trials, events)) < rate
    parts = [_credit(np.full(int(mask.sum()), t), nt[mask], ev[mask], cr[mask], rate)
             for t in range(trials) for mask in [kept[t][ev]]]
    out = aggregate_credit(ibis.memtable(pa.concat_tables(parts)), ["trial", "note_id"]).to_pyarrow().to_pylist()
    covered = sum(1 for r in out if r["lo"] <= truth[int(r["note_id"])] <= r["hi"])
    coverage = covered / (trials * notes)
    assert len(out) == trials * notes
    assert 0.93 <= coverage < 0.995, coverage  # not trivially wide either
