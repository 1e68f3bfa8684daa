"""The audit log: one JSON line per change certops makes on a node, append-only.

Each record says when, who (the approver, or ``certops`` with the flow run id), where (cluster,
node, unit), what (the operation) and the certificate fingerprints before and after. Secrets
never reach it: records are built from plain fields only, and values that look like a private
key are refused.

Path: ``$CERTOPS_AUDIT_LOG`` if set, else ``~/.certops/audit.jsonl``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

AUDIT_ENV = "CERTOPS_AUDIT_LOG"


def audit_path() -> Path:
    """Where the audit log is written (``$CERTOPS_AUDIT_LOG`` or ``~/.certops/audit.jsonl``)."""
    env = os.environ.get(AUDIT_ENV)
    return Path(env) if env else Path.home() / ".certops" / "audit.jsonl"


class AuditRecord(BaseModel):
    """One change (or decision) on a cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    who: str  # "certops run <id>" or the person's name
    run_id: str | None = None
    cluster: str
    node: str | None = None
    unit: str | None = None
    operation: str  # generate_csr, upload_trust, upload_identity, ctl_update, restart, reset_phones, approve, deny ...
    detail: str = ""
    fingerprint_before: str | None = None
    fingerprint_after: str | None = None
    approver: str | None = None


_FORBIDDEN = ("PRIVATE KEY",)


def append(record: AuditRecord, path: Path | None = None) -> Path:
    """Append ``record`` as one JSON line (with an exclusive lock) and return the path."""
    line = record.model_dump_json()
    lowered = line.lower()
    for word in _FORBIDDEN:
        if word.lower() in lowered:
            raise ValueError(
                f"refusing to write an audit record that mentions {word!r}: audit records carry no secrets"
            )
    target = path or audit_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line + "\n")
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return target


def read(path: Path | None = None) -> list[AuditRecord]:
    """Every record in the log, oldest first (empty when the log does not exist)."""
    target = path or audit_path()
    if not target.exists():
        return []
    return [AuditRecord.model_validate(json.loads(line)) for line in target.read_text().splitlines() if line.strip()]
