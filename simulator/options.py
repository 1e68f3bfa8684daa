"""What a simulated fleet looks like: :class:`FleetOptions`."""

from __future__ import annotations

import re
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

IMP_UNITS: tuple[str, ...] = (
    "tomcat",
    "tomcat-ECDSA",
    "ipsec",
    "cup",
    "cup-ECDSA",
    "cup-xmpp",
    "cup-xmpp-ECDSA",
    "cup-xmpp-s2s",
    "cup-xmpp-s2s-ECDSA",
)
"""Identity units on an IM&P node (every IM&P node holds the cup-xmpp-s2s certificates; only the
federation nodes run the service that uses them [INF])."""

DEFAULT_EXPIRY_DAYS: dict[str, int] = {
    "tomcat": 20,
    "tomcat-ECDSA": 400,
    "ipsec": 45,
    "CAPF": 300,
    "CallManager": 25,
    "CallManager-ECDSA": 500,
    "TVS": 60,
    "ITLRecovery": 3000,
    "cup": 410,
    "cup-ECDSA": 700,
    "cup-xmpp": 420,
    "cup-xmpp-ECDSA": 710,
    "cup-xmpp-s2s": 430,
    "cup-xmpp-s2s-ECDSA": 720,
}
"""Days until each unit's initial certificate expires (tomcat and CallManager expire soon)."""

DEFAULT_SELF_SIGNED: frozenset[str] = frozenset(
    {"tomcat-ECDSA", "CallManager-ECDSA", "ITLRecovery", "cup-ECDSA", "cup-xmpp-ECDSA", "cup-xmpp-s2s-ECDSA"}
)
"""Units whose initial certificate is self-signed; the rest (all served over TLS) are signed by the simulator CA."""

FULL_VERSIONS: dict[str, str] = {
    "12.5": "12.5.1.17900-64",
    "14.0": "14.0.1.13900-155",
    "15.0": "15.0.1.11900-40",
}
"""The build a bare ``major.minor`` version runs (12.5SU7, 14SU3, 15SU1)."""

KNOWN_BUILDS: dict[tuple[str, int], str] = {
    ("12.5", 0): "12.5.1.10000-22",
    ("12.5", 7): "12.5.1.17900-64",
    ("14.0", 0): "14.0.1.10000-20",
    ("14.0", 1): "14.0.1.11900-132",
    ("14.0", 2): "14.0.1.12900-161",
    ("14.0", 3): "14.0.1.13900-155",
    ("14.0", 4): "14.0.1.14900-11",
    ("15.0", 0): "15.0.1.10000-32",
    ("15.0", 1): "15.0.1.11900-40",
}
"""Builds for ``"14SU1"``-style versions; other SUs get ``<v>.1.1<k>900-1``."""

_SU_ALIAS = re.compile(r"^(?P<major>\d+)(?:\.(?P<minor>\d+))?\s*SU\s*(?P<su>\d+)$", re.IGNORECASE)
_BUILD = re.compile(r"^(?P<short>\d+\.\d+)\.\d+\.(?P<build>\d+)-\d+$")
_SHORT = re.compile(r"^\d+\.\d+$")


def split_version(spec: str) -> tuple[str, str]:
    """``(major.minor, full build)`` of ``"14.0"`` (or ``"14"``), ``"14.0.1.11900-132"`` or ``"14SU1"``.

    ``ValueError`` for anything else. The short form is what AXL and the inventory use; the
    build is what ``show version active`` prints and where the Service Update is read from.
    """
    text = spec.strip()
    if text.isdigit():  # "15" is 15.0
        text = f"{text}.0"
    if _SHORT.match(text):
        return text, FULL_VERSIONS.get(text, f"{text}.1.10000-1")
    if _BUILD.match(text):
        return text.rsplit(".", 2)[0], text
    alias = _SU_ALIAS.match(text)
    if alias:
        short = f"{alias['major']}.{alias['minor'] or '0'}"
        su = int(alias["su"])
        build = KNOWN_BUILDS.get((short, su)) or f"{short}.1.{10000 if su == 0 else 10900 + 1000 * su}-1"
        return short, build
    raise ValueError(f"unknown CUCM version {spec!r}: use e.g. 15.0, 14.0.1.11900-132 or 14SU1")


