"""The fleet scan's shared machinery, as a user notices it: limits, one CA bundle read, errors that name the node."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certops import fleet as fleet_module
from certops.cucm import _http
from certops.due import select_due
from certops.fleet import read_fleet_certificates
from certops.inventory import Inventory
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import client_options, inventory_with_passwords

OS_PW = "shared-Os-pw-5"
APP_PW = "shared-App-pw-5"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = client_options(
        tmp_path_factory.mktemp("sim-shared"),
        password=OS_PW,
        app_password=APP_PW,
        clusters=2,
        nodes=4,
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture()
def inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    return inventory_with_passwords(fleet, monkeypatch, password=OS_PW, app_password=APP_PW)


def _another_ca_pem() -> bytes:
    """A CA that signed none of the nodes' certificates."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other Root CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _cluster_of(inventory: Inventory) -> dict[str, str]:
    return {n.fqdn: c.name for c in inventory.clusters for n in c.nodes}


def test_a_cluster_never_has_more_nodes_read_at_once_than_its_limit(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster_of = _cluster_of(inventory)
    sizes = Counter(cluster_of.values())
    in_flight: Counter[str] = Counter()
    started: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    real = fleet_module.read_snapshot  # type: ignore[attr-defined]
    changed = asyncio.Condition()

    async def gated(http: Any, **kw: Any) -> Any:
        cluster = cluster_of[kw["fqdn"]]
        in_flight[cluster] += 1
        started[cluster] += 1
        peak[cluster] = max(peak[cluster], in_flight[cluster])
        async with changed:  # hold each read until its cluster is at its limit (or has no node left to start)
            changed.notify_all()
            await asyncio.wait_for(
                changed.wait_for(lambda: in_flight[cluster] >= 2 or started[cluster] == sizes[cluster]), 60
            )
        try:
            return await real(http, **kw)
        finally:
            in_flight[cluster] -= 1
            async with changed:
                changed.notify_all()

    monkeypatch.setattr(fleet_module, "read_snapshot", gated)
    report = read_fleet_certificates(inventory, per_cluster=2, max_workers=16)
    assert report.ok
    assert {c.node for c in report.certificates} == set(cluster_of)
    assert dict(peak) == {"c1": 2, "c2": 2}  # reached, and never passed


def test_a_cluster_waiting_for_its_turn_leaves_the_other_places_to_other_clusters(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two places, one node a cluster at once: c1's second node waits for c1, not in c2's place."""
    cluster_of = _cluster_of(inventory)
    in_flight: list[str] = []
    overlapped: list[list[str]] = []
    real = fleet_module.read_snapshot  # type: ignore[attr-defined]
    changed = asyncio.Condition()

    async def gated(http: Any, **kw: Any) -> Any:
        in_flight.append(kw["fqdn"])
        async with changed:
            changed.notify_all()
            if not overlapped:  # the first read waits for a second one to be under way
                await asyncio.wait_for(changed.wait_for(lambda: len(in_flight) >= 2), 60)
                overlapped.append(list(in_flight))
        try:
            return await real(http, **kw)
        finally:
            in_flight.remove(kw["fqdn"])

    monkeypatch.setattr(fleet_module, "read_snapshot", gated)
    report = read_fleet_certificates(inventory, per_cluster=1, max_workers=2)
    assert report.ok
    assert sorted(cluster_of[n] for n in overlapped[0][:2]) == ["c1", "c2"]


def test_the_ca_bundle_is_read_once_per_scan_and_again_when_it_changes(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = inventory.defaults.tls.ca_bundle
    assert bundle is not None and inventory.defaults.tls.verify
    reads: list[str] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, cafile: Any = None, *args: Any, **kwargs: Any) -> None:
        if cafile is not None:
            reads.append(str(cafile))
        real(self, cafile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    _http._verifying_context.cache_clear()
    report = read_fleet_certificates(inventory)
    assert report.ok and len({c.node for c in report.certificates}) == 8
    assert reads == [str(bundle)]
    read_fleet_certificates(inventory)
    assert reads == [str(bundle)]  # the next scan in this process too
    stat = Path(bundle).stat()
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # replaced on disk
    assert read_fleet_certificates(inventory).ok
    assert reads == [str(bundle), str(bundle)]


def test_a_wrong_ca_bundle_fails_each_node_with_its_name_and_the_fix(inventory: Inventory, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(_another_ca_pem())
    tls = inventory.defaults.tls.model_copy(update={"ca_bundle": other})
    wrong = inventory.model_copy(update={"defaults": inventory.defaults.model_copy(update={"tls": tls})})
    report = read_fleet_certificates(wrong, clusters=["c1"])
    assert not report.certificates
    assert sorted(f.node for f in report.failures) == sorted(n.fqdn for n in inventory.cluster("c1").nodes)
    for failure in report.failures:
        assert f"could not be verified for {failure.node}" in failure.reason
        assert "set tls.ca_bundle to the CA that signed this node's tomcat certificate" in failure.reason
        assert failure.operation == "snapshot" and not failure.transient


def test_a_scan_called_from_a_running_event_loop_still_reads_every_node(inventory: Inventory) -> None:
    async def caller() -> int:
        return len({c.node for c in read_fleet_certificates(inventory, clusters=["c2"]).certificates})

    assert asyncio.run(caller()) == len(inventory.cluster("c2").nodes)


def test_a_node_without_xmpp_federation_shows_its_s2s_certificate_which_the_scan_never_renews(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every IM&P node holds cup-xmpp-s2s; on imp1 (federation off) it is about to expire: the scan
    # shows it with why it is left alone, and starts no renewal for it (the renewal is federation nodes')
    opts = client_options(
        tmp_path_factory.mktemp("sim-s2s"),
        password=OS_PW,
        app_password=APP_PW,
        nodes=4,
        imp_nodes=2,
        federation=(2,),
        node_expiry_days={"imp1.c1.certops.test": {"cup-xmpp-s2s": 3}},
    )
    with SimulatedFleet(opts) as sim:
        inv = inventory_with_passwords(sim, monkeypatch, password=OS_PW, app_password=APP_PW)
        report = read_fleet_certificates(inv)
    plan = select_due(report, inv)
    s2s = {s.certificate.node: s for s in plan.statuses if s.certificate.unit == "cup-xmpp-s2s"}
    assert set(s2s) == {"imp1.c1.certops.test", "imp2.c1.certops.test"}
    imp1 = s2s["imp1.c1.certops.test"]
    assert imp1.days_left <= 3 and not imp1.counted and not imp1.due
    assert imp1.skip_reason is not None and "without XMPP federation" in imp1.skip_reason
    assert s2s["imp2.c1.certops.test"].counted
    assert not [c for c in plan.start + plan.queued if c.unit == "cup-xmpp-s2s"]


def test_a_node_serving_an_unreadable_certificate_fails_alone_and_its_progress_says_so(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The description comes after the read (the node's place is given back first); its failure is still the node's."""
    import dataclasses

    bad_node = inventory.clusters[0].nodes[1].fqdn
    real = fleet_module.read_snapshot  # type: ignore[attr-defined]

    async def spoiled(http: Any, **kw: Any) -> Any:
        snapshot = await real(http, **kw)
        if kw["fqdn"] != bad_node:
            return snapshot
        first = dataclasses.replace(snapshot.identities[0], certificate="-----BEGIN CERTIFICATE-----\nAAAA\n")
        return dataclasses.replace(snapshot, identities=[first, *snapshot.identities[1:]])

    monkeypatch.setattr(fleet_module, "read_snapshot", spoiled)
    seen: dict[str, bool] = {}
    report = read_fleet_certificates(inventory, progress=lambda c, n, ok: seen.__setitem__(n, ok))
    assert [(f.node, f.operation) for f in report.failures] == [(bad_node, "snapshot")]
    assert report.failures[0].reason.startswith("the node returned an unreadable certificate: ")
    assert bad_node not in {c.node for c in report.certificates}
    assert {c.node for c in report.certificates} == set(_cluster_of(inventory)) - {bad_node}
    assert seen == {n: n != bad_node for n in _cluster_of(inventory)}
