"""Faults applied to a chunk's lake rows: missing partner days, sampling, late arrivals, duplicates.

Bot clicks are made by the behaviour itself and malformed rows only exist on the wire
(``seedcart.sim.wire``): a typed lake table cannot hold them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seedcart.sim.config import Faults

US_PER_DAY = 86_400 * 1_000_000


@dataclass
class FaultCounts:
    """How many rows each fault touched (summed over chunks)."""

    duplicates: int = 0
    late: int = 0
    sampled_out: int = 0
    missing_day_rows: int = 0
    bots: int = 0
    by_table: dict[str, int] = field(default_factory=dict)

    def add(self, other: FaultCounts) -> None:
        """Count ``other``'s faults in too."""
        for name in ("duplicates", "late", "sampled_out", "missing_day_rows", "bots"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for table, count in other.by_table.items():
            self.by_table[table] = self.by_table.get(table, 0) + count

    def as_dict(self) -> dict[str, int]:
        return {"duplicates": self.duplicates, "late": self.late, "sampled_out": self.sampled_out,
                "missing_day_rows": self.missing_day_rows, "bots": self.bots}


def drop_undelivered(rng: np.random.Generator, *, partner: np.ndarray, ts: np.ndarray, start_us: int,
                     sample_rate: np.ndarray, missing: np.ndarray, counts: FaultCounts) -> np.ndarray:
    """The mask of back-link rows a partner delivers: not on one of its missing days, and in its sample."""
    day = ((ts - start_us) // US_PER_DAY).clip(0, missing.shape[1] - 1)
    on_missing_day = missing[partner, day]
    sampled = rng.random(len(partner)) < sample_rate[partner]
    counts.missing_day_rows += int(on_missing_day.sum())
    counts.sampled_out += int((~sampled & ~on_missing_day).sum())
    delivered: np.ndarray = ~on_missing_day & sampled
    return delivered


def delay_and_duplicate(rng: np.random.Generator, table: pa.Table, faults: Faults, counts: FaultCounts,
                        *, flag_duplicates: bool) -> tuple[pa.Table, pa.Table]:
    """Make some rows late (``received_at`` days after ``ts``) and deliver some twice (same event id).

    Returns the rows and their second deliveries (a separate table, empty when there are none).
    Touch duplicates carry ``is_duplicate`` (``flag_duplicates``); backflow has no such column.
    """
    n = table.num_rows
    copies = table.slice(0, 0)
    if n == 0:
        return table, copies
    if faults.late > 0:
        late = np.flatnonzero(rng.random(n) < faults.late)
        if len(late):  # the shifts are drawn for the late rows only
            shift = (rng.integers(1, faults.late_days + 1, size=len(late)) * US_PER_DAY
                     + rng.integers(0, US_PER_DAY // 4, size=len(late)))
            received = table.column("received_at").combine_chunks()
            values = received.cast(pa.int64()).to_numpy(zero_copy_only=False).copy()
            values[late] += shift
            table = _replace(table, "received_at", pa.array(values, received.type))
            counts.late += len(late)
    if faults.duplicates > 0:
        dup = np.flatnonzero(rng.random(n) < faults.duplicates)
        if len(dup):
            copies = table.take(pa.array(dup))
            received = copies.column("received_at").cast(pa.int64()).to_numpy(zero_copy_only=False)
            received = received + rng.integers(60, 7200, size=len(dup)) * 1_000_000
            copies = _replace(copies, "received_at", pa.array(received, table.schema.field("received_at").type))
            if flag_duplicates:
                copies = _replace(copies, "is_duplicate", pa.array(np.ones(len(dup), dtype=bool)))
            counts.duplicates += len(dup)
    return table, copies


def _replace(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """``table`` with column ``name`` replaced, keeping the schema's field (and its nullability)."""
    index = table.schema.get_field_index(name)
    return table.set_column(index, table.schema.field(index), values)


def is_late(table: pa.Table, days: int = 1) -> pa.Array:
    """Rows received at least ``days`` after they happened."""
    gap = pc.subtract(table.column("received_at").cast(pa.int64()), table.column("ts").cast(pa.int64()))
    return pc.greater_equal(gap, days * US_PER_DAY)
