"""Contract: the simulated fleet starts, describes itself in a valid inventory, and answers HTTPS and SSH."""

from __future__ import annotations

import logging
import socket

import httpx
import paramiko
import pytest
import yaml
from cryptography import x509

from certops.inventory import Inventory
from simulator.fleet import SimulatedFleet
from simulator.ssh import TRANSPORT_LOG
from tests.fixtures.simulator import SIM_OS_PASSWORD, SIM_OS_USER, SimShell, sim_https

CERTMGR = "/platformcom/api/v1/certmgr/config"


def test_fleet_has_publisher_subscriber_and_imp(sim_fleet: SimulatedFleet) -> None:
    cluster = sim_fleet.cluster("c1")
    assert [(n.fqdn, n.role) for n in cluster.nodes] == [
        ("cucm-pub.c1.certops.test", "publisher"),
        ("cucm-sub1.c1.certops.test", "subscriber"),
        ("imp1.c1.certops.test", "imp"),
    ]
    ports = {p for n in cluster.nodes for p in (n.https_port, n.soap_port, n.ssh_port)}
    assert len(ports) == 9


def test_inventory_validates_against_the_certops_schema(sim_fleet: SimulatedFleet, sim_inventory) -> None:
    inv = Inventory.model_validate(yaml.safe_load(sim_inventory.read_text()))
    cluster = inv.cluster("c1")
    assert cluster.version == "15.0"
    pub = cluster.publisher
    sim_pub = sim_fleet.node("cucm-pub.c1.certops.test")
    assert (pub.fqdn, pub.address, pub.https_port, pub.ssh_port) == (
        sim_pub.fqdn,
        "127.0.0.1",
        sim_pub.https_port,
        sim_pub.ssh_port,
    )
    assert pub.service_tls_ports["CallManager"] == sim_pub.service_tls_ports["CallManager"]
    assert inv.tls_for(cluster).verify is True
    assert inv.tls_for(cluster).ca_bundle == sim_fleet.ca_bundle_path
    assert inv.ssh_for(cluster).known_hosts == sim_fleet.known_hosts_path
    assert SIM_OS_PASSWORD not in sim_inventory.read_text()


