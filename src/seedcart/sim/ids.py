"""Vectorised, collision-free ids for the simulator: hex event ids, click ids, short-link codes.

Ids are ``<8 hex of a chunk tag><8 hex of the row>``: the chunk tag is a bijective mix of
(namespace, seed, chunk number), so ids never collide within a namespace and the same world
always gets the same ids, while rows of one chunk share a prefix and compress well.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa

_M32: Final = 0xFFFFFFFF
#: Four-byte ASCII hex of every 16-bit value, little-endian, so ``_HEX_QUADS[v]`` viewed as bytes is "hhhh"
#: (256 KiB: a uint64 takes four look-ups instead of eight of a byte table).
_HEX_QUADS: Final = np.array([int.from_bytes(f"{i:04x}".encode(), "little") for i in range(1 << 16)],
                             dtype=np.uint32)
BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#: Namespaces of ids, so that a touch id never equals a click id of the same chunk.
NS_TOUCH: Final = 1
NS_BACKFLOW: Final = 2
NS_CLICK: Final = 3
NS_ORDER: Final = 4
NS_NOTE: Final = 5
NS_IP: Final = 6


def mix32(value: int) -> int:
    """A bijection of 32-bit integers (multiply by odd constants and xor-shift)."""
    x = value & _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


def chunk_tag(namespace: int, seed: int, chunk: int) -> int:
    """The 32-bit prefix of the ids of one chunk: distinct chunks of one namespace and seed never share it."""
    salt = mix32((seed * 0x9E3779B1 + namespace * 0x85EBCA77) & _M32)
    return mix32((chunk & _M32) ^ salt)


def hex_ids(tag: int, count: int, first: int = 0) -> pa.StringArray:
    """``count`` 16-character hex ids ``<tag><row>`` for rows ``first .. first+count-1``."""
    rows = (np.arange(first, first + count, dtype=np.uint64) & np.uint64(_M32)).astype(np.uint32)
    # The tag's 8 characters are the same on every row: only the row's are looked up.
    data = np.empty((count, 4), dtype=np.uint32)
    data[:, 0] = _HEX_QUADS[(tag >> 16) & 0xFFFF]
    data[:, 1] = _HEX_QUADS[tag & 0xFFFF]
    np.take(_HEX_QUADS, rows >> 16, out=data[:, 2], mode="wrap")  # "wrap": unbuffered (all in range)
    np.take(_HEX_QUADS, rows & 0xFFFF, out=data[:, 3], mode="wrap")
    offsets = np.arange(0, 16 * count + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


def hex_strings(values: np.ndarray) -> pa.StringArray:
    """Each uint64 of ``values`` as 16 lower-case hex characters, built without Python strings."""
    count = len(values)
    data = np.take(_HEX_QUADS, np.ascontiguousarray(values, dtype=">u8").view(">u2"))
    offsets = np.arange(0, 16 * count + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


def splitmix(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser over a uint64 array: a bijection that looks random."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform_hash(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """A uniform float in [0, 1) determined by the pair (a, b) and ``salt``; vectorised."""
    with np.errstate(over="ignore"):
        key = (a.astype(np.uint64) * np.uint64(0x100000001B3)) ^ (b.astype(np.uint64) << np.uint64(40)) \
            ^ np.uint64(salt & 0xFFFFFFFFFFFF)
    return (splitmix(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def base62_codes(rng: np.random.Generator, count: int, length: int = 8) -> list[str]:
    """``count`` distinct random base62 codes of ``length`` characters drawn from ``rng``."""
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < count:
        draws = rng.integers(0, 62, size=(count - len(codes), length))
        for row in draws:
            code = "".join(BASE62[i] for i in row)
            if code not in seen:
                seen.add(code)
                codes.append(code)
    return codes