def service_update(full_version: str) -> int:
    """The Service Update of a build: ``x.y.1.1<k>900-n`` is SU k, ``x.y.1.10000-n`` the first release (0).

    Cisco's build numbering, as in 12.5.1.17900-64 = 12.5(1)SU7 and 14.0.1.11900-132 = 14SU1 [INF rule].
    """
    m = _BUILD.match(full_version)
    if m is None:
        return 0
    build = int(m["build"])
    return 0 if build < 11000 else build // 1000 - 10


@dataclass
class FleetOptions:
    """Shape and behaviour of a simulated fleet.

    ``version`` is one version for every cluster, a list (cluster i gets ``version[i % len]``) or
    a mapping from cluster name (``c1``, ``c2``, ...) to version. A version is ``"14.0"`` (the
    build in ``FULL_VERSIONS``), a build ``"14.0.1.10000-20"`` or an SU ``"14SU1"``
    (:func:`split_version`). ``latency`` is added to every
    HTTP request and CLI command. ``state_dir`` holds the simulator CA, host keys, the inventory
    and ``events.jsonl``; a temporary directory is used when it is None.
    """

    clusters: int = 1
    nodes: int = 3
    username: str = "admin"
    password: str = "admin-pw"
    app_username: str = "ccmadmin"
    app_password: str = "app-pw"
    # `show myself`: the OS admin's CLI privilege level (4 for the administrator made at install,
    # 0 read-only, 1 standard; [INF] which level the certmgr API's writes need: certops says 1)
    os_admin_privilege: int = 4
    version: str | Sequence[str] | Mapping[str, str] = "15.0"
    latency: float = 0.0
    restart_seconds: float = 0.5
    tomcat_restart_seconds: float = 1.0
    phones_per_cluster: int = 20
    reregister_seconds: float = 1.0
    auto_reset_delay_seconds: float = 0.5  # after an upload, until the phones reset themselves [INF]
    phone_interaction: str = "automatic"  # "Phone Interaction on Certificate Update" (or "manual") per cluster
    sip_oauth_phones: int = 0  # the first N phones of each cluster use SIP OAuth (14+) [INF]
    cli_banner_seconds: float = 0.2
    state_dir: Path | None = None
    expiry_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_EXPIRY_DAYS))
    node_expiry_days: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # fqdn -> unit -> days
    self_signed_units: frozenset[str] = DEFAULT_SELF_SIGNED
    service_tls: bool = True
    ris_rate_limit: int = 15
    ris_rate_window: float = 60.0
    drf_backup_seconds: float = 30.0
    drf_devices: tuple[str, ...] = ("NETWORK_BACKUP",)  # DRS backup devices each cluster has configured [INF]
    pty_height: int = 24
    # IM and Presence: None = the classic layout (one IM&P node, the last, when nodes >= 3; the inventory
    # calls it "imp"); K = the last K of ``nodes`` are IM&P nodes imp1..impK, imp1 the IM&P database
    # publisher (inventory role "imp-publisher")
    imp_nodes: int | None = None
    federation: tuple[int, ...] = (1,)  # IM&P nodes (1-based) with XMPP federation on
    # after Cisco Intercluster Sync Agent restarts on the IM&P database publisher, each other IM&P node
    # gets the publisher's IM&P trust stores this much later (Cisco: about 30 minutes) [INF]
    trust_replication_seconds: float = 1.0
    # a multi-server identity uploaded on one node reaches every other node named in its SANs this much
    # later, on the fleet's clock (a timer, never a sleep) [INF: Cisco says it is distributed, not when]
    multi_server_distribution_seconds: float = 0.5

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
