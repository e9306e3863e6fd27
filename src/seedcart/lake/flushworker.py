"""The lake flusher in a process of its own, beside the server.

Turning log entries into Parquet is Python work (decoding records, building Arrow columns) that
holds the interpreter lock for tens of milliseconds a second under load; in the server's process
that is time taken from requests, and it shows as the slowest clicks (DESIGN §6 measures p99).
:class:`FlushWorker` runs the same :class:`~seedcart.lake.ingest.LakeFlusher` steps in a child
process (``python -m seedcart.lake.flushworker``), which reads the log's segments from disk and
writes the lake and the dedupe index's SQLite file, exactly as the thread did.

The protocol is one JSON line each way over the child's stdin and stdout: the server sends
``{"flush": <fsynced log position>}``, the child answers ``{"rows": n, "status": {...}}`` or
``{"error": "...", "status": {...}}``. One step at a time, so there is only ever one writer of
the lake's log files and of the checkpoint: the server flushes itself only before the child
starts (replay) and after it stops (drain). A child that dies is started again on the next
step, and redoes an interrupted step over the same range (the checkpoint's intent). A child
whose server goes away sees its stdin close and exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from seedcart.collect.dedupe import DedupeIndex, Retention
from seedcart.errors import StorageUnavailable
from seedcart.heap import settled

logger = logging.getLogger(__name__)


#: The dedupe retention, per family, as the child receives it (seconds).
RETENTION_FIELDS = tuple(f.name for f in fields(Retention))


class FlushWorker:
    """The server's side: ``flush(upto)`` runs a step in the child and waits for it (call it from a
    worker thread); ``flushed`` and ``status()`` are the child's last report."""

    def __init__(self, log_dir: Path, lake_root: str, dedupe_path: Path, node_id: str, *,
                 max_records: int, status: dict[str, Any], retention: Retention | None = None) -> None:
        """``status``: the server's own flusher's, where the child takes over (after the replay);
        ``retention``: the dedupe index's (the child records keys, so it is the one that forgets them)."""
        keep = retention or Retention()
        self.args = {"log_dir": str(log_dir), "lake_root": lake_root, "dedupe_path": str(dedupe_path),
                     "node_id": node_id, "max_records": max_records,
                     "retention_s": {name: getattr(keep, name).total_seconds() for name in RETENTION_FIELDS}}
        self.rows_written = int(status["rows_written"])  # by this server, whichever process wrote them
        self.starts = 0
        self._status = dict(status)
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()  # one step at a time

    def start(self) -> None:
        """Start the child (it warms up while the server starts serving)."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen[str]:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        if proc is not None:
            logger.error("the lake flush worker exited with %s; starting it again", proc.returncode)
        self._proc = proc = subprocess.Popen(
            [sys.executable, "-m", "seedcart.lake.flushworker", json.dumps(self.args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.starts += 1
        return proc

    def flush(self, upto: int) -> int:
        """Flush the log into the lake up to position ``upto`` in the child; rows written.

        Raises StorageUnavailable when the child fails the step or dies (it is started again on
        the next call); its checkpoint makes the retry redo exactly the interrupted range."""
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps({"flush": upto}) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, OSError) as exc:
                raise StorageUnavailable(f"the lake flush worker went away: {exc}") from exc
            if not line:
                proc.wait()
                raise StorageUnavailable(f"the lake flush worker exited with {proc.returncode}")
            reply = json.loads(line)
            self._status = reply["status"]
            if "error" in reply:
                raise StorageUnavailable(f"the lake flush failed: {reply['error']}")
            self.rows_written += int(reply["rows"])
            return int(reply["rows"])

    @property
    def flushed(self) -> int:
        """The log position up to which the lake holds everything (the child's last report)."""
        return int(self._status["flushed"])

    def status(self) -> dict[str, Any]:
        """The child's last report, its process id and how often it was started."""
        proc = self._proc
        return {**self._status, "rows_written": self.rows_written, "process": None if proc is None else proc.pid,
                "starts": self.starts}

    def stop(self, timeout: float = 60.0) -> None:
        """Let the step in progress end, then stop the child."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # EOF: the child exits after its current step
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.error("the lake flush worker did not stop in %.0f s; killing it", timeout)
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def serve(args: dict[str, Any], requests: TextIO, replies: TextIO) -> None:
    """The child's loop: one flush step per request line, until the requests end."""
    from seedcart.lake.ingest import LakeFlusher, warm_up  # (ingest imports this module)

    warm_up()
    retention = Retention(**{name: timedelta(seconds=float(seconds))
                             for name, seconds in args.get("retention_s", {}).items()})
    index = DedupeIndex(Path(args["dedupe_path"]), retention=retention)
    try:
        with settled():  # the warmed-up heap is frozen
            flusher = LakeFlusher(Path(args["log_dir"]), args["lake_root"], index, args["node_id"],
                                  max_records=int(args["max_records"]))
            for line in requests:
                upto = int(json.loads(line)["flush"])
                try:
                    reply: dict[str, Any] = {"rows": flusher.flush(upto)}
                except Exception as exc:
                    logger.exception("lake flush failed")
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                reply["status"] = flusher.status()
                replies.write(json.dumps(reply) + "\n")
                replies.flush()
    finally:
        index.close()


def main() -> None:
    """``python -m seedcart.lake.flushworker '<json args>'``: started by :class:`FlushWorker`."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s flushworker %(levelname)s %(message)s",
                        stream=sys.stderr)
    serve(json.loads(sys.argv[1]), sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