def test_https_certificate_verifies_against_ca_bundle_for_the_fqdn(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-sub1.c1.certops.test")
    with sim_https(sim_fleet, node) as client:
        r = client.get(f"{CERTMGR}/snapshot/server", auth=(SIM_OS_USER, SIM_OS_PASSWORD))
    assert r.status_code == 200
    assert r.json()["server"] == node.fqdn


def test_https_hostname_check_fails_for_another_name(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-sub1.c1.certops.test")
    other = sim_fleet.node("cucm-pub.c1.certops.test")
    # the subscriber's port, but SNI/hostname of the publisher: the certificate does not match
    with sim_https(sim_fleet, other) as client, pytest.raises(httpx.ConnectError, match="certificate"):
        client.get(f"https://127.0.0.1:{node.https_port}{CERTMGR}/snapshot/server")


def test_certmgr_refuses_wrong_credentials_with_401(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-pub.c1.certops.test")
    with sim_https(sim_fleet, node) as client:
        r = client.get(f"{CERTMGR}/snapshot/server", auth=(SIM_OS_USER, "wrong"))
        assert r.status_code == 401
        assert "CMPlatform" in r.headers["WWW-Authenticate"]
        # the application user is not an OS admin
        assert client.get(f"{CERTMGR}/snapshot/server", auth=("ccmadmin", "sim-app-secret")).status_code == 401


def test_ssh_banner_then_admin_prompt(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-pub.c1.certops.test")
    with SimShell(sim_fleet, node) as shell:
        text = shell.wait_prompt()
    assert text.index("Command Line Interface is starting up, please wait ...") < text.index(
        "Welcome to the Platform Command Line Interface"
    )
    assert text.rstrip().endswith("admin:")


def test_ssh_host_key_matches_known_hosts_for_fqdn_and_address(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("imp1.c1.certops.test")
    lines = sim_fleet.known_hosts_path.read_text().splitlines()
    assert f"[127.0.0.1]:{node.ssh_port} {node.host_key_line}" in lines
    assert f"[{node.fqdn}]:{node.ssh_port} {node.host_key_line}" in lines
    other = sim_fleet.node("cucm-pub.c1.certops.test")
    client = paramiko.SSHClient()
    client.get_host_keys().add(
        f"[127.0.0.1]:{node.ssh_port}", "ssh-ed25519", paramiko.Ed25519Key(data=_key_blob(other))
    )
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(
            "127.0.0.1",
            port=node.ssh_port,
            username=SIM_OS_USER,
            password=SIM_OS_PASSWORD,
            look_for_keys=False,
            allow_agent=False,
        )
    client.close()


def _key_blob(node) -> bytes:
    import base64

    return base64.b64decode(node.host_key_line.split()[1])


def test_ssh_refuses_wrong_password(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-pub.c1.certops.test")
    with pytest.raises(paramiko.AuthenticationException):
        SimShell(sim_fleet, node, password="nope")


def test_ssh_refuses_exec_channel(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-pub.c1.certops.test")
    client = paramiko.SSHClient()
    client.load_host_keys(str(sim_fleet.known_hosts_path))
    client.connect(
        "127.0.0.1",
        port=node.ssh_port,
        username=SIM_OS_USER,
        password=SIM_OS_PASSWORD,
        look_for_keys=False,
        allow_agent=False,
    )
    try:
        with pytest.raises(paramiko.SSHException):
            client.exec_command("show version active")
    finally:
        client.close()


def test_keyboard_interactive_auth_is_accepted(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-sub1.c1.certops.test")
    sock = socket.create_connection(("127.0.0.1", node.ssh_port), timeout=5)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        transport.auth_interactive(SIM_OS_USER, lambda title, instructions, prompts: [SIM_OS_PASSWORD for _ in prompts])
        assert transport.is_authenticated()
    finally:
        transport.close()


def test_a_client_hanging_up_with_the_nodes_words_unread_is_no_error_in_the_simulators_log(
    sim_fleet: SimulatedFleet, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that closes with the node's output unread resets the connection (its kernel's answer
    to a close with data pending; forced here by SO_LINGER 0). The node's SSH side notes it at DEBUG:
    a demo or a benchmark that runs the simulator in its own process shows no ERROR line for it."""
    import struct
    import threading

    node = sim_fleet.node("cucm-pub.c1.certops.test")
    caplog.set_level(logging.DEBUG, logger=TRANSPORT_LOG)
    before = {t for t in threading.enumerate() if getattr(t, "server_mode", False)}
    with SimShell(sim_fleet, node) as shell:
        shell.wait_prompt()
        shell.channel.send(b"show version active\n")
        shell.read_until("admin:")
        sock = shell.client.get_transport().sock  # type: ignore[union-attr]
        servers = [t for t in threading.enumerate() if getattr(t, "server_mode", False) and t not in before]
        shell.channel.send(b"show version active\n")  # the node answers; the client never reads it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    for t in servers:
        t.join(timeout=30)  # the node's transport ends once it has seen the reset
    assert servers and not any(t.is_alive() for t in servers)
    mine = [r for r in caplog.records if r.name == TRANSPORT_LOG]
    assert [r.getMessage() for r in mine if r.levelno >= logging.ERROR] == []
    assert any("Connection reset by peer" in r.getMessage() and r.levelno == logging.DEBUG for r in mine)


def test_the_nodes_and_certops_ssh_sockets_send_without_nagles_delay_as_openssh_does_for_a_shell(
    sim_fleet: SimulatedFleet,
) -> None:
    """sshd and ssh set TCP_NODELAY for an interactive session. Without it every CLI command of the
    simulator waited out the client's delayed ACK (40 ms a round trip: 132 ms for a DRF gate of two
    status commands, 1-2 ms with it), which the renewal benchmark counted as certops's overhead."""
    import socket as _socket
    import threading

    from pydantic import SecretStr

    from certops.cucm.shell import CucmCli

    node = sim_fleet.node("cucm-pub.c1.certops.test")
    before = {t for t in threading.enumerate() if getattr(t, "server_mode", False)}
    cli = CucmCli(
        fqdn=node.fqdn,
        address="127.0.0.1",
        port=node.ssh_port,
        username=SIM_OS_USER,
        password=SecretStr(SIM_OS_PASSWORD),
        known_hosts=sim_fleet.known_hosts_path,
    )
    with cli:
        assert "Active Master Version" in cli.run("show version active").output
        client_sock = cli._transport.sock  # type: ignore[union-attr]
        assert client_sock.getsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY) != 0
        servers = [t for t in threading.enumerate() if getattr(t, "server_mode", False) and t not in before]
        assert servers and all(t.sock.getsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY) != 0 for t in servers)


def test_show_cert_own_prints_the_installed_certificate(sim_fleet: SimulatedFleet) -> None:
    node = sim_fleet.node("cucm-pub.c1.certops.test")
    with SimShell(sim_fleet, node) as shell:
        shell.wait_prompt()
        shell.run("set cli pagination off")
        out = shell.run("show cert own tomcat")
    pem = out[out.index("-----BEGIN CERTIFICATE-----") : out.index("-----END CERTIFICATE-----") + 25]
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert == node.identity("tomcat").cert
    assert "Issuer Name: " in out and "Validity From: " in out
