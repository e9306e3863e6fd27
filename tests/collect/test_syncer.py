"""The durable log's fsync helper process, spoken to over its socket as the log speaks to it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from seedcart.collect import syncer


def _reply(sock: socket.socket) -> int:
    data = b""
    while len(data) < syncer.REPLY.size:
        chunk = sock.recv(syncer.REPLY.size - len(data))
        assert chunk, "the helper closed its socket"
        data += chunk
    return int(syncer.REPLY.unpack(data)[0])


def test_the_helper_syncs_the_segment_it_was_sent_answers_the_last_request_and_exits_at_eof(tmp_path: Path) -> None:
    child, sock = syncer.spawn()
    first = os.open(tmp_path / "a", os.O_RDWR | os.O_CREAT, 0o644)
    second = os.open(tmp_path / "b", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(first, b"entry")
        socket.send_fds(sock, [syncer.REQUEST.pack(1)], [first])
        assert _reply(sock) == 1
        sock.sendall(syncer.REQUEST.pack(2) + syncer.REQUEST.pack(3))  # waiting together: one answer covers both
        answers = [_reply(sock)]
        if answers[0] != 3:
            answers.append(_reply(sock))
        assert answers[-1] == 3 and answers == sorted(answers)
        socket.send_fds(sock, [syncer.REQUEST.pack(4)], [second])  # the log rolled to a new segment
        assert _reply(sock) == 4
        sock.shutdown(socket.SHUT_WR)
        assert child.wait(timeout=10) == 0
    finally:
        sock.close()
        os.close(first)
        os.close(second)


def test_a_failed_fdatasync_is_told_as_its_errno_and_the_helper_stops(tmp_path: Path) -> None:
    child, sock = syncer.spawn()
    read_end, write_end = os.pipe()  # a pipe cannot be fdatasynced (EINVAL)
    try:
        socket.send_fds(sock, [syncer.REQUEST.pack(1)], [write_end])
        answer = _reply(sock)
        assert answer < 0 and os.strerror(-answer)
        assert child.wait(timeout=10) == 1
    finally:
        sock.close()
        os.close(read_end)
        os.close(write_end)


def test_a_directory_sent_after_a_new_segment_is_fsynced_and_closed_before_the_answer(tmp_path: Path) -> None:
    child, sock = syncer.spawn()
    first = os.open(tmp_path / "a", os.O_RDWR | os.O_CREAT, 0o644)
    second = os.open(tmp_path / "b", os.O_RDWR | os.O_CREAT, 0o644)
    directory = os.open(tmp_path, os.O_RDONLY)
    try:
        os.write(first, b"entry")
        socket.send_fds(sock, [syncer.REQUEST.pack(1)], [first])
        assert _reply(sock) == 1
        os.ftruncate(first, 2)  # the log cuts the old segment back; the helper's fdatasync covers it
        socket.send_fds(sock, [syncer.REQUEST.pack(2)], [second, directory])  # a roll
        assert _reply(sock) == 2
        sock.shutdown(socket.SHUT_WR)
        assert child.wait(timeout=10) == 0
    finally:
        sock.close()
        for fd in (first, second, directory):
            os.close(fd)
