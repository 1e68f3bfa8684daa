"""The typed verdicts of ``certops doctor``: one :class:`Check` per thing looked at, one
:class:`InfVerdict` per [INF] item, gathered in a :class:`DoctorReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CheckStatus(StrEnum):
    """What one check found."""

    OK = "ok"
    WARN = "warn"  # certops works, but a person should know
    FAIL = "fail"  # certops cannot renew what ``blocks`` names until this is fixed
    UNREACHABLE = "unreachable"  # the node (or this interface of it) did not answer
    SKIPPED = "skipped"  # not asked: the node's role or version has no such interface


BLOCKING = frozenset({CheckStatus.FAIL, CheckStatus.UNREACHABLE})


class InfStatus(StrEnum):
    """A verdict on one [INF] item."""

    CONFIRMED = "confirmed"
    REFUTED = "refuted"  # the node said something else (``said``)
    NOT_REACHABLE = "not reachable"  # not observable read-only from here, or the node did not answer


@dataclass(frozen=True)
class Check:
    """One check on one node (or the cluster): ``id`` is stable (e.g. ``ssh.host_key``).

    ``fix`` is the exact remedy (a paragraph) when the status blocks or warns; ``blocks`` names
    the units certops cannot renew because of it (``("*",)``: every unit on the node).
    """

    id: str
    node: str
    title: str
    status: CheckStatus
    detail: str = ""
    fix: str = ""
    blocks: tuple[str, ...] = ()

    @property
    def blocking(self) -> bool:
        """True when this check keeps certops from renewing something."""
        return self.status in BLOCKING and bool(self.blocks)

    def as_json(self) -> dict[str, object]:
        """The check as ``certops doctor --json`` and a capture write it."""
        return {
            "id": self.id,
            "node": self.node,
            "title": self.title,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
            "blocks": list(self.blocks),
        }


@dataclass(frozen=True)
class InfVerdict:
    """The verdict on one [INF] item (``inf.INF_ITEMS``) from one node."""

    id: str
    status: InfStatus
    node: str = ""
    said: str = ""  # what the node said (refuted), or why it could not be seen

    def as_json(self) -> dict[str, object]:
        """The verdict as ``certops doctor --json`` and a capture write it."""
        return {"id": self.id, "status": self.status.value, "node": self.node, "said": self.said}


@dataclass
class DoctorReport:
    """Everything one ``certops doctor`` run found on one cluster."""

    cluster: str
    version: str
    units: list[str]
    checks: list[Check] = field(default_factory=list)
    inf: list[InfVerdict] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # node FQDN -> publisher / subscriber / imp

    @property
    def blocking(self) -> list[Check]:
        """The checks that keep a renewal from working, in node order."""
        return [c for c in self.checks if c.blocking]

    @property
    def ok(self) -> bool:
        """True when certops can renew every configured unit on every node of the cluster."""
        return not self.blocking

    def blocked_units(self, node: str) -> list[str]:
        """The configured units certops cannot renew on ``node`` (those its role holds)."""
        from certops.units import UNITS, NodeRole

        role = self.roles.get(node)
        held = [u for u in self.units if role is None or u not in UNITS or UNITS[u].nodes_with(NodeRole(role))]
        out: set[str] = set()
        for c in self.blocking:
            if c.node in (node, "*"):
                out.update(held if "*" in c.blocks else [u for u in c.blocks if u in held])
        return [u for u in held if u in out]

    def inf_summary(self) -> dict[str, InfVerdict]:
        """One verdict per [INF] id: a refutation wins over a confirmation, which wins over not reachable."""
        rank = {InfStatus.REFUTED: 0, InfStatus.CONFIRMED: 1, InfStatus.NOT_REACHABLE: 2}
        best: dict[str, InfVerdict] = {}
        for v in self.inf:
            cur = best.get(v.id)
            if cur is None or rank[v.status] < rank[cur.status]:
                best[v.id] = v
        return best
