"""`certops` sub-commands: renew (not yet built)."""

from __future__ import annotations

from certops.cli._app import app  # noqa: F401
