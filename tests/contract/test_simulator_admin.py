"""Contract: the simulator's event log and admin endpoint (events, state, faults), and latency injection."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from simulator.faults import parse_fault
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, SimShell, served_certificate_der, sim_https

API = "/platformcom/api/v1/certmgr/config"


def test_events_are_served_over_http_and_written_to_jsonl(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=2, phones_per_cluster=2)
    node = fleet.node("cucm-sub1.c1.certops.test")
    with sim_https(fleet, node) as c:
        assert c.post(f"{API}/csr", auth=(SIM_OS_USER, SIM_OS_PASSWORD), json={"service": "ipsec"}).status_code == 200
    over_http = httpx.get(f"{fleet.admin_url}/admin/events", timeout=10).json()
    on_disk = [json.loads(line) for line in fleet.events_path.read_text().splitlines()]
    assert over_http == on_disk == fleet.events()
    csr = next(e for e in over_http if e["operation"] == "csr_generated")
    assert csr["cluster"] == "c1" and csr["node"] == node.fqdn and csr["unit"] == "ipsec" and csr["service"] is None
    assert csr["time"].endswith("Z") and len(csr["time"]) == len("2026-01-01T00:00:00.000Z")
    since = httpx.get(f"{fleet.admin_url}/admin/events", params={"since": len(over_http) - 1}, timeout=10).json()
    assert since == over_http[-1:]


def test_admin_faults_post_and_delete(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=3, phones_per_cluster=2)
    sub = fleet.node("cucm-sub1.c1.certops.test")
    r = httpx.post(
        f"{fleet.admin_url}/admin/faults",
        json=[{"kind": "unreachable", "node": sub.fqdn}, {"kind": "sso"}, {"kind": "mixed-mode", "cluster": "c1"}],
        timeout=10,
    )
    assert r.status_code == 200
    state = httpx.get(f"{fleet.admin_url}/admin/state", timeout=10).json()["clusters"][0]
    assert state["sso_enabled"] is True and state["mixed_mode"] is True
    assert next(n for n in state["nodes"] if n["fqdn"] == sub.fqdn)["faults"]["unreachable"] is True
    with pytest.raises(ConnectionResetError):  # the port stays bound; connections are reset (docs/simulator.md)
        socket.create_connection(("127.0.0.1", sub.https_port), timeout=10).recv(1)
    assert httpx.delete(f"{fleet.admin_url}/admin/faults", timeout=10).status_code == 200
    state = httpx.get(f"{fleet.admin_url}/admin/state", timeout=10).json()["clusters"][0]
    assert state["sso_enabled"] is False and state["mixed_mode"] is False
    assert served_certificate_der(fleet, sub, sub.https_port)  # a TLS handshake again


def test_admin_rejects_unknown_fault(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=1, phones_per_cluster=0)
    r = httpx.post(f"{fleet.admin_url}/admin/faults", json={"kind": "meteor-strike"}, timeout=10)
    assert r.status_code == 400
    assert "meteor-strike" in r.json()["message"]


def test_fault_spec_parsing() -> None:
    assert parse_fault("restart-fails:cucm-pub.c1:Cisco Tftp") == {
        "kind": "restart-fails",
        "node": "cucm-pub.c1",
        "service": "Cisco Tftp",
    }
    assert parse_fault("drf-backup:30") == {"kind": "drf-backup", "seconds": 30.0}
    assert parse_fault("latency:0.2:cucm-sub1.c1") == {"kind": "latency", "seconds": 0.2, "node": "cucm-sub1.c1"}
    assert parse_fault("ssh-drop:imp1.c1:2") == {"kind": "ssh-drop", "node": "imp1.c1", "times": 2}
    assert parse_fault("phones-never-reregister") == {"kind": "phones-never-reregister"}
    with pytest.raises(ValueError, match="needs a node"):
        parse_fault("unreachable")


def test_node_latency_fault_slows_http_and_cli(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=2, phones_per_cluster=0)
    slow, fast = fleet.node("cucm-sub1.c1.certops.test"), fleet.node("cucm-pub.c1.certops.test")
    fleet.set_fault_spec("latency:0.6:cucm-sub1.c1")

    def timed_get(node) -> float:
        with sim_https(fleet, node) as c:
            c.get(f"{API}/snapshot/server", auth=(SIM_OS_USER, SIM_OS_PASSWORD))  # handshake and first-use costs
            t0 = time.monotonic()
            c.get(f"{API}/snapshot/server", auth=(SIM_OS_USER, SIM_OS_PASSWORD))
            return time.monotonic() - t0

    assert timed_get(slow) >= 0.6
    assert timed_get(fast) < 0.6
    with SimShell(fleet, slow) as shell:
        shell.wait_prompt()
        t0 = time.monotonic()
        shell.run("show version active")
        assert time.monotonic() - t0 >= 0.6


def test_versions_can_be_mixed_across_clusters(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(clusters=3, nodes=1, version={"c1": "12.5", "c2": "14.0", "c3": "15.0"}, phones_per_cluster=0)
    assert [c.version for c in fleet.clusters] == ["12.5", "14.0", "15.0"]
    with SimShell(fleet, fleet.node("cucm-pub.c1.certops.test")) as shell:
        shell.wait_prompt()
        assert shell.run("show version active").startswith("Active Master Version: 12.5.")
        shell.run("set cli pagination off")
        assert "Cisco HAProxy" not in shell.run("utils service list")


def test_event_filters_and_restart_intervals(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=2, phones_per_cluster=0, restart_seconds=0.2)
    for fqdn in ("cucm-pub.c1.certops.test", "cucm-sub1.c1.certops.test"):
        with SimShell(fleet, fleet.node(fqdn)) as shell:
            shell.wait_prompt()
            shell.run("utils service restart Cisco Tftp")
    started = fleet.events(operation="service_restart_started")
    assert [e["node"] for e in started] == ["cucm-pub.c1.certops.test", "cucm-sub1.c1.certops.test"]
    intervals = fleet.restart_intervals("c1")
    assert [(n, s) for n, s, _, _ in intervals] == [
        ("cucm-pub.c1.certops.test", "Cisco Tftp"),
        ("cucm-sub1.c1.certops.test", "Cisco Tftp"),
    ]
    (_, _, s1, e1), (_, _, s2, e2) = intervals
    assert e1 is not None and e2 is not None
    assert s1 < e1 <= s2 < e2  # one node at a time


def _ports_listened_on_here() -> set[int]:
    """The TCP ports this process listens on (IPv4 and IPv6), from /proc: its sockets' inodes in the LISTEN tables.

    A connection attempt cannot tell: once the fleet lets a port go, another test's server in
    another process may be given it at once (the CI run had one such port answer).
    """
    inodes: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # state 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_stopping_during_a_restart_is_clean_and_closes_every_port(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=1, phones_per_cluster=3, tomcat_restart_seconds=1.0)
    node = fleet.node("cucm-pub.c1.certops.test")
    ports = {node.https_port, node.soap_port, node.ssh_port, *node.service_tls_ports.values()}
    assert ports <= _ports_listened_on_here()
    shell = SimShell(fleet, node)
    shell.wait_prompt()
    shell.channel.send(b"utils service restart Cisco Tomcat\n")
    shell.read_until("STOPPING")
    fleet.set_fault("drf-backup", seconds=0.3)
    fleet.stop()
    time.sleep(1.2)  # the session thread wakes up after the fleet is gone; it must end quietly
    shell.close()
    assert not ports & _ports_listened_on_here()
