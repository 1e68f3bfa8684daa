"""Self-signed verdicts of certificates, remembered by fingerprint from one run to the next.

Whether a certificate is self-signed depends on its bytes alone. Most certificates are judged at
no cost (different issuer and subject names, or equal key identifiers), but one whose issuer and
subject are the same name and that carries no equal key identifiers needs a signature check with
its own key: an ECDSA P-256 check costs 55-190 µs of CPU, by machine. The simulator's CUCM 15
nodes have three such certificates each (their self-signed ECDSA units); whether a real node's
self-signed certificates carry key identifiers is not known here [INF]: ``openssl x509
-noout -text`` on one downloaded from the node tells (Subject and Authority Key Identifier).
A daily scan meets the same certificates every day, so those verdicts are kept: in this
process, and in ``<cache dir>/self-signed-verdicts.json`` (``certops.cachedir``), by the
SHA-256 fingerprint of the certificate's DER.

The file is a cache. Missing, unreadable, of another format or unwritable, it is rebuilt by
checking again; nothing is refused for it. It is written whole (a temporary file renamed into
place), merged with what another process wrote meanwhile, and keeps at most ``MAX_KEPT``
verdicts (the oldest go first).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from certops.atomicfile import write_atomic
from certops.cachedir import CACHE_DIR_ENV, cache_dir

FILE_NAME = "self-signed-verdicts.json"
FORMAT = 1
"""The file's format; a file of another format is ignored (and replaced at the next save)."""
MAX_KEPT = 200_000
"""At most this many verdicts are kept (about 15 MB of file); the oldest go first."""

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_known: dict[str, bool] = {}
"""Every verdict known to this process: read from the file, or found here."""
_new: dict[str, bool] = {}
"""Verdicts found here and not yet saved."""


def _path() -> Path:
    return cache_dir() / FILE_NAME


def _read(path: Path) -> dict[str, bool]:
    """The verdicts of the file at ``path``; none when it is missing, unreadable or of another format."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("verdicts"), dict):
        return {}
    return {
        fp: verdict
        for fp, verdict in data["verdicts"].items()
        if isinstance(verdict, bool) and isinstance(fp, str) and len(fp) == 64
    }


_loaded_for: tuple[str | None, ...] | None = None
"""The environment the cache directory was found from when the file was read (a change reads it again)."""


def _where() -> tuple[str | None, ...]:
    return (os.environ.get(CACHE_DIR_ENV), os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))


def _loaded() -> dict[str, bool]:
    """The verdicts of this process, read from the cache directory's file at first use (again if it moved)."""
    global _loaded_for
    if _where() != _loaded_for:
        with _lock:
            where = _where()
            if where != _loaded_for:
                _known.clear()
                _known.update(_read(_path()))
                _known.update(_new)
                _loaded_for = where
    return _known


def remembered(fingerprint: str) -> bool | None:
    """The verdict remembered for the certificate of SHA-256 ``fingerprint`` (hex), or None."""
    return _loaded().get(fingerprint)


def remember(fingerprint: str, self_signed: bool) -> None:
    """Remember that the certificate of SHA-256 ``fingerprint`` (hex) is (not) self-signed; kept at :func:`save`."""
    known = _loaded()
    with _lock:
        known[fingerprint] = self_signed
        _new[fingerprint] = self_signed


def save() -> None:
    """Write the verdicts found since the last save to the cache file; a failure to write only loses the cache."""
    with _lock:
        if not _new:
            return
        path = _path()
        merged = _read(path)
        merged.update(_known if _where() == _loaded_for else _new)
        if len(merged) > MAX_KEPT:
            merged = dict(list(merged.items())[-MAX_KEPT:])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, json.dumps({"format": FORMAT, "verdicts": merged}, separators=(",", ":")))
        except OSError as exc:
            _log.debug("self-signed verdicts not kept in %s: %s", path, exc)
            return
        _new.clear()
