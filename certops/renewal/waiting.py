"""Bounded waits that speak, all alike: what is waited for, since when, for how long at most, then progress.

A renewal waits for a DRF backup (``steps.wait_drf_idle``, HTTP 423 ``steps.with_platform_lock``),
a maintenance window, the cluster lock and the phones' re-registration (``steps.wait_registration``).
Each wait makes one :class:`Wait`: its first line is said at once, then a progress line every
``every`` seconds (``RenewalSettings.wait_progress_interval``, default 60 s), and one line when it
ends. Library code: no Prefect; ``log`` is any ``Callable[[str], None]`` (the run logger's info).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

Log = Callable[[str], None]
Clock = Callable[[], float]

DEFAULT_PROGRESS_INTERVAL = 60.0
_progress_interval = DEFAULT_PROGRESS_INTERVAL


def configure(*, progress_interval: float) -> None:
    """Set the seconds between progress lines of the waits that follow (``RenewalSettings.wait_progress_interval``)."""
    global _progress_interval
    _progress_interval = progress_interval


def progress_interval() -> float:
    """The seconds between progress lines now configured (default 60)."""
    return _progress_interval


def duration(seconds: float) -> str:
    """``42 s``, ``720 s (12 min)``, ``12600 s (3.5 h)``, ``172800 s (2.0 d)``: seconds, and longer units past 2 min."""
    text = f"{seconds:.0f} s"
    if seconds < 120:
        return text
    if seconds < 7200:
        return f"{text} ({seconds / 60:.0f} min)"
    if seconds < 2 * 86400:
        return f"{text} ({seconds / 3600:.1f} h)"
    return f"{text} ({seconds / 86400:.1f} d)"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Wait:
    """One bounded wait: ``start()`` says what, since when and the bound; ``tick()`` says progress; ``done()``.

    ``where`` prefixes every line (``cluster c1 [ipsec]``); ``what`` is what is waited for
    (``a DRF backup``); ``setting`` names the bound's setting (``drf_wait_timeout``) so a person
    knows what to change. ``every``: seconds between progress lines (0 or less: none; default
    :func:`progress_interval`).
    """

    def __init__(
        self,
        where: str,
        what: str,
        *,
        bound: float | None,
        log: Log,
        setting: str | None = None,
        every: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.where = where
        self.what = what
        self.bound = bound
        self.setting = setting
        self.every = _progress_interval if every is None else every
        self._log = log
        self._clock: Clock = clock or (lambda: time.monotonic())  # looked up at each call: tests may patch it
        self._t0: float | None = None
        self._last = 0.0
        self.since: str | None = None

    @property
    def started(self) -> bool:
        """True once ``start()`` was called."""
        return self._t0 is not None

    @property
    def elapsed(self) -> float:
        """Seconds since ``start()`` (0 before)."""
        return 0.0 if self._t0 is None else self._clock() - self._t0

    @property
    def expired(self) -> bool:
        """True once the bound has passed."""
        return self.bound is not None and self.started and self.elapsed >= self.bound

    def _bound_text(self) -> str:
        if self.bound is None:
            return "no upper bound"
        return f"at most {duration(self.bound)}" + (f" ({self.setting})" if self.setting else "")

    def start(self, detail: str = "") -> None:
        """Say at once what is waited for, since when and for how long at most (once; later calls: ``tick``)."""
        if self._t0 is not None:
            self.tick(detail)
            return
        self._t0 = self._last = self._clock()
        self.since = _utc_now()
        extra = f": {detail}" if detail else ""
        every = f", progress every {duration(self.every)}" if self.every > 0 else ""
        self._log(f"{self.where}: waiting for {self.what}{extra} (since {self.since}); {self._bound_text()}{every}")

    def tick(self, detail: str = "") -> None:
        """A progress line when ``every`` seconds passed since the last line (starts the wait if needed)."""
        if self._t0 is None:
            self.start(detail)
            return
        now = self._clock()
        if self.every <= 0 or now - self._last < self.every:
            return
        self._last = now
        left = f", {duration(max(0.0, self.bound - self.elapsed))} left" if self.bound is not None else ""
        extra = f"; {detail}" if detail else ""
        self._log(
            f"{self.where}: still waiting for {self.what} (since {self.since}): {duration(self.elapsed)} so far{left}"
            f"{extra}"
        )

    def done(self, outcome: str) -> None:
        """Say the wait ended and how (only when it had started)."""
        if self._t0 is not None:
            self._log(f"{self.where}: {outcome}; waited {duration(self.elapsed)} for {self.what}")
