"""Contract: a simulated node never loses a port (docs/simulator.md, "Served certificates").

Before, a Tomcat restart closed the node's HTTPS listening sockets and bound them again after
the restart; on a busy machine the re-bind could fail ("cannot listen again on 127.0.0.1:PORT:
Address already in use") and the node's HTTPS stayed down for good. Now every listening socket
is bound once and kept; while Tomcat is down a connection is reset before any TLS byte.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from simulator.fleet import SimulatedFleet, SimulatedNode
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, SimShell, SimTestCa, sim_https

API = "/platformcom/api/v1/certmgr/config"
AUTH = (SIM_OS_USER, SIM_OS_PASSWORD)
HAMMER_THREADS = 6
HAMMER_MAX_ATTEMPTS = 5000  # per thread: bounded, whatever the machine's speed


def _handshake_without_sni(port: int) -> bytes | None:
    """One short TLS connection without SNI: the served certificate, or None when reset."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw) as tls,  # no server_hostname: no SNI
        ):
            return tls.getpeercert(binary_form=True)
    except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError):
        return None


def _port_can_be_taken(port: int) -> bool:
    """Whether another program could bind the port now (SO_REUSEADDR, as a restarting server would)."""
    thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        thief.bind(("127.0.0.1", port))
    except OSError as exc:
        assert exc.errno == errno.EADDRINUSE, exc
        return False
    finally:
        thief.close()
    return True


