"""What a command has read stays until it ends: the garbage collector need not walk it meanwhile."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def kept_until_done() -> Iterator[None]:
    """Within the block, collections skip every object that exists when it starts (``gc.freeze``).

    For a command that has just read a large report it keeps to its end: at 2,000 nodes the scan's
    due selection spent 0.25 s of its 0.4 s in collections walking the read's objects. At the end
    of the block they are collectable again (``gc.unfreeze``), so a caller in a longer-lived
    process (a test calling the command in-process) loses nothing.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
