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

#: Bits per key and bits set per key. All of a key's bits are in one 64-bit word (a blocked Bloom
#: filter): a lookup or an add touches one word of memory, not one cache line per bit, and numpy works
#: on one value per key. The block costs some accuracy, bought back with bits: at 12 bits per key and 7
#: bits set, about 1.2 % false positives at capacity (a standard filter at 10 bits: 0.8 %).
BITS_PER_KEY: Final = 12
HASHES: Final = 7
#: The word's bit numbers come from the top 42 bits of the key's hash times this odd constant (a
#: multiplicative hash mixes into its high bits); the word's number from the hash's low bits.
_MIX: Final = np.uint64(0x9E3779B97F4A7C15)
_SHIFTS: Final = np.array([64 - 6 * (i + 1) for i in range(HASHES)], dtype=np.uint64).reshape(-1, 1)
_SIX_BITS: Final = np.uint64(63)
_ONE: Final = np.uint64(1)


def _hashes(keys: Sequence[str]) -> npt.NDArray[np.uint64]:
    return np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys)).view(np.uint64)


def _masks(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Each key's word mask: HASHES bits (some may coincide) chosen by its mixed hash."""
    with np.errstate(over="ignore"):
        mixed = hashes * _MIX  # wraps: the product modulo 2**64
    masks: npt.NDArray[np.uint64] = np.bitwise_or.reduce(_ONE << ((mixed >> _SHIFTS) & _SIX_BITS), axis=0)
    return masks


class _Part:
    """One fixed-size blocked Bloom filter of ``capacity`` keys (words: a power of two)."""

    def __init__(self, capacity: int) -> None:
        words = 1 << max(4, (capacity * BITS_PER_KEY - 1).bit_length() - 6)
        self.capacity = capacity
        self.count = 0
        self.mask = np.uint64(words - 1)
        self.words = np.zeros(words, dtype=np.uint64)

    def add(self, hashes: npt.NDArray[np.uint64], masks: npt.NDArray[np.uint64]) -> None:
        words, index = self.words, hashes & self.mask
        while len(index):  # a key whose word another key of the batch also set may lose its bits: again
            words[index] |= masks
            lost = (words[index] & masks) != masks
            index, masks = index[lost], masks[lost]
        self.count += len(hashes)

    def holds(self, hashes: npt.NDArray[np.uint64], masks: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        held: npt.NDArray[np.bool_] = (self.words[hashes & self.mask] & masks) == masks
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
            hashes = _hashes(head)
            part.add(hashes, _masks(hashes))

    def might_hold(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` the filter may hold (every one it was given among them, in order)."""
        if not keys:
            return []
        hashes = _hashes(keys)
        masks = _masks(hashes)
        held = self._parts[0].holds(hashes, masks)
        for part in self._parts[1:]:
            held |= part.holds(hashes, masks)
        return [keys[i] for i in np.flatnonzero(held).tolist()]  # few: the recorded keys and ~1 % more

    @property
    def keys(self) -> int:
        """How many keys were added (repeats counted)."""
        return sum(part.count for part in self._parts)

    @property
    def nbytes(self) -> int:
        """Memory the bits take."""
        return sum(part.words.nbytes for part in self._parts)
