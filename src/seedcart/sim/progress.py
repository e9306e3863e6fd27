"""The ``seedcart simulate`` command's body: a world written with a rich progress bar on stderr."""

from __future__ import annotations

from datetime import date
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from seedcart.config import Settings, load_settings
from seedcart.sim.config import Faults, WorldConfig
from seedcart.sim.run import simulate


def simulate_command(*, users: int, days: int, seed: int, start: date | None = None, faults: bool = True,
                     settings: Settings | None = None) -> dict[str, Any]:
    """Simulate into the data dir of ``settings`` (default: the environment's) and return the summary."""
    settings = settings or load_settings()
    config = WorldConfig(users=users, days=days, seed=seed, faults=Faults() if faults else Faults.off())
    if start is not None:
        config = config.replace(start=start)
    columns = (TextColumn("simulating {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"{users} users x {days} days", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = simulate(settings, config, progress=report)
    return summary.to_dict()
