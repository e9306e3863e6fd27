"""What a benchmark reads of a server process from ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` (all its threads) and of its direct
    children (nginx's worker, seedcart's lake flush worker); NaN once it is gone."""
    total = 0.0
    try:
        children = [c for task in Path(f"/proc/{pid}/task").iterdir()  # a child belongs to the thread that made it
                    for c in (task / "children").read_text().split()]
        for each in [str(pid), *children]:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")
    return total
