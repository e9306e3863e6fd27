"""markov and shapley: the fractribution vectors, a brute-force absorbing-chain check, the Ibis path pipeline."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from tests.attribute.helpers import at, event, run, touch

from seedcart.attribute import AttributionConfig
from seedcart.attribute.markov import removal_effects, transition_counts
from seedcart.attribute.shapley import PathSummary, channel_credit, last_touch_shares, shapley_shares

FRACTRIBUTION = Path(__file__).parents[2].parent / "shared" / "conformance" / "fractribution"

pytestmark = pytest.mark.usefixtures("both_forms")


def _vectors() -> tuple[PathSummary, dict[tuple[str, str], tuple[float, float]]]:
    if not FRACTRIBUTION.is_dir():
        pytest.skip(f"conformance vectors not found at {FRACTRIBUTION} (clone shared/ beside the repo)")
    summary: dict[tuple[str, ...], tuple[float, float, float]] = {}
    with open(FRACTRIBUTION / "snowplow_fractribution_path_summary_expected.csv") as f:
        for row in csv.DictReader(f):
            path = tuple(p.strip() for p in row["transformed_path"].split(">"))
            summary[path] = (float(row["conversions"]), float(row["non_conversions"]), float(row["revenue"] or 0))
    expected = {}
    with open(FRACTRIBUTION / "snowplow_fractribution_channel_attribution_expected.csv") as f:
        for row in csv.DictReader(f):
            expected[(row["ATTRIBUTION_TYPE"], row["CHANNEL"])] = (float(row["CONVERSIONS"]), float(row["REVENUE"]))
    return summary, expected


@pytest.mark.parametrize(("model", "rule"), [("shapley", shapley_shares), ("last_touch", last_touch_shares)])
def test_fractribution_vectors_from_the_path_summary(model: str, rule: object) -> None:
    summary, expected = _vectors()
    got = channel_credit(summary, rule(summary))  # type: ignore[operator]
    for (kind, channel), (conversions, revenue) in expected.items():
        if kind != model:
            continue
        conv, rev = got.get(channel, (0.0, 0.0))
        assert conv == pytest.approx(conversions, rel=1e-9, abs=1e-9), channel
        assert rev == pytest.approx(revenue, rel=1e-9, abs=1e-9), channel


def test_fractribution_vectors_through_the_whole_pipeline() -> None:
    """Users and events built from the path summary give the expected shapley credit per channel."""
    summary, expected = _vectors()
    touches, events = [], []
    user = 0
    for path, (conversions, non_conversions, revenue) in summary.items():
        cents = round(revenue * 100)
        for i in range(int(conversions + non_conversions)):
            user += 1
            for day, note in enumerate(path):
                touches.append(touch(f"t{user}-{day}", at(1 + day), note, user=f"u{user}"))
            if i < conversions:
                share = cents // int(conversions) + (1 if i < cents % int(conversions) else 0)
                events.append(event(f"e{user}", at(9), key=f"u{user}", amount=share))
    config = AttributionConfig(window_end=at(10), models=("shapley", "last_touch"))
    rows = run(touches, events, identity=[(f"u{i}", f"u{i}") for i in range(1, user + 1)], config=config,
               models=("shapley", "last_touch"))
    got: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        got[(r["model"], r["note_id"])][0] += r["credit"]
        got[(r["model"], r["note_id"])][1] += r["credited_amount"] / 100
    for key, (conversions, revenue) in expected.items():
        conv, rev = got.get(key, [0.0, 0.0])
        assert conv == pytest.approx(conversions, rel=1e-9, abs=1e-9), key
        assert rev == pytest.approx(revenue, rel=1e-9, abs=1e-9), key


def _brute_force(summary: PathSummary) -> dict[str, float]:
    """Removal effects by rebuilding and solving the chain once per removed note."""
    notes, counts, conv, null = transition_counts(summary)
    size = len(notes) + 1

    def p_conv(removed: int | None) -> float:
        out = counts.sum(axis=1) + conv + null
        out[out == 0] = 1.0
        q = counts / out[:, None]
        r = conv / out
        if removed is not None:
            q = q.copy()
            q[:, removed] = 0.0  # every transition into the removed note now goes to null
            q[removed, :] = 0.0
            r = r.copy()
            r[removed] = 0.0
        h = np.linalg.solve(np.eye(size) - q, r)
        return float(h[0])

    base = p_conv(None)
    return {note: 1 - p_conv(i + 1) / base for i, note in enumerate(notes)}


@pytest.mark.parametrize("seed", range(8))
def test_markov_removal_effects_match_a_brute_force_solve(seed: int) -> None:
    rng = np.random.default_rng(seed)
    notes = [f"n{i}" for i in range(int(rng.integers(2, 9)))]
    summary: dict[tuple[str, ...], tuple[float, float, float]] = {}
    for _ in range(int(rng.integers(3, 30))):
        path = tuple(rng.choice(notes, size=int(rng.integers(1, 6))))
        summary[path] = (float(rng.integers(0, 5)), float(rng.integers(0, 20)), 0.0)
    if sum(v[0] for v in summary.values()) == 0:
        summary[(notes[0],)] = (1.0, 0.0, 0.0)
    fast = removal_effects(summary)
    slow = _brute_force(summary)
    assert fast.keys() == slow.keys()
    for note in fast:
        assert fast[note] == pytest.approx(slow[note], rel=1e-9, abs=1e-12), note


def test_markov_on_a_hand_worked_chain() -> None:
    # start -> A -> conv (2 times), start -> B -> null (2 times), start -> A -> B -> conv (1)
    summary: PathSummary = {("A",): (2.0, 0.0, 0.0), ("B",): (0.0, 2.0, 0.0), ("A", "B"): (1.0, 0.0, 0.0)}
    effects = removal_effects(summary)
    # P(conv) = 3/5. Without A: start->B only (p(B->conv) = 1/3) = 2/5 * 1/3; without B: 3/5 * 2/3.
    assert effects["A"] == pytest.approx(1 - (2 / 15) / (3 / 5), rel=1e-12)
    assert effects["B"] == pytest.approx(1 - (2 / 5) / (3 / 5), rel=1e-12)


def test_summary_chunks_pack_whole_groups_in_order_up_to_the_touch_limit() -> None:
    import pyarrow as pa

    from seedcart.attribute.paths import summary_chunks
    from seedcart.attribute.pathsolve import SEP
    from seedcart.lake.engines import connect, register_arrow

    def path(n: int) -> str:
        return SEP.join(f"n{i}" for i in range(n))

    # (bkey, action) groups holding 3, 4, 9 and 2 touches; the empty path counts none
    rows = [(1, "order", path(2)), (1, "order", path(1)), (1, "cart", path(4)), (2, "order", path(9)),
            (3, "order", path(2)), (3, "order", "")]
    summary = register_arrow(connect("duckdb"), pa.table({
        "_bkey": [r[0] for r in rows], "action": [r[1] for r in rows], "path": [r[2] for r in rows]}), "s")
    plans = [p.to_pylist() for p in summary_chunks(summary, 7)]
    assert plans == [[{"_bkey": 1, "action": "cart"}, {"_bkey": 1, "action": "order"}],
                     [{"_bkey": 2, "action": "order"}],  # more than 7 on its own: never split
                     [{"_bkey": 3, "action": "order"}]]
    assert [len(p) for p in summary_chunks(summary, 100)] == [4]
