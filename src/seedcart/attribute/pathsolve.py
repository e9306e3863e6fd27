"""The path models solved for a whole path summary at once, in numpy.

``markov.py`` and ``shapley.py`` state the rules one path at a time, on dicts; they are the
reference (the conformance vectors and the brute-force checks run on them, and
``tests/attribute/test_pathsolve.py`` proves this module equal to them). Here a summary of millions of
paths is solved without a Python step per path or per touch:

- paths are split once into note codes (Arrow), rows sorted by (brand, action) group, so each
  group's paths and touches are contiguous;
- markov: transition counts per group by ``bincount`` over consecutive codes, then the exact
  absorbing-chain solve of ``markov.effects_from_counts``;
- shapley: ``p(path without n)`` is non-zero only if a path of the summary has exactly the
  remaining touches. Each path is keyed by a multiset hash of its touches (a sum of random 64-bit
  words), its length and its group; the key of "path minus every ``n``" is computed arithmetically,
  and only keys that some path has are checked exactly, by comparing codes.

Shares are normalised within each path as the reference does: gains over the sum of gains, notes
with no gain left out; all to the path's last touch when the gains sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seedcart.attribute.markov import effects_from_counts

#: Separates notes in a path string (never part of a note id).
SEP = "\x1f"
_MIX_LENGTH = np.uint64(0x9E3779B97F4A7C15)
_MIX_GROUP = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass(frozen=True)
class _Paths:
    """A summary as arrays, rows sorted by group: per row and per touch (``codes``, in path order)."""

    group: np.ndarray  # row -> group number (0.., in sorted (bkey, action) order)
    bkey: np.ndarray
    action: pa.Array
    text: pa.Array
    conversions: np.ndarray
    total: np.ndarray
    length: np.ndarray
    start: np.ndarray  # row -> index of its first touch in ``codes``
    codes: np.ndarray  # touch -> note code
    row_of: np.ndarray  # touch -> row
    notes: pa.Array  # code -> note id
    target: np.ndarray  # row -> whether its shares are wanted (the summary's ``_target``; all by default)


def _load(summary: pa.Table) -> _Paths:
    text = pc.fill_null(summary["path"].combine_chunks().cast(pa.string()), "")
    action = summary["action"].combine_chunks().cast(pa.string())
    bkey = summary["_bkey"].combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
    ranks = pc.rank(pc.fill_null(action, ""), sort_keys="ascending", tiebreaker="dense").to_numpy()
    group = _groups(bkey, ranks.astype(np.int64))
    order = np.argsort(group, kind="stable")
    take = pa.array(order)
    text, action = text.take(take), action.take(take)
    conversions = pc.fill_null(summary["conversions"].combine_chunks(), 0.0).to_numpy()[order].astype(float)
    non = pc.fill_null(summary["non_conversions"].combine_chunks(), 0.0).to_numpy()[order].astype(float)
    target = np.ones(len(order), dtype=bool) if "_target" not in summary.column_names else \
        pc.fill_null(summary["_target"].combine_chunks(), False).to_numpy(zero_copy_only=False)[order]
    empty = pc.equal(text, "").to_numpy(zero_copy_only=False)
    lists = pc.split_pattern(text, SEP)
    raw_length = pc.list_value_length(lists).to_numpy().astype(np.int64)
    raw_row = np.repeat(np.arange(len(raw_length)), raw_length)
    keep = ~empty[raw_row]
    flat = pc.list_flatten(lists).filter(pa.array(keep))
    encoded = pc.dictionary_encode(flat)
    length = np.where(empty, 0, raw_length)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]) if len(length) else np.zeros(0, np.int64)
    return _Paths(group=group[order], bkey=bkey[order], action=action, text=text, conversions=conversions,
                  total=conversions + non, length=length, start=start.astype(np.int64),
                  codes=encoded.indices.to_numpy().astype(np.int64), row_of=raw_row[keep],
                  notes=encoded.dictionary, target=target)


def _groups(bkey: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per row, the number of its (brand key, action rank) pair among the distinct pairs in ascending
    order: as one integer key per row when they fit in 63 bits (a 1-D ``unique`` is several times
    faster than one over rows of a 2-D array), else by rows."""
    if not len(bkey):
        return np.zeros(0, dtype=np.int64)
    span, low = int(ranks.max()) + 1, int(bkey.min())
    if int(bkey.max()) - low < (1 << 62) // span:
        _, group = np.unique((bkey - low) * span + ranks, return_inverse=True)
    else:
        _, group = np.unique(np.stack([bkey, ranks]), axis=1, return_inverse=True)
    return np.asarray(group, dtype=np.int64).reshape(-1)


