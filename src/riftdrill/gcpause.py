"""Pausing Python's cyclic garbage collector around bulk work that builds millions of objects.

A verify builds millions of small objects that all live to its end (acks, read columns,
identity tuples); the cyclic collector would rescan them again and again for nothing: it cost
about 60% of reading a ledger of 1M acks (verify/bench.py). Reference counting still frees what
dies; the collector runs again afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
