"""The durable log's fsync helper: a child process that makes the log's writes durable, so that the
process writing them never waits on the disk, and no thread of it waits on the interpreter lock.

Why a process: the log's appends come from an event loop (the click redirect, the intake routers).
Before, a committer thread wrote and fsynced them; each write took the interpreter lock back from
the busy loop after the disk answered, and told the outcome back through the loop's wake-up pipe
(measured on the click redirect at 64 connections: 49-60 us of CPU per click against 35-43 us with
no committer at all). Now the loop writes each entry into the page cache itself (a few us), and
asks this helper, over a Unix socket, to ``fdatasync`` the segment; the helper answers with the
request it synced up to, and the loop settles the appends that request covered. An ``fdatasync``
makes every written page of the file durable whichever descriptor wrote it, and a request is sent
only after the writes it covers have returned, so an append is settled only once it is on disk.

The protocol, on a ``SOCK_STREAM`` socket pair:

- loop -> helper: a request is 8 bytes, ``<Q`` sequence number (increasing). A request may carry a
  descriptor (``SCM_RIGHTS``): the segment the log writes into from now on. The helper first
  fdatasyncs the segment it had (every request before this one was on it; the log has cut it back to
  its entries), then adopts the new one. A directory's descriptor after it (a segment roll) is the
  directory that names the new segment: the helper fsyncs it, so that the new file's name is durable
  before anything written in it is acknowledged, and closes it.
- helper -> loop: 8 bytes ``<q``: the highest sequence number whose writes are durable; or
  ``-errno`` when an fdatasync failed, after which the helper exits (the log refuses further appends).
- End of file from the loop: the helper syncs what it has and exits.

The helper reads every request waiting on the socket before it syncs: requests sent during an
fdatasync share the next one (group commit).
"""

from __future__ import annotations

import array
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
from typing import Final

REQUEST: Final = struct.Struct("<Q")
REPLY: Final = struct.Struct("<q")
_READ_BYTES: Final = 64 * REQUEST.size
_ANCILLARY: Final = socket.CMSG_SPACE(8 * array.array("i").itemsize)  # room for several descriptors


def _sync(fd: int) -> int:
    """0, or the errno of a failed fdatasync."""
    try:
        os.fdatasync(fd)
    except OSError as exc:
        return exc.errno or 5
    return 0


def _sync_directory(fd: int) -> int:
    """0, or the errno of a failed fsync of a directory (whose descriptor is closed either way)."""
    try:
        os.fsync(fd)
    except OSError as exc:
        return exc.errno or 5
    finally:
        os.close(fd)
    return 0


def serve(sock: socket.socket) -> int:
    """The helper's loop over ``sock`` until end of file; the process exit status."""
    fd = -1
    pending = b""
    while True:
        data, fds = _receive(sock, block=True)
        if not data and not fds:
            return 0 if fd < 0 else (1 if _sync(fd) else 0)
        synced_to = -1
        while True:  # everything queued so far goes into one fdatasync
            for new in fds:
                if stat.S_ISDIR(os.fstat(new).st_mode):  # names the segment just adopted
                    error = _sync_directory(new)
                elif fd >= 0:
                    error = _sync(fd)
                    os.close(fd)
                    fd = new
                else:
                    error, fd = 0, new
                if error:
                    sock.sendall(REPLY.pack(-error))
                    return 1
            pending += data
            whole = len(pending) - len(pending) % REQUEST.size
            for (seq,) in REQUEST.iter_unpack(pending[:whole]):
                synced_to = max(synced_to, seq)
            pending = pending[whole:]
            data, fds = _receive(sock, block=False)
            if not data and not fds:
                break
        if synced_to < 0:
            continue
        error = _sync(fd) if fd >= 0 else 0
        sock.sendall(REPLY.pack(-error if error else synced_to))
        if error:
            return 1


def _receive(sock: socket.socket, *, block: bool) -> tuple[bytes, list[int]]:
    """Bytes and descriptors waiting on ``sock`` (``b"", []`` at end of file or, not blocking, when
    nothing waits)."""
    try:
        data, ancillary, _flags, _addr = sock.recvmsg(_READ_BYTES, _ANCILLARY, 0 if block else socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b"", []
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
            fds.extend(received)
    return data, fds


def spawn() -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start a helper; returns it and the loop's end of its socket (blocking; the caller sets it
    non-blocking to read replies from an event loop)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        child = subprocess.Popen([sys.executable, "-m", "seedcart.collect.syncer", str(theirs.fileno())],
                                 pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True,
                                 env={**os.environ, "SEEDCART_PURE_PYTHON": "1"})  # it runs no hot module
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return child, ours


def main(argv: list[str] | None = None) -> int:
    """``python -m seedcart.collect.syncer FD``: serve the socket at descriptor ``FD``."""
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C in a terminal reaches the whole process group: the log stops on its own terms (it
    # closes the socket once drained), and a helper dying first would fail the last appends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(args[0]))
    try:
        return serve(sock)
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
