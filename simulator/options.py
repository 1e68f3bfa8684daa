"""What a simulated fleet looks like: :class:`FleetOptions`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CUCM_UNITS: tuple[str, ...] = (
    "tomcat",
    "tomcat-ECDSA",
    "ipsec",
    "CAPF",
    "CallManager",
    "CallManager-ECDSA",
    "TVS",
    "ITLRecovery",
)
"""Identity units on a CUCM node (exact case)."""

IMP_UNITS: tuple[str, ...] = ("tomcat", "tomcat-ECDSA", "ipsec")
"""Identity units on an IM&P node."""

DEFAULT_EXPIRY_DAYS: dict[str, int] = {
    "tomcat": 20,
    "tomcat-ECDSA": 400,
    "ipsec": 45,
    "CAPF": 300,
    "CallManager": 25,
    "CallManager-ECDSA": 500,
    "TVS": 60,
    "ITLRecovery": 3000,
}
"""Days until each unit's initial certificate expires (tomcat and CallManager expire soon)."""

DEFAULT_SELF_SIGNED: frozenset[str] = frozenset({"tomcat-ECDSA", "CallManager-ECDSA", "ITLRecovery"})
"""Units whose initial certificate is self-signed; the rest (all served over TLS) are signed by the simulator CA."""

FULL_VERSIONS: dict[str, str] = {
    "12.5": "12.5.1.17900-64",
    "14.0": "14.0.1.13900-155",
    "15.0": "15.0.1.11900-40",
}


@dataclass
class FleetOptions:
    """Shape and behaviour of a simulated fleet.

    ``version`` is one version for every cluster, a list (cluster i gets ``version[i % len]``) or
    a mapping from cluster name (``c1``, ``c2``, ...) to version. ``latency`` is added to every
    HTTP request and CLI command. ``state_dir`` holds the simulator CA, host keys, the inventory
    and ``events.jsonl``; a temporary directory is used when it is None.
    """

    clusters: int = 1
    nodes: int = 3
    username: str = "admin"
    password: str = "admin-pw"
    app_username: str = "ccmadmin"
    app_password: str = "app-pw"
    version: str | Sequence[str] | Mapping[str, str] = "15.0"
    latency: float = 0.0
    restart_seconds: float = 0.5
    tomcat_restart_seconds: float = 1.0
    phones_per_cluster: int = 20
    reregister_seconds: float = 1.0
    cli_banner_seconds: float = 0.2
    state_dir: Path | None = None
    expiry_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_EXPIRY_DAYS))
    node_expiry_days: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # fqdn -> unit -> days
    self_signed_units: frozenset[str] = DEFAULT_SELF_SIGNED
    service_tls: bool = True
    ris_rate_limit: int = 15
    ris_rate_window: float = 60.0
    drf_backup_seconds: float = 30.0
    pty_height: int = 24

    def version_for(self, index: int, name: str) -> str:
        """The version of cluster number ``index`` (0-based) called ``name``."""
        v = self.version
        if isinstance(v, str):
            return v
        if isinstance(v, Mapping):
            return str(v.get(name, "15.0"))
        seq = list(v)
        return str(seq[index % len(seq)])

    def expiry_for(self, unit: str, fqdn: str | None = None) -> int:
        """Days until ``unit``'s initial certificate expires (on node ``fqdn``, if it has an override)."""
        per_node = self.node_expiry_days.get(fqdn or "", {})
        if unit in per_node:
            return int(per_node[unit])
        return int(self.expiry_days.get(unit, DEFAULT_EXPIRY_DAYS.get(unit, 365)))
