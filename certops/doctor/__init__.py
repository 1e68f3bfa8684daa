"""``certops doctor``: prove, read-only, every assumption certops makes about a real cluster.

Library code (no Prefect): small checks returning typed verdicts (``verdicts``), the [INF]
items of ``docs/simulator.md`` with stable ids (``inf``), the run over one cluster (``run``),
shape checks against Cisco's schemas where they exist (``schemas``), and the capture a twin is
built from, redacted (``capture``, ``redact``, ``recorder``). See ``docs/doctor.md``.
"""

from __future__ import annotations

from certops.doctor.verdicts import Check, CheckStatus, DoctorReport, InfStatus, InfVerdict

__all__ = ["Check", "CheckStatus", "DoctorReport", "InfStatus", "InfVerdict"]
