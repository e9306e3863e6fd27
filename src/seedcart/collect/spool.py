"""Spooling uploads to disk without raw identifiers ever reaching it in clear (DESIGN §4).

A bulk backflow file must be on disk before its signature can be checked (it may be larger than
memory), yet it may hold raw phone numbers or device ids. So the spool is encrypted with a key
that lives only in this process's memory: byte ``i`` is XORed with byte ``i`` of the keystream
SHAKE-256(key || block number), block by block. The file is unreadable once the process is
gone, and the reader below decrypts at any offset (Parquet readers seek).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path
from typing import Any

BLOCK = 1 << 20


class _Keystream:
    """The keystream of one spool, a block at a time (the last block is cached)."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._block = -1
        self._bytes = b""

    def block(self, index: int) -> bytes:
        if index != self._block:
            self._bytes = hashlib.shake_256(self.key + index.to_bytes(8, "little")).digest(BLOCK)
            self._block = index
        return self._bytes

    def xor(self, offset: int, data: bytes | bytearray | memoryview) -> bytes:
        """``data`` XOR the keystream from ``offset``."""
        out = bytearray()
        view = memoryview(data)
        while view:
            index, within = divmod(offset, BLOCK)
            take = min(len(view), BLOCK - within)
            stream = self.block(index)[within:within + take]
            mixed = int.from_bytes(view[:take], "little") ^ int.from_bytes(stream, "little")
            out += mixed.to_bytes(take, "little")
            view = view[take:]
            offset += take
        return bytes(out)


class SpoolWriter:
    """Appends encrypted bytes to a new file; ``key`` opens it again with :class:`SpoolReader`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.key = secrets.token_bytes(32)
        self._stream = _Keystream(self.key)
        self._fh = open(self.path, "xb")  # noqa: SIM115 - closed by close()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._fh.write(self._stream.xor(self.size, data))
        self.size += len(data)

    def close(self) -> None:
        self._fh.close()


class SpoolReader(io.RawIOBase):
    """A seekable, readable view of the clear bytes of an encrypted spool."""

    def __init__(self, path: Path, key: bytes) -> None:
        super().__init__()
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._stream = _Keystream(key)
        self._size = os.fstat(self._fh.fileno()).st_size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        offset = self._fh.tell()
        data = self._fh.read(len(buffer))
        clear = self._stream.xor(offset, data)
        buffer[:len(clear)] = clear
        return len(clear)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def size(self) -> int:
        """Length of the spool in bytes."""
        return self._size

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
        super().close()


def open_clear(path: Path, key: bytes | None) -> io.BufferedReader:
    """A buffered reader of a file: decrypted when ``key`` is given (a spool), else as it is."""
    raw: io.RawIOBase = SpoolReader(path, key) if key is not None else io.FileIO(path, "rb")
    return io.BufferedReader(raw, buffer_size=BLOCK)
