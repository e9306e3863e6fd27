"""The vectorised path solve gives the shares of the one-path-at-a-time reference rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from seedcart.attribute import pathsolve
from seedcart.attribute.markov import markov_shares
from seedcart.attribute.pathsolve import SEP, solve_summary
from seedcart.attribute.shapley import PathSummary, shapley_shares

RULES = {"markov": markov_shares, "shapley": shapley_shares}


def _summary(seed: int) -> dict[tuple[int, str], dict[tuple[str, ...], tuple[float, float, float]]]:
    """Random path summaries in a few (brand, action) groups, with the cases the rules single out."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[int, str], dict[tuple[str, ...], tuple[float, float, float]]] = {}
    for bkey, action in [(1, "order"), (1, "cart"), (2, "order"), (-1, "order")]:
        notes = [f"n{bkey}-{i}" for i in range(int(rng.integers(2, 7)))]
        paths: dict[tuple[str, ...], tuple[float, float, float]] = {}
        for _ in range(int(rng.integers(5, 40))):
            path = tuple(str(n) for n in rng.choice(notes, size=int(rng.integers(1, 6))))
            conv = float(rng.choice([0.0, 0.0, 1.0, 2.0, 0.5]))
            paths[path] = (conv, float(rng.choice([0.0, 1.0, 3.0])), 100.0 * conv)
        for path in list(paths)[:6]:  # reduced paths: the path without one of its notes is seen too
            rest = tuple(n for n in path if n != path[0])
            paths.setdefault(rest, (float(rng.integers(0, 3)), float(rng.integers(0, 4)), 0.0))
        paths[(notes[0],)] = (0.0, 0.0, 0.0)  # a path with no total (rate 0)
        groups[(bkey, action)] = paths
    return groups


def _as_table(groups: dict[tuple[int, str], dict[tuple[str, ...], tuple[float, float, float]]]) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for (bkey, action), paths in groups.items():
        for path, (conv, non, rev) in paths.items():
            rows.append({"_bkey": bkey, "action": action, "path": SEP.join(path), "conversions": conv,
                         "non_conversions": non, "revenue": rev})
    rng = np.random.default_rng(len(rows))
    rows = [rows[i] for i in rng.permutation(len(rows))]  # the solver must not rely on row order
    return pa.Table.from_pylist(rows)


def _solved(table: pa.Table, models: list[str]) -> dict[tuple[Any, ...], float]:
    ids, shares = solve_summary(table, models)
    path_of = dict(zip(ids["_pid"].to_pylist(), zip(ids["_sbkey"].to_pylist(), ids["_saction"].to_pylist(),
                                                     ids["_spath"].to_pylist(), strict=True), strict=True))
    assert len(path_of) == ids.num_rows  # ids are unique
    out: dict[tuple[Any, ...], float] = {}
    for pid, note, model, share in zip(*(shares[c].to_pylist() for c in ("_pid", "_snote", "_smodel", "_share")),
                                       strict=True):
        key = (*path_of[pid], model, note)
        assert key not in out
        out[key] = share
    return out


def _reference(groups: dict[tuple[int, str], dict[tuple[str, ...], tuple[float, float, float]]],
               models: list[str]) -> dict[tuple[Any, ...], float]:
    out: dict[tuple[Any, ...], float] = {}
    for (bkey, action), paths in groups.items():
        summary: PathSummary = paths
        for model in models:
            for path, split in RULES[model](summary).items():
                for note, share in split.items():
                    out[(bkey, action, SEP.join(path), model, note)] = share
    return out


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_solve_equals_the_reference_rules(seed: int) -> None:
    groups = _summary(seed)
    got = _solved(_as_table(groups), ["markov", "shapley"])
    expected = _reference(groups, ["markov", "shapley"])
    assert set(got) == set(expected)
    for key, share in expected.items():
        assert math.isclose(got[key], share, rel_tol=1e-9, abs_tol=1e-12), key


def test_each_converting_path_shares_one_conversion_and_one_model_alone_is_solved() -> None:
    groups = _summary(99)
    got = _solved(_as_table(groups), ["shapley"])
    assert {key[3] for key in got} == {"shapley"}
    per_path: dict[tuple[Any, ...], float] = {}
    for key, share in got.items():
        per_path[key[:3]] = per_path.get(key[:3], 0.0) + share
    converting = {(b, a, SEP.join(p)) for (b, a), paths in groups.items() for p, row in paths.items()
                  if row[0] > 0 and p}  # an empty path has no note to credit
    assert set(per_path) == converting
    assert all(math.isclose(total, 1.0) for total in per_path.values())


def test_an_empty_summary_solves_to_nothing() -> None:
    empty = pa.table({"_bkey": pa.array([], pa.int64()), "action": pa.array([], pa.string()),
                      "path": pa.array([], pa.string()), "conversions": pa.array([], pa.float64()),
                      "non_conversions": pa.array([], pa.float64()), "revenue": pa.array([], pa.float64())})
    ids, shares = solve_summary(empty, ["markov", "shapley"])
    assert ids.num_rows == 0 and shares.num_rows == 0


@pytest.mark.parametrize("seed", range(6))
def test_a_targeted_solve_gives_the_marked_paths_exactly_their_shares_in_the_whole_solve(seed: int) -> None:
    table = _as_table(_summary(seed))
    everything = _solved(table, ["markov", "shapley"])
    marked = np.random.default_rng(seed).random(table.num_rows) < 0.3
    got = _solved(table.append_column("_target", pa.array(marked)), ["markov", "shapley"])
    wanted = {(b, a, p) for b, a, p, m in zip(table["_bkey"].to_pylist(), table["action"].to_pylist(),
                                              table["path"].to_pylist(), marked, strict=True) if m}
    assert got == {key: share for key, share in everything.items() if key[:3] in wanted}


@pytest.mark.parametrize("seed", range(4))
def test_paths_whose_keys_collide_are_still_told_apart_exactly(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # every path of a group gets the same key: the first path of a key is then seldom the one sought
    monkeypatch.setattr(pathsolve, "_mix", lambda sums, length, group: group.astype(np.uint64))
    groups = _summary(seed)
    got = _solved(_as_table(groups), ["shapley"])
    expected = _reference(groups, ["shapley"])
    assert set(got) == set(expected)
    for key, share in expected.items():
        assert math.isclose(got[key], share, rel_tol=1e-9, abs_tol=1e-12), key
