"""How long the last wait of each kind took: a service's restart on a cluster, a cluster's phones coming back.

A wait that knows roughly how long it will take looks near its expected end
(:func:`certops.renewal.steps.look_delay`); one that does not looks every tenth of the time so
far, up to a tenth late. A ``certops renew`` is one process per renewal, so what one renewal
learnt would be lost to the next: the times are kept in this process and in
``$CERTOPS_STATE_DIR/expected-waits.json`` (beside the renewals' state), and the next renewal on
the same cluster — another process, a worker — looks near the expected end from its first node on.

The file only makes looks come at better times: a wrong or stale time never ends a wait (a wait
looks at least every ``restart_poll`` / ``registration_interval`` whatever it expects) and an
unreadable or unwritable file is the same as none. Several processes may write it: the last
writer wins, which is harmless.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from certops.renewal.state import RenewalStore

FILE_NAME = "expected-waits.json"

_KNOWN: dict[tuple[str, ...], float] = {}
_LOCK = threading.Lock()


def _path() -> Path:
    return RenewalStore().directory / FILE_NAME


def _key(key: tuple[str, ...]) -> str:
    return json.dumps(list(key))


def _read(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and v >= 0}


def expected_seconds(key: tuple[str, ...] | None) -> float | None:
    """How long the last wait of this kind took (this process, else the state directory's file), or None."""
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


def record_seconds(key: tuple[str, ...] | None, seconds: float) -> None:
    """Remember how long a wait of this kind took at least (the next one looks near its expected end).

    Callers record the time of their last look that saw it unfinished, a lower bound: recording
    when they saw it finished would carry this wait's polling slack into the next one.
    """
    if key is None:
        return
    with _LOCK:
        _KNOWN[key] = seconds
    path = _path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read(path)
        data[_key(key)] = round(seconds, 3)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-expected-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a better-timed look next time is all the file is for


def forget() -> None:
    """Forget what this process knows (the file stays): as a new process would start."""
    with _LOCK:
        _KNOWN.clear()