class Hammer:
    """Threads opening short TLS connections to a port until stopped (bounded count each)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.served: set[bytes] = set()
        self.resets = 0
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(HAMMER_THREADS)]

    def _run(self) -> None:
        for _ in range(HAMMER_MAX_ATTEMPTS):
            if self.stop.is_set():
                return
            try:
                der = _handshake_without_sni(self.port)
            except BaseException as exc:  # anything but a reset is a failure of the simulator
                with self.lock:
                    self.errors.append(exc)
                return
            with self.lock:
                if der is None:
                    self.resets += 1
                else:
                    self.served.add(der)

    def __enter__(self) -> Hammer:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _upload_tomcat_leaf(fleet: SimulatedFleet, node: SimulatedNode, ca: SimTestCa) -> x509.Certificate:
    with sim_https(fleet, node) as c:
        r = c.post(
            f"{API}/trust/certificates",
            json={"service": ["tomcat"], "certificates": [ca.root_pem, ca.intermediate_pem], "description": "t"},
            auth=AUTH,
        )
        assert r.status_code == 200, r.text
        r = c.post(f"{API}/csr", json={"service": "tomcat", "distribution": "this-server"}, auth=AUTH)
        assert r.status_code == 200, r.text
        leaf_pem = ca.sign(r.json()["csr"])
        r = c.post(
            f"{API}/identity/certificates",
            json={"service": "tomcat", "certificates": [leaf_pem, ca.intermediate_pem]},
            auth=AUTH,
        )
        assert r.status_code == 200, r.text
    return x509.load_pem_x509_certificate(leaf_pem.encode())


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.05)


def _listening(fleet: SimulatedFleet, node: SimulatedNode) -> dict[str, tuple[object, int, int]]:
    """kind -> (server object, socket fd, port) of every HTTPS/TLS listener of ``node``."""
    http = fleet._http
    assert http is not None
    out = {}
    for (fqdn, kind), listener in http.listeners.items():
        if fqdn == node.fqdn:
            server = listener.server
            assert server is not None, f"{kind} is not listening"
            out[kind] = (server, server.sockets[0].fileno(), server.sockets[0].getsockname()[1])
    return out


@pytest.fixture
def ca() -> SimTestCa:
    return SimTestCa()


def test_tomcat_restart_keeps_the_port_and_then_serves_the_new_certificate(
    sim_factory: Callable[..., SimulatedFleet], ca: SimTestCa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="simulator")
    fleet = sim_factory(nodes=1, phones_per_cluster=0, tomcat_restart_seconds=2.0)
    node = fleet.node("cucm-pub.c1.certops.test")
    before = _listening(fleet, node)
    old = _handshake_without_sni(node.https_port)
    assert old is not None
    leaf = _upload_tomcat_leaf(fleet, node, ca)
    new = leaf.public_bytes(serialization.Encoding.DER)
    taken: list[bool] = []
    with Hammer(node.https_port) as hammer, SimShell(fleet, node) as shell:
        shell.wait_prompt()
        shell.channel.send(b"utils service restart Cisco Tomcat\n")
        shell.read_until(r"\[STOPPING\]", timeout=60)
        _wait_for(lambda: not node.https_up() or "[STARTED]" in shell.buffer, "Tomcat down")
        taken.append(_port_can_be_taken(node.https_port))
        taken.append(_port_can_be_taken(node.soap_port))
        out = shell.read_until(r"Cisco Tomcat\[STARTED\]", timeout=120)
        shell.wait_prompt(timeout=60)
        _wait_for(lambda: _handshake_without_sni(node.https_port) == new, "the new certificate served")
    assert "[STARTED]" in out
    assert hammer.errors == []
    assert hammer.served <= {old, new}, "only the old, then the new certificate is ever served"
    assert taken == [False, False], "nobody else can take the ports while Tomcat restarts"
    assert _listening(fleet, node) == before, "the same listening sockets and servers, never re-bound"
    assert _handshake_without_sni(node.soap_port) == new
    assert "cannot listen again" not in caplog.text
    assert not any("cannot listen again" in str(e.get("detail")) for e in fleet.events())


def test_while_tomcat_is_down_connections_are_reset_before_any_tls_byte(
    sim_factory: Callable[..., SimulatedFleet], ca: SimTestCa
) -> None:
    fleet = sim_factory(nodes=1, phones_per_cluster=0)
    node = fleet.node("cucm-pub.c1.certops.test")
    before = _listening(fleet, node)
    leaf = _upload_tomcat_leaf(fleet, node, ca)
    fleet.set_fault("restart-fails", node=node.fqdn, service="Cisco Tomcat")  # Tomcat stays down: no timing
    with SimShell(fleet, node) as shell:
        shell.wait_prompt()
        out = shell.run("utils service restart Cisco Tomcat", timeout=60)
        assert "Cisco Tomcat[STOPPED]" in out and "Executed command unsuccessfully" in out
        with Hammer(node.https_port) as hammer:
            _wait_for(lambda: hammer.resets >= 3 * HAMMER_THREADS, "connections reset while Tomcat is down")
        assert hammer.served == set() and hammer.errors == []
        with pytest.raises(httpx.ConnectError), sim_https(fleet, node) as c:
            c.get(f"{API}/snapshot/server", auth=AUTH)
        assert not _port_can_be_taken(node.https_port)
        fleet.clear_faults()
        out = shell.run("utils service start Cisco Tomcat", timeout=60)
    assert "Cisco Tomcat[STARTED]" in out
    served = _handshake_without_sni(node.https_port)
    assert served is not None and x509.load_der_x509_certificate(served) == leaf
    trusting = ssl.create_default_context(cadata=ca.root_pem)
    with httpx.Client(verify=trusting, timeout=30) as c:
        r = c.get(
            f"https://127.0.0.1:{node.https_port}{API}/snapshot/server",
            auth=AUTH,
            headers={"Host": node.fqdn},
            extensions={"sni_hostname": node.fqdn},
        )
    assert r.status_code == 200
    assert _listening(fleet, node) == before


def test_an_unreachable_node_keeps_its_ssh_port(sim_factory: Callable[..., SimulatedFleet]) -> None:
    fleet = sim_factory(nodes=1, phones_per_cluster=0)
    node = fleet.node("cucm-pub.c1.certops.test")
    fleet.set_fault("unreachable", node=node.fqdn)
    try:
        assert not _port_can_be_taken(node.ssh_port)
        assert not _port_can_be_taken(node.https_port)
    finally:
        fleet.clear_faults()
    with SimShell(fleet, node) as shell:
        shell.wait_prompt()
        assert "Active Master Version" in shell.run("show version active")
