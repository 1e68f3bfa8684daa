"""Which interface a node's certificate work goes over — certmgr REST or the platform CLI — and why.

cucm-interfaces.md §1.1: the Certificate Management REST API exists on CUCM, IM&P, CUC and CER
**14 and later**; 12.5 has no certmgr endpoint at all (no snapshot, no ``/csr``, no uploads), so
a 12.5 node is read and renewed over the SSH CLI (§5: ``show cert list own``/``show cert own``,
``set csr gen``, ``show csr own``, ``set cert import trust``/``own``). One function decides, so the
node adapter (``certops.cucm.node``) and the dry run (``certops.planning``) can never disagree.
Pure: no I/O, no Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

REST_FROM: tuple[int, int] = (14, 0)
"""The first release with the certmgr REST API (cucm-interfaces.md §1.1, developer.cisco.com)."""


class Via(StrEnum):
    """The interface certificate work goes over."""

    REST = "REST"
    CLI = "CLI"


class CertPath(NamedTuple):
    """The path one node's certificate work takes, and the reason in one line."""

    via: Via
    why: str

    def text(self) -> str:
        """``"CLI — 12.5: certmgr REST has no CSR endpoint before 14"``."""
        return f"{self.via.value} — {self.why}"


def _label(release: Sequence[int]) -> str:
    major, minor = [*list(release), 0, 0][:2]
    return f"{major}.{minor}"


def certificate_path(release: Sequence[int]) -> CertPath:
    """The path for a node at ``release`` (``(major, minor[, su])``; ``()`` when unknown: REST is assumed).

    Before 14 (12.5): the CLI, because certmgr REST has no CSR endpoint (nor any other) there.
    From 14: certmgr REST for reading, CSRs and uploads; restarts still go as each unit's table says.
    """
    if release and tuple(release[:2]) < REST_FROM:
        return CertPath(
            Via.CLI,
            f"{_label(release)}: certmgr REST has no CSR endpoint before 14, so "
            "set csr gen / show csr own / set cert import trust|own over SSH",
        )
    if not release:
        return CertPath(Via.REST, "release unknown: certmgr REST assumed (14 and later); preflight reads the version")
    return CertPath(Via.REST, f"{_label(release)}: certmgr REST (/csr, /trust, /identity) exists from 14")


def uses_rest(release: Sequence[int]) -> bool:
    """True when certificate work at ``release`` goes over certmgr REST."""
    return certificate_path(release).via is Via.REST
