"""The interface every CA backend implements: submit -> (poll) -> signed chain.

A CA may sign at once (lab CA, ACME with pre-authorised names) or days later (a person at a
corporate CA). ``submit`` hands over the CSR and returns a ``CaTicket``; ``poll`` returns the
signed chain when it is ready, or None. ``needs_person`` tells the flow to wait for an approval
(the manual backend), in which case the chain comes back through the approval input instead.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


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
