"""Batch work (an audit's accounts, a pre-flight check's launches, an impact's comparison) runs with Python's
cyclic garbage collector paused.

Such work makes millions of short-lived containers (a copy of the world per fix round, a request context per
decision) while the loaded snapshot, hundreds of thousands of objects, stays alive: each of the collector's
passes over the older generations walks that whole snapshot and finds nothing to free (the simulation's objects
hold no cycles and are freed by reference counting as soon as they are dropped). Measured on the 50-account
organization of ``bench/make_org.py``, the collector took a third of the audit's time. Paused, what a cycle
would keep is kept until the work ends and the collector is on again; ``bench/bench_audit.py`` shows peak
memory staying in proportion to the snapshot.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block, and put it back as it was (calls may nest)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
