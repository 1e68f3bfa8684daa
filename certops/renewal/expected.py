"""How long the last waits of each kind took: a service's restart on a cluster, a cluster's phones coming back.

A wait's looks bound how long it took: it was not done at the last look that saw it unfinished
(``lo``) and it was done by the end of the look that saw it finished (``hi``). The next wait of
the same kind looks near ``lo``, then in the middle of ``(lo, hi]`` and at ``hi``
(:func:`certops.renewal.steps.look_delay`). Waits of the same length thus narrow the span each
time (:func:`record_span` keeps what two spans share), so the look that sees a restart done comes
ever closer to its end; a wait that no longer fits the span starts a new one. A wait that knows
nothing looks every tenth of the time so far, up to a tenth late.

A ``certops renew`` is one process per renewal, so what one renewal learnt would be lost to the
next: the spans are kept in this process and in ``$CERTOPS_STATE_DIR/expected-waits.json``
(beside the renewals' state), and the next renewal on the same cluster — another process, a
worker — looks near the expected end from its first node on.

The file only makes looks come at better times: a wrong or stale span never ends a wait (a wait
looks at least every ``restart_poll`` / ``registration_interval`` whatever it expects, and one
well past its span looks as if it knew nothing) and an unreadable or unwritable file is the same
as none. Several processes may write it: the last writer wins, which is harmless.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import NamedTuple

from certops.atomicfile import write_atomic
from certops.renewal.state import RenewalStore

FILE_NAME = "expected-waits.json"


class Span(NamedTuple):
    """How long a wait took, as its looks saw it: more than ``lo`` seconds, at most ``hi`` (None: not known)."""

    lo: float
    hi: float | None = None


_KNOWN: dict[tuple[str, ...], Span] = {}
_LOCK = threading.Lock()


def _path() -> Path:
    return RenewalStore().directory / FILE_NAME


def _key(key: tuple[str, ...]) -> str:
    return json.dumps(list(key))


def _span(value: object) -> Span | None:
    """A span from the file: ``[lo, hi]``, or one number (a lower bound, as earlier versions wrote)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Span(float(value)) if value >= 0 else None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        lo, hi = float(value[0]), float(value[1])
        return Span(lo, hi) if 0 <= lo <= hi else None
    return None


def _read(path: Path) -> dict[str, Span]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: s for k, v in data.items() if (s := _span(v)) is not None}


def expected_span(key: tuple[str, ...] | None) -> Span | None:
    """What the last waits of this kind took (this process, else the state directory's file), or None."""
    if key is None:
        return None
    with _LOCK:
        if key in _KNOWN:
            return _KNOWN[key]
    got = _read(_path()).get(_key(key))
    if got is not None:
        with _LOCK:
            _KNOWN.setdefault(key, got)
    return got


def merged(old: Span | None, lo: float, hi: float) -> Span:
    """The span to keep after a wait seen over ``lo`` and done by ``hi``: what it shares with ``old``, else its own."""
    if old is not None and old.hi is not None:
        shared_lo, shared_hi = max(old.lo, lo), min(old.hi, hi)
        if shared_lo < shared_hi:
            return Span(shared_lo, shared_hi)
    return Span(lo, hi)


def record_span(key: tuple[str, ...] | None, lo: float, hi: float) -> Span | None:
    """Remember that a wait of this kind took more than ``lo`` seconds and at most ``hi``; return the span kept.

    ``lo``: when the last look that saw it unfinished started; ``hi``: when the look that saw it
    done ended. The span kept is what this one shares with the one before (waits of one length
    narrow it), or this one when they share nothing (the wait got longer or shorter).
    """
    if key is None:
        return None
    with _LOCK:
        span = merged(_KNOWN.get(key), lo, hi)
        _KNOWN[key] = span
    path = _path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: [s.lo, s.hi] if s.hi is not None else s.lo for k, s in _read(path).items()}
        data[_key(key)] = [round(span.lo, 4), round(hi if span.hi is None else span.hi, 4)]
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError:
        pass  # a better-timed look next time is all the file is for
    return span


def forget() -> None:
    """Forget what this process knows (the file stays): as a new process would start."""
    with _LOCK:
        _KNOWN.clear()
