"""What the process's connection pools share: they keep what they hold only while a scope is held.

Both the CLI session pool (:mod:`certops.cucm.shell`) and the HTTPS client pool
(:mod:`certops.cucm.keepalive`) keep connections between the steps of a renewal while the renewal
holds a scope, and let go of every idle one when the last scope ends. Scopes nest and may be held
from several threads; the count and the pool's own state share one lock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Self


class ScopedPool:
    """A pool that keeps only while some :meth:`scope` is held; subclasses say how to let go (:meth:`close_idle`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes = 0

    @property
    def active(self) -> bool:
        """True while some scope is held (the pool keeps what is given back)."""
        with self._lock:
            return self._scopes > 0

    @contextlib.contextmanager
    def scope(self) -> Iterator[Self]:
        """Keep while inside; the last scope to end lets go of every idle connection (:meth:`close_idle`)."""
        with self._lock:
            self._scopes += 1
        try:
            yield self
        finally:
            with self._lock:
                self._scopes -= 1
                last = self._scopes == 0
            if last:
                self.close_idle()

    def close_idle(self) -> int:
        """Let go of every idle connection now; returns how many."""
        raise NotImplementedError
