"""The in-flight look reads every node of the cluster at once, and reports them in the cluster's order."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from certops.errors import CucmConnectionError
from certops.inventory import Inventory, NodeConfig
from certops.models import CertificateInfo, PhoneCount
from certops.renewal import adapters
from certops.renewal.inflight import group_units, look_at_cluster, look_at_node
from tests.unit.test_due_factories import inventory

_NODES = ["pub.lab.example.com", "sub1.lab.example.com", "sub2.lab.example.com"]  # test_due_factories names


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound but not listening: every TLS connection to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _inventory(port: int) -> Inventory:
    """Three nodes on loopback, whose TLS service ports all refuse."""
    inv = inventory({"lab": len(_NODES)})
    tls = {"CallManager": port, "TVS": port, "CAPF": port}
    cl = inv.clusters[0]
    nodes = [n.model_copy(update={"address": "127.0.0.1", "service_tls_ports": tls}) for n in cl.nodes]
    assert [n.fqdn for n in nodes] == _NODES
    return inv.model_copy(update={"clusters": [cl.model_copy(update={"nodes": nodes})]})


class _Node:
    """A node whose first pending-CSR read returns only once every node's has begun (or fails after 60 s)."""

    def __init__(self, fqdn: str, all_reading: threading.Barrier, fail: str | None) -> None:
        self.fqdn, self._all_reading, self._fail = fqdn, all_reading, fail
        self._waited = False

    def __enter__(self) -> _Node:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def pending_csr(self, unit: str) -> str | None:
        if not self._waited:  # a serial look never gets every node here: BrokenBarrierError after 60 s
            self._waited = True
            self._all_reading.wait()
        if self.fqdn == self._fail:
            raise CucmConnectionError("connection refused", node=self.fqdn, operation="certmgr csr")
        return None

    def read_certificates(self, units: list[str] | None = None) -> Any:
        raise CucmConnectionError("no identity here", node=self.fqdn, operation="certmgr identity")

    def read_certificate(self, unit: str) -> Any:  # an ECDSA unit's check, when its port shows no EC certificate
        raise CucmConnectionError("no identity here", node=self.fqdn, operation="certmgr identity")

    def registered_phones(self) -> PhoneCount:
        return PhoneCount(registered=7, total_seen=7)


def test_every_node_is_read_at_once_and_the_look_lists_them_in_the_clusters_order(refused_port):
    inv = _inventory(refused_port)
    assert group_units("TVS")  # each node holds other units of TVS's group: each is read
    barrier = threading.Barrier(len(_NODES), timeout=60)  # the first read of every node, together
    adapters.set_node_factory(lambda inventory, cluster, fqdn: _Node(fqdn, barrier, fail=_NODES[1]))  # type: ignore[arg-type,return-value]
    try:
        look = look_at_cluster(inv, "lab", "TVS", read_phones=True)
    finally:
        adapters.set_node_factory(None)
    assert [n.fqdn for n in look.nodes] == _NODES
    assert look.phones_registered == 7
    problems = {n.fqdn: n.problems for n in look.nodes}
    assert any("connection refused" in p for p in problems[_NODES[1]])  # a failed read is recorded, not raised
    assert not any("connection refused" in p for p in problems[_NODES[0]] + problems[_NODES[2]])


class _Counted:
    """A node holding every unit asked for; it counts its reads of pending CSRs and of identities."""

    def __init__(self, fqdn: str, fail_identities: Exception | None = None) -> None:
        self.fqdn, self._fail = fqdn, fail_identities
        self.identity_reads: list[list[str] | None] = []
        self.csr_reads: list[str] = []

    def pending_csr(self, unit: str) -> str | None:
        self.csr_reads.append(unit)
        return None

    def read_certificates(self, units: list[str] | None = None) -> Any:
        self.identity_reads.append(units)
        if self._fail is not None:
            raise self._fail
        now = dt.datetime.now(dt.UTC)
        return [
            CertificateInfo.model_construct(
                unit=u, fingerprint_sha256=f"{i:064x}", not_before=now - dt.timedelta(days=i + 1)
            )
            for i, u in enumerate(units or [])
        ]


def test_a_nodes_identities_of_every_unit_of_the_group_are_read_at_once():
    units = group_units("TVS")
    assert len(units) > 1
    api = _Counted("pub.lab.example.com")
    node = NodeConfig.model_construct(fqdn=api.fqdn)
    look = look_at_node(api, node, units)  # type: ignore[arg-type]
    assert api.identity_reads == [units]  # one read for all of them (one REST snapshot, or one CLI listing)
    assert api.csr_reads == units
    assert look.installed == {u: f"{i:064x}" for i, u in enumerate(units)}
    assert set(look.issued) == set(units) and look.problems == []


def test_a_failed_read_of_the_identities_counts_every_unit_as_unknown():
    units = group_units("TVS")
    api = _Counted("pub.lab.example.com", CucmConnectionError("timed out", node="pub", operation="snapshot"))
    look = look_at_node(api, NodeConfig.model_construct(fqdn=api.fqdn), units)  # type: ignore[arg-type]
    assert look.installed == {}
    assert look.problems == [f"could not read the {u} identity: timed out" for u in units]  # fail closed