def _bounds(sorted_values: np.ndarray, count: int) -> np.ndarray:
    """``b[i]:b[i+1]`` is the slice of value ``i`` in an ascending array of values ``0..count-1``
    (counted, not searched: one pass)."""
    bounds = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_values, minlength=count)[:count], out=bounds[1:])
    return bounds


def _markov_effects(paths: _Paths) -> np.ndarray:
    """Per touch, its note's removal effect within its group (``markov.removal_effects``)."""
    effect = np.zeros(len(paths.codes))
    groups = int(paths.group.max()) + 1 if len(paths.group) else 0
    row_bounds = _bounds(paths.group, groups)
    state = np.zeros(max(len(paths.notes), 1), dtype=np.int64)  # note code -> state in the current group
    for g in range(groups):
        lo_row, hi_row = int(row_bounds[g]), int(row_bounds[g + 1])
        lo = int(paths.start[lo_row]) if hi_row > lo_row else 0
        hi = int(paths.start[hi_row - 1] + paths.length[hi_row - 1]) if hi_row > lo_row else 0
        if hi <= lo:
            continue
        codes = paths.codes[lo:hi]
        rows = paths.row_of[lo:hi]
        # the group's notes in code order are its states 1.. (0 is start): a table look-up per touch
        # rather than a sort of the group's touches (np.unique) and a search per touch
        used = np.flatnonzero(np.bincount(codes, minlength=len(state)))
        state[used] = np.arange(1, len(used) + 1)
        local = state[codes]
        size = len(used) + 1
        weight = paths.total[rows]
        first = np.ones(len(codes), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        last = np.ones(len(codes), dtype=bool)
        last[:-1] = rows[1:] != rows[:-1]
        source = np.where(first, 0, np.concatenate([[0], local[:-1]]))
        counts = np.bincount(source * size + local, weights=weight, minlength=size * size).reshape(size, size)
        conv = np.bincount(local[last], weights=paths.conversions[rows[last]], minlength=size).astype(float)
        null = np.bincount(local[last], weights=(paths.total - paths.conversions)[rows[last]],
                           minlength=size).astype(float)
        effects = effects_from_counts(counts, conv, null)
        effect[lo:hi] = effects[local - 1]
    return effect


def _touch_sums(paths: _Paths, words: np.ndarray) -> np.ndarray:
    """Per row, the sum (mod 2**64) of its touches' words: a hash of the multiset of its notes."""
    sums = np.zeros(len(paths.length), dtype=np.uint64)
    filled = np.flatnonzero(paths.length > 0)
    if len(filled):
        sums[filled] = np.add.reduceat(words[paths.codes], paths.start[filled])
    return sums


def _mix(sums: np.ndarray, length: np.ndarray, group: np.ndarray) -> np.ndarray:
    return np.asarray(sums ^ (length.astype(np.uint64) * _MIX_LENGTH) ^ (group.astype(np.uint64) * _MIX_GROUP))


def solve_summary(summary: pa.Table, models: list[str]) -> tuple[pa.Table, pa.Table]:
    """``(paths, shares)`` as ``paths.solve_shares`` documents, for the models in ``models``.

    With a boolean ``_target`` column, only the converting paths it marks get an id and shares; the
    solve is still over every path (removal effects and path rates are the group's), so those shares
    are exactly what solving without the column gives them.
    """
    paths = _load(summary)
    converting = (paths.conversions > 0) & (paths.length > 0) & paths.target
    rows = np.flatnonzero(converting)
    pid_of_row = np.full(len(paths.length), -1, dtype=np.int64)
    pid_of_row[rows] = np.arange(len(rows))
    ids = pa.table({
        "_sbkey": pa.array(paths.bkey[rows], pa.int64()), "_saction": paths.action.take(pa.array(rows)),
        "_spath": paths.text.take(pa.array(rows)), "_pid": pa.array(np.arange(len(rows)), pa.int64())})

    # distinct notes of each converting path, in order of first appearance, with their counts
    in_conv = converting[paths.row_of]
    touch = np.flatnonzero(in_conv)
    key = paths.row_of[touch] * np.int64(max(len(paths.notes), 1)) + paths.codes[touch]
    _, first, count = np.unique(key, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    d_touch = touch[first[order]]
    d_count = count[order]
    d_row = paths.row_of[d_touch]
    d_code = paths.codes[d_touch]
    d_bounds = _bounds(pid_of_row[d_row], len(rows))  # d_row: converting rows, ascending
    last_code = paths.codes[paths.start[rows] + paths.length[rows] - 1]

    gains: dict[str, np.ndarray] = {}
    if "markov" in models:
        gains["markov"] = _markov_effects(paths)[d_touch]
    if "shapley" in models:
        gains["shapley"] = _shapley_gains(paths, d_row, d_code, d_count)

    parts: dict[str, list[pa.Array]] = {"_pid": [], "_snote": [], "_smodel": [], "_share": []}
    for model in models:
        gain = gains[model]
        totals = np.add.reduceat(gain, d_bounds[:-1]) if len(gain) else np.zeros(len(rows))
        totals = np.where(np.diff(d_bounds) > 0, totals, 0.0)
        row_total = np.repeat(totals, np.diff(d_bounds))
        keep = (row_total > 0) & (gain > 0)
        zero = np.flatnonzero(totals <= 0)
        pid = np.concatenate([pid_of_row[d_row[keep]], zero])
        codes = np.concatenate([d_code[keep], last_code[zero]])
        share = np.concatenate([gain[keep] / row_total[keep], np.ones(len(zero))])
        parts["_pid"].append(pa.array(pid, pa.int64()))
        parts["_snote"].append(paths.notes.take(pa.array(codes, pa.int64())).cast(pa.string()))
        parts["_smodel"].append(pa.array([model] * len(pid), pa.string()))
        parts["_share"].append(pa.array(share, pa.float64()))
    shares = pa.table({name: pa.chunked_array(chunks, type=_SHARE_TYPES[name]) for name, chunks in parts.items()})
    return ids, shares


_SHARE_TYPES = {"_pid": pa.int64(), "_snote": pa.string(), "_smodel": pa.string(), "_share": pa.float64()}


def _shapley_gains(paths: _Paths, d_row: np.ndarray, d_code: np.ndarray, d_count: np.ndarray) -> np.ndarray:
    """Per distinct (converting path, note): ``max(p(path) - p(path without the note), 0)``."""
    rng = np.random.default_rng(0x5EED)
    words = rng.integers(0, np.iinfo(np.int64).max, size=max(len(paths.notes), 1), dtype=np.int64).astype(np.uint64)
    sums = _touch_sums(paths, words)
    keys = _mix(sums, paths.length, paths.group)
    rate = np.divide(paths.conversions, paths.total, out=np.zeros(len(paths.total)), where=paths.total > 0)
    reduced = _mix(sums[d_row] - d_count.astype(np.uint64) * words[d_code],
                   paths.length[d_row] - d_count, paths.group[d_row])
    without = np.zeros(len(d_row))
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    # each reduced key's place among the paths' keys (one search of the few path keys, rather than
    # ``isin``, which sorts both arrays together); a hit is a place holding that very key
    place = np.searchsorted(sorted_keys, reduced)
    present = place < len(sorted_keys)
    present[present] = sorted_keys[place[present]] == reduced[present]
    hits = np.flatnonzero(present)
    if len(hits):
        lo = place[hits]
        hi = np.searchsorted(sorted_keys, reduced[hits], "right")
        # The first path holding each hit's key is nearly always the one: checked for all hits at
        # once; for the others (permutations of a path share its key), the rest of the key's paths.
        first = by_key[lo]
        same = _equal_without(paths, d_row[hits], d_code[hits], first)
        without[hits[same]] = rate[first[same]]
        for h in np.flatnonzero(~same & (hi - lo > 1)):
            others = by_key[lo[h] + 1:hi[h]]
            i = np.full(len(others), hits[h])
            found = np.flatnonzero(_equal_without(paths, d_row[i], d_code[i], others))
            if len(found):
                without[hits[h]] = rate[others[found[0]]]
    return np.asarray(np.maximum(rate[d_row] - without, 0.0), dtype=float)


def _spans(start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions ``start[k]:start[k] + length[k]`` of every ``k``, concatenated, and each one's ``k``."""
    owner = np.repeat(np.arange(len(length)), length)
    offsets = np.cumsum(length) - length
    return start[owner] + np.arange(len(owner)) - offsets[owner], owner


def _equal_without(paths: _Paths, row: np.ndarray, code: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per ``k``: whether path ``other[k]`` is path ``row[k]`` without note ``code[k]`` (every touch
    of it), in the same group: the same notes in the same order."""
    mine, owner = _spans(paths.start[row], paths.length[row])
    kept = paths.codes[mine] != code[owner]
    rest, rest_owner = paths.codes[mine][kept], owner[kept]
    rest_length = np.bincount(rest_owner, minlength=len(row))
    same = (paths.group[other] == paths.group[row]) & (paths.length[other] == rest_length)
    # where the lengths agree, compare touch by touch; both runs are in path order
    theirs, theirs_owner = _spans(paths.start[other[same]], paths.length[other[same]])
    candidates = np.flatnonzero(same)
    compared = same[rest_owner]
    differ = paths.codes[theirs] != rest[compared]
    mismatches = np.bincount(candidates[theirs_owner[differ]], minlength=len(row))
    return np.asarray(same & (mismatches == 0))
