"""The interface every CA backend implements: submit -> (poll) -> signed chain.

A CA may sign at once (lab CA, ACME with pre-authorised names) or days later (a person at a
corporate CA). ``submit`` hands over the CSR and returns a ``CaTicket``; ``poll`` returns the
signed chain when it is ready, or None. ``needs_person`` tells the flow to wait for an approval
(the manual backend), in which case the chain comes back through the approval input instead.
"""

from __future__ import annotations

from typing import Protocol

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from certops.errors import CaRejected, CertificateError
from certops.units import UNITS
from certops.x509.checks import csr_signature_valid
from certops.x509.read import read_csr


class CaTicket(BaseModel):
    """What a backend returns on submit; enough to poll later, from another process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str
    reference: str  # order URL, request id, or the CSR fingerprint for the manual backend
    retry_after: float = 0.0  # seconds the CA asked us to wait before polling
    instructions: str = ""  # for a person: what to send where, what to paste back


class SignedChainPem(BaseModel):
    """The CA's answer: the leaf and its issuers, PEM, as the CA returned them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    leaf_pem: str
    chain_pems: list[str] = Field(default_factory=list)  # intermediates and root, any order
    source: str = ""  # e.g. "acme order https://...", "lab CA", "pasted by alice"


class CaBackend(Protocol):
    """A certificate authority certops can ask to sign a CSR made on a node."""

    name: str
    needs_person: bool

    def submit(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> CaTicket:
        """Hand the CSR to the CA. Raises ``CaRejected`` / ``CaUnavailable``."""
        ...

    def poll(self, ticket: CaTicket) -> SignedChainPem | None:
        """The signed chain if the CA has signed, else None (poll again after ``retry_after``)."""
        ...


def csr_for_ca(
    csr_pem: str | bytes, *, backend: str, unit: str, node: str | None = None
) -> x509.CertificateSigningRequest:
    """The CSR a backend is asked to sign, read and its own signature verified before any CA sees it.

    Raises ``CaRejected`` (naming the unit, and the node when known) for an unknown unit, a CSR
    that cannot be read, or one whose signature does not verify (altered or corrupt): it is not
    sent, signed or written for a person.
    """
    if unit not in UNITS:
        raise CaRejected(f"unknown unit {unit!r}", backend=backend, hint=f"use one of: {', '.join(UNITS)}")
    what = f"the CSR for {unit}" + (f" on {node}" if node else "")
    try:
        csr = read_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
    except CertificateError as exc:
        raise CaRejected(f"{what} cannot be read: {exc.message}", backend=backend) from None
    if not csr_signature_valid(csr):
        raise CaRejected(
            f"{what} has an invalid signature (altered or corrupt); not sent",
            backend=backend,
            hint=f"download the CSR for {unit} from {node or 'the node'} again",
        )
    return csr
