"""The garbage collector of a long-running seedcart process (the server, its lake flush worker).

CPython's cyclic collector runs after every ~700 net container allocations, and each run walks the
youngest generation; objects that live a little longer (a request's records, held until their log
append is fsynced) are promoted and make the older generations' runs, which walk the whole heap,
come often. A server's heap is mostly what it imported and built at start (FastAPI, pyarrow,
DuckDB, Ibis, the catalog): tens of megabytes the collector walks again and again for nothing.
Measured on the intake benchmark, the collector took about a third of the server's CPU.

:func:`settled` therefore, once the process has started, collects once, freezes what is alive
(``gc.freeze``: moved to a generation the collector never walks) and raises the youngest
generation's threshold, so a collection runs per ``young_threshold`` allocations. Reference
counting still frees everything that is not in a cycle at once; cycles are still collected, less
often. On exit the heap is unfrozen and the thresholds restored (tests start many servers in one
process, and what a frozen server leaves behind must be collectable).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between collections of the youngest generation (CPython's default is 700).
YOUNG_THRESHOLD = 50_000


@contextmanager
def settled(young_threshold: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Freeze the start-up heap and collect the young generation every ``young_threshold``
    allocations for the life of the block (0: leave the collector as it is)."""
    if young_threshold <= 0:
        yield
        return
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
