"""Intent journals that make multi-file changes of a lake partition crash-safe.

A change that swaps some files of a partition for others (compaction merging small files,
a derived table being replaced) first writes a journal ``_txn-<id>.json`` into the partition
naming its ``inputs`` (files to retire) and ``outputs`` (files to add). The outputs are then
committed one by one (each atomically, see ``writer.write_parquet_atomic``); the moment the
last one exists is the commit point. Afterwards the inputs are deleted, then the journal.

While a journal is present, :func:`visible_files` resolves it the way recovery will:

- every output exists (committed): the inputs are hidden, they are superseded;
- some output is missing (not committed): the outputs that exist are hidden.

So a reader sees each row once whether it runs before, during or after a crash, and
:func:`recover` (run under the table lock by the next compaction or replacement) rolls each
journal forward or back to make the files on disk say the same thing.

A query that listed its files just before a change deleted some of them fails with a missing
file; run it again (it then reads the merged file).

File names beginning with ``_`` or ``.`` are ignored by Parquet readers (DuckDB globs only
``*.parquet``; Spark skips them), so journals and temp files never read as data.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedcart.errors import SchemaError, StorageUnavailable

logger = logging.getLogger(__name__)

JOURNAL_GLOB = "_txn-*.json"
_LIST_ATTEMPTS = 20


@dataclass(frozen=True)
class Txn:
    """One journal: the partition it lives in, what it retires and what it adds."""

    path: Path
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def partition(self) -> Path:
        return self.path.parent

    def committed(self) -> bool:
        """Whether every output exists (the inputs are then superseded)."""
        return all((self.partition / name).exists() for name in self.outputs)


def fsync_dir(path: Path) -> None:
    """Make a rename, creation or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def begin(partition: Path, *, kind: str, inputs: Sequence[str], outputs: Sequence[str],
          **info: Any) -> Txn:
    """Durably record the intent to retire ``inputs`` and add ``outputs`` (names in ``partition``)."""
    partition.mkdir(parents=True, exist_ok=True)
    path = partition / f"_txn-{uuid.uuid4().hex}.json"
    body = json.dumps({"kind": kind, "inputs": list(inputs), "outputs": list(outputs), **info}).encode()
    tmp = partition / f".{path.name}.tmp"
    with open(tmp, "wb") as raw:
        raw.write(body)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    fsync_dir(partition)
    return Txn(path=path, kind=kind, inputs=tuple(inputs), outputs=tuple(outputs))


def _load(path: Path) -> Txn:
    body = json.loads(path.read_bytes())
    return Txn(path=path, kind=str(body.get("kind", "")), inputs=tuple(body["inputs"]),
               outputs=tuple(body["outputs"]))


def read_journals(partition: Path) -> list[Txn]:
    """The journals present in a partition (unreadable ones are logged and skipped)."""
    out = []
    for path in sorted(partition.glob(JOURNAL_GLOB)):
        try:
            out.append(_load(path))
        except FileNotFoundError:  # finished by someone else while we listed
            continue
        except (ValueError, KeyError):
            logger.error("lake journal %s is unreadable; leaving it for an operator", path)
    return out


def visible_files(partition: Path) -> list[Path]:
    """The partition's committed Parquet files, each row once, with pending journals resolved.

    One directory listing is the snapshot: a journal counts as committed when all its outputs
    are in that same listing, so a change committing between the listing and the check cannot
    hide both sides. A journal that disappears while it is read means the change finished
    meanwhile; the listing is then taken again.
    """
    for _ in range(_LIST_ATTEMPTS):
        try:
            names = set(os.listdir(partition))
        except FileNotFoundError:
            return []
        try:
            journals = [_load(partition / name) for name in sorted(names)
                        if name.startswith("_txn-") and name.endswith(".json")]
        except FileNotFoundError:
            continue
        except (ValueError, KeyError) as exc:
            raise SchemaError(f"lake journal in {partition} is unreadable ({exc}); an operator must resolve it",
                              path=str(partition)) from exc
        hidden: set[str] = set()
        for txn in journals:
            committed = all(name in names for name in txn.outputs)
            hidden.update(txn.inputs if committed else txn.outputs)
        return [partition / name for name in sorted(names)
                if name.endswith(".parquet") and not name.startswith((".", "_")) and name not in hidden]
    raise StorageUnavailable(f"lake partition {partition} kept changing while it was listed", path=str(partition))


def finish(txn: Txn, *, step: Callable[[str], None] | None = None) -> None:
    """Roll a committed journal forward: delete its inputs, then the journal itself.

    ``step`` is called with ``delete:<name>`` before each deletion and ``journal`` before the
    journal's (tests use it to stop in between).
    """
    for name in txn.inputs:
        if step is not None:
            step(f"delete:{name}")
        (txn.partition / name).unlink(missing_ok=True)
    fsync_dir(txn.partition)
    if step is not None:
        step("journal")
    txn.path.unlink(missing_ok=True)
    fsync_dir(txn.partition)


def abort(txn: Txn) -> None:
    """Roll an uncommitted journal back: delete the outputs it got to (and their temp files)."""
    for name in txn.outputs:
        (txn.partition / name).unlink(missing_ok=True)
        for tmp in txn.partition.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    fsync_dir(txn.partition)
    txn.path.unlink(missing_ok=True)
    fsync_dir(txn.partition)


def recover(partition: Path) -> int:
    """Resolve every journal left in a partition by a crash; returns how many there were.

    Call it only under the table lock (:func:`table_lock`), never beside a running change.
    """
    journals = read_journals(partition)
    for txn in journals:
        if txn.committed():
            logger.warning("lake: rolling %s forward (%s, %d inputs)", txn.path, txn.kind, len(txn.inputs))
            finish(txn)
        else:
            logger.warning("lake: rolling %s back (%s, outputs not all written)", txn.path, txn.kind)
            abort(txn)
    return len(journals)


@contextmanager
def table_lock(root: str | Path, table: str) -> Iterator[None]:
    """An exclusive lock on one lake table for changes that retire files (compaction, replacement).

    Appends do not take it: they only add files, which no journal names.
    """
    directory = Path(root) / table
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
