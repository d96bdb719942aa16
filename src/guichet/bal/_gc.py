"""Pausing Python's cyclic garbage collector around work that allocates millions of acyclic
objects (cells, rows, codes)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic objects are allocated.

    The collector would scan them again and again (it tripled the time of a 300k-row file);
    nothing built under it forms reference cycles. Left as it was found (a caller that had
    paused it keeps it paused).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
