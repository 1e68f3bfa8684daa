"""Where certops keeps what it can rebuild: ``$CERTOPS_CACHE_DIR``, else the XDG cache directory.

Nothing kept there is needed for correctness: a missing or unreadable file is rebuilt. It holds
the migrated Prefect database template (``certops.renewal.server``) and the self-signed verdicts
of certificates (``certops.x509.verdicts``).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "CERTOPS_CACHE_DIR"


def cache_dir() -> Path:
    """``$CERTOPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/certops``, else ``~/.cache/certops``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "certops"
