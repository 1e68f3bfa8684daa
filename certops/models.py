"""Domain models that flow between the layers.

Every hop is a JSON-serialisable pydantic model, so Prefect can persist it, the CLI can print
it, and tests can build it with small factories. Values are frozen.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CertificateInfo(_Value):
    """One identity certificate as read from one node."""

    cluster: str
    node: str
    unit: str
    subject: str  # RFC 4514 string
    subject_cn: str | None = None
    issuer: str
    sans_dns: list[str] = Field(default_factory=list)
    sans_ip: list[str] = Field(default_factory=list)
    serial: str  # hex
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str  # hex, lower case, no colons
    self_signed: bool
    key_type: str  # "rsa" / "ec"
    key_size: int
    pem: str

    def days_left(self, now: dt.datetime | None = None) -> int:
        """Whole days until ``not_after`` (negative when expired)."""
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).days


class NodeFailure(_Value):
    """A node that could not be read, with the reason a person can act on."""

    cluster: str
    node: str
    operation: str
    reason: str
    transient: bool


class CertificateReport(_Value):
    """What ``certops certificates`` and the scan produce: certificates plus failures."""

    generated_at: dt.datetime
    certificates: list[CertificateInfo]
    failures: list[NodeFailure]

    @property
    def ok(self) -> bool:
        """True when every node answered."""
        return not self.failures


class CsrRequest(_Value):
    """Settings for generating a CSR on a node."""

    unit: str
    common_name: str
    alt_names: list[str] = Field(default_factory=list)
    key_type: str = "rsa"  # "rsa" or "ec"
    key_length: int = 2048  # RSA bits, or EC curve size (256/384)
    hash_algorithm: str = "sha256"
    distribution: str = "this-server"


class CsrArtifact(_Value):
    """A CSR pending on a node. Its fingerprint identifies it across reruns.

    A CSR that went to a CA is never regenerated: reruns look it up on the node by this
    fingerprint (sha256 of the DER).
    """

    cluster: str
    node: str
    unit: str
    pem: str
    fingerprint_sha256: str
    public_key_sha256: str
    created_at: dt.datetime


class ServiceState(StrEnum):
    """A service's state as CUCM reports it."""

    STARTED = "Started"
    STOPPED = "Stopped"
    STARTING = "Starting"
    STOPPING = "Stopping"
    NOT_ACTIVATED = "NotActivated"
    UNKNOWN = "Unknown"


class ServiceStatus(_Value):
    """One service on one node."""

    name: str
    state: ServiceState
    reason: str = ""  # e.g. "Service Not Activated", "Commanded Out of Service"
    up_seconds: int | None = None  # Control Center's UpTime while Started; the CLI listing has none

    @property
    def activated(self) -> bool:
        """False when CUCM says the service is not activated on this node."""
        return self.state is not ServiceState.NOT_ACTIVATED and "not activated" not in self.reason.lower()


class DrfStatus(_Value):
    """What ``utils disaster_recovery status backup|restore`` said."""

    operation: str  # "backup" / "restore"
    running: bool
    status: str | None = None
    percentage: int | None = None
    raw: str = ""


class SsoStatus(_Value):
    """What ``utils sso status`` said."""

    enabled: bool
    raw: str = ""


class PhoneCount(_Value):
    """Registered phones cluster-wide, deduplicated by device name (RisPort70)."""

    registered: int
    total_seen: int
    requests_used: int = 1
    stamps: dict[str, int] = Field(default_factory=dict)  # registered device -> its RIS TimeStamp (node clock)
