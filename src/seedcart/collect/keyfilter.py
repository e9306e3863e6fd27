"""A Bloom filter of dedupe keys, in this process's memory: which keys the SQLite index surely lacks.

Why: a request's messageIds are nearly all new, and with random ids (UUIDs) each lookup in the SQLite
file lands on a page of its own (1.8 us per key at a million keys, growing with the file). The filter
answers "surely not recorded" for almost all of them from memory, in a few numpy operations per
batch; only the keys it might hold (the recorded ones, and about 1 % of the others) go to SQLite.

Exactness: a Bloom filter never forgets a key it was given, so "not in the filter" is exact as long as
every key the file holds was given to it (see ``DedupeIndex.load_filter``); a key it wrongly holds
only costs a lookup. Keys forgotten by expiry stay in it (lookups for them go to SQLite, which
answers no). The hash is Python's own ``hash`` of the string (64-bit SipHash, salted per process,
cached on the string object): the filter never leaves the process that built it.

Growth: the filter is a list of parts; when the newest part holds its capacity, a new part twice as
large is added (a key is in the filter when some part holds it), so the false positive rate stays
near each part's design rate however many keys come.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

#: Bits per key and hash functions per key: about a 1 % false positive rate at capacity.
BITS_PER_KEY: Final = 10
HASHES: Final = 7
_STEPS: Final = np.arange(HASHES, dtype=np.uint64).reshape(-1, 1)


def _hashes(keys: Sequence[str]) -> npt.NDArray[np.uint64]:
    return np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys)).view(np.uint64)


class _Part:
    """One fixed-size Bloom filter of ``capacity`` keys (bits: a power of two)."""

    def __init__(self, capacity: int) -> None:
        bits = 1 << max(10, (capacity * BITS_PER_KEY - 1).bit_length())
        self.capacity = capacity
        self.count = 0
        self.mask = np.uint64(bits - 1)
        self.bits = np.zeros(bits // 8, dtype=np.uint8)

    def _positions(self, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """``(HASHES, n)`` bit positions (double hashing: h + i * h2, h2 odd, in wrapping uint64)."""
        step = (hashes >> np.uint64(33)) | np.uint64(1)
        positions: npt.NDArray[np.uint64] = (hashes + _STEPS * step) & self.mask
        return positions

    def add(self, hashes: npt.NDArray[np.uint64]) -> None:
        positions = self._positions(hashes).ravel()
        np.bitwise_or.at(self.bits, positions >> np.uint64(3),
                         np.left_shift(1, positions & np.uint64(7)).astype(np.uint8))
        self.count += len(hashes)

    def holds(self, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        positions = self._positions(hashes)
        found = (self.bits[positions >> np.uint64(3)] >> (positions & np.uint64(7)).astype(np.uint8)) & 1
        held: npt.NDArray[np.bool_] = found.all(axis=0)
        return held


class KeyFilter:
    """The keys given to :meth:`add`, and some others: :meth:`might_hold` is never wrong about a key it
    was given (it holds it), and about 1 % of the rest it wrongly holds."""

    def __init__(self, capacity: int = 1 << 20) -> None:
        self._parts = [_Part(max(1024, capacity))]
        self._adding = threading.Lock()

    def add(self, keys: Iterable[str]) -> None:
        """Remember ``keys``. Safe from several threads (adds take turns: setting bits is a read, an or
        and a write of each byte, which two threads at once could undo for each other); a lookup meanwhile
        may not see the keys being added yet."""
        batch = keys if isinstance(keys, Sequence) else list(keys)
        with self._adding:
            self._add(batch)

    def _add(self, batch: Sequence[str]) -> None:
        while batch:
            part = self._parts[-1]
            room = part.capacity - part.count
            if room <= 0:
                self._parts.append(_Part(part.capacity * 2))
                continue
            head, batch = batch[:room], batch[room:]
            part.add(_hashes(head))

    def might_hold(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` the filter may hold (every one it was given among them, in order)."""
        if not keys:
            return []
        hashes = _hashes(keys)
        held = self._parts[0].holds(hashes)
        for part in self._parts[1:]:
            held |= part.holds(hashes)
        return [key for key, hit in zip(keys, held.tolist(), strict=True) if hit]

    @property
    def keys(self) -> int:
        """How many keys were added (repeats counted)."""
        return sum(part.count for part in self._parts)

    @property
    def nbytes(self) -> int:
        """Memory the bits take."""
        return sum(part.bits.nbytes for part in self._parts)
