"""Contract: the certmgr REST API of a simulated node, driven with raw httpx (cucm-interfaces.md §1, §8)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import (
    SIM_APP_PASSWORD,
    SIM_APP_USER,
    SIM_OS_PASSWORD,
    SIM_OS_USER,
    SimShell,
    SimTestCa,
    let_drf_jobs_run_their_time,
    served_certificate_der,
    sim_https,
    sim_options,
)

API = "/platformcom/api/v1/certmgr/config"
AUTH = (SIM_OS_USER, SIM_OS_PASSWORD)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = sim_options(clusters=2, nodes=3, version=["15.0", "12.5"], state_dir=tmp_path_factory.mktemp("certmgr"))
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture(scope="module")
def ca() -> SimTestCa:
    return SimTestCa()


def client(fleet: SimulatedFleet, fqdn: str) -> httpx.Client:
    return sim_https(fleet, fleet.node(fqdn))


def new_csr(c: httpx.Client, service: str = "tomcat", **extra: object) -> str:
    r = c.post(f"{API}/csr", auth=AUTH, json={"service": service, "distribution": "this-server", **extra})
    assert r.status_code == 200, r.text
    return str(r.json()["csr"])


def upload_trust(c: httpx.Client, ca: SimTestCa, services: list[str]) -> httpx.Response:
    return c.post(
        f"{API}/trust/certificates",
        auth=AUTH,
        json={"service": services, "certificates": [ca.root_pem, ca.intermediate_pem], "description": "test CA"},
    )


def upload_identity(c: httpx.Client, service: str, chain: list[str]) -> httpx.Response:
    return c.post(f"{API}/identity/certificates", auth=AUTH, json={"service": service, "certificates": chain})


def refusals(fleet: SimulatedFleet, fqdn: str) -> list[str]:
    return [e["detail"]["reason"] for e in fleet.events() if e["node"] == fqdn and e["operation"] == "upload_refused"]


# --------------------------------------------------------------------------------------------- reads


def test_snapshot_lists_every_unit_of_a_cucm_node_and_the_imp_units_on_imp(fleet: SimulatedFleet) -> None:
    with client(fleet, "cucm-pub.c1.certops.test") as c:
        pub = c.get(f"{API}/snapshot/server", auth=AUTH).json()
    with client(fleet, "imp1.c1.certops.test") as c:
        imp = c.get(f"{API}/snapshot/server", auth=AUTH).json()
    assert [i["service"] for i in pub["identities"]] == [
        "tomcat",
        "tomcat-ECDSA",
        "ipsec",
        "CAPF",
        "CallManager",
        "CallManager-ECDSA",
        "TVS",
        "ITLRecovery",
    ]
    assert [i["service"] for i in imp["identities"]] == [
        "tomcat",
        "tomcat-ECDSA",
        "ipsec",
        "cup",
        "cup-ECDSA",
        "cup-xmpp",
        "cup-xmpp-ECDSA",
        "cup-xmpp-s2s",
        "cup-xmpp-s2s-ECDSA",
    ]


def test_snapshot_expiry_follows_the_configured_days(fleet: SimulatedFleet) -> None:
    with client(fleet, "cucm-sub1.c1.certops.test") as c:
        snap = c.get(f"{API}/snapshot/server", auth=AUTH).json()
    days = {}
    for item in snap["identities"]:
        cert = x509.load_pem_x509_certificate(item["certificate"].encode())
        days[item["service"]] = (cert.not_valid_after_utc.timestamp() - time.time()) / 86400
    assert 19 < days["tomcat"] <= 20
    assert 24 < days["CallManager"] <= 25
    assert days["ITLRecovery"] > 2000


def test_initial_certificates_mix_ca_signed_and_self_signed(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-pub.c1.certops.test")
    tomcat = node.identity("tomcat").cert
    itl = node.identity("ITLRecovery").cert
    assert tomcat.issuer == fleet.ca.cert.subject
    assert node.identity("TVS").cert.issuer == fleet.ca.cert.subject
    assert itl.issuer == itl.subject


def test_certmgr_is_absent_on_12_5(fleet: SimulatedFleet) -> None:
    with client(fleet, "cucm-pub.c2.certops.test") as c:
        assert c.get(f"{API}/snapshot/server", auth=AUTH).status_code == 404


def test_get_csr_is_404_when_none_is_pending(fleet: SimulatedFleet) -> None:
    with client(fleet, "cucm-sub1.c1.certops.test") as c:
        r = c.get(f"{API}/csr", params={"service": "ipsec"}, auth=AUTH)
    assert r.status_code == 404
    assert "CSR" in r.json()["message"]


# --------------------------------------------------------------------------------------------- CSR


def test_csr_carries_requested_cn_and_sans_and_is_readable_back(fleet: SimulatedFleet) -> None:
    fqdn = "cucm-sub1.c1.certops.test"
    with client(fleet, fqdn) as c:
        pem = new_csr(
            c,
            "tomcat",
            commonName=fqdn,
            keyType="rsa",
            keyLength=2048,
            hashAlgorithm="sha256",
            altNames=["alias.certops.test"],
        )
        again = c.get(f"{API}/csr", params={"service": "tomcat"}, auth=AUTH).json()["csr"]
        snap = c.get(f"{API}/snapshot/server", auth=AUTH).json()
    csr = x509.load_pem_x509_csr(pem.encode())
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == fqdn
    assert sorted(sans) == sorted([fqdn, "alias.certops.test"])
    assert isinstance(csr.public_key(), rsa.RSAPublicKey) and csr.public_key().key_size == 2048
    assert again == pem
    assert next(i for i in snap["identities"] if i["service"] == "tomcat")["csr"] == pem
    assert any(
        e["operation"] == "csr_generated" and e["unit"] == "tomcat" and e["node"] == fqdn for e in fleet.events()
    )


def test_new_csr_replaces_the_pending_one_with_a_new_key(fleet: SimulatedFleet) -> None:
    with client(fleet, "cucm-sub1.c1.certops.test") as c:
        first = x509.load_pem_x509_csr(new_csr(c, "ipsec").encode())
        second = x509.load_pem_x509_csr(new_csr(c, "ipsec").encode())
        current = c.get(f"{API}/csr", params={"service": "ipsec"}, auth=AUTH).json()["csr"]
    assert first.public_key() != second.public_key()
    assert x509.load_pem_x509_csr(current.encode()).public_key() == second.public_key()


def test_ecdsa_unit_gets_an_ec_key_of_the_requested_size(fleet: SimulatedFleet) -> None:
    with client(fleet, "cucm-pub.c1.certops.test") as c:
        pem = new_csr(c, "tomcat-ECDSA", keyType="ec", keyLength=384, hashAlgorithm="sha384")
        wrong = c.post(f"{API}/csr", auth=AUTH, json={"service": "tomcat-ECDSA", "keyType": "rsa", "keyLength": 2048})
    key = x509.load_pem_x509_csr(pem.encode()).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    assert wrong.status_code == 400


def test_csr_for_a_unit_the_node_does_not_hold_is_refused(fleet: SimulatedFleet) -> None:
    with client(fleet, "imp1.c1.certops.test") as c:
        r = c.post(f"{API}/csr", auth=AUTH, json={"service": "CallManager"})
    assert r.status_code == 400
    assert "CallManager" in r.json()["message"]


def test_multi_server_csr_names_every_node_holding_the_unit(fleet: SimulatedFleet) -> None:
    with client(fleet, "cucm-pub.c1.certops.test") as c:
        pem = new_csr(c, "CallManager", distribution="multi-server")
    sans = x509.load_pem_x509_csr(pem.encode()).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == ["cucm-pub.c1.certops.test", "cucm-sub1.c1.certops.test"]


# --------------------------------------------------------------------------------------------- trust


def test_trust_upload_takes_an_array_and_lists_back(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    with client(fleet, "cucm-pub.c1.certops.test") as c:
        as_string = c.post(
            f"{API}/trust/certificates", auth=AUTH, json={"service": "tomcat", "certificates": [ca.root_pem]}
        )
        ok = upload_trust(c, ca, ["tomcat", "CallManager"])
        listed = c.get(f"{API}/trust/certificate", params={"service": "tomcat"}, auth=AUTH).json()
    assert as_string.status_code == 400
    assert ok.status_code == 200
    pems = [d["certificate"] for d in listed["certificate_data"]]
    assert ca.root_pem in pems and ca.intermediate_pem in pems


def test_older_trust_certificate_with_the_same_cn_does_not_replace_the_newer(fleet: SimulatedFleet) -> None:
    newer = SimTestCa("Same Name", not_before_days_ago=1)
    older = SimTestCa("Same Name", not_before_days_ago=30)
    newest = SimTestCa("Same Name", not_before_days_ago=0)
    node = fleet.node("cucm-sub1.c1.certops.test")
    with client(fleet, node.fqdn) as c:
        for issuer in (newer, older, newest):
            r = c.post(
                f"{API}/trust/certificates", auth=AUTH, json={"service": ["ipsec"], "certificates": [issuer.root_pem]}
            )
            assert r.status_code == 200
        listed = c.get(f"{API}/trust/certificate", params={"service": "ipsec"}, auth=AUTH).json()
    outcomes = [
        e["detail"]["outcome"]
        for e in fleet.events()
        if e["node"] == node.fqdn
        and e["operation"] == "trust_uploaded"
        and e["detail"]["common_name"] == "Same Name Root CA"
    ]
    assert outcomes == ["added", "kept", "replaced"]
    assert [d["certificate"] for d in listed["certificate_data"] if "Same" in d["filename"]] == [newest.root_pem]


# --------------------------------------------------------------------------------------------- identity upload


def test_upload_refused_when_not_pem(fleet: SimulatedFleet) -> None:
    fqdn = "cucm-pub.c1.certops.test"
    with client(fleet, fqdn) as c:
        new_csr(c, "ipsec")
        r = upload_identity(c, "ipsec", ["this is not a certificate"])
        pending = c.get(f"{API}/csr", params={"service": "ipsec"}, auth=AUTH)
    assert r.status_code == 400
    assert r.json()["message"] == "Certificate is not in PEM format"
    assert pending.status_code == 200
    assert refusals(fleet, fqdn)[-1] == "format"


def test_upload_refused_for_a_wildcard_certificate(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    fqdn = "cucm-pub.c1.certops.test"
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["ipsec"])
        csr = new_csr(c, "ipsec")
        r = upload_identity(c, "ipsec", [ca.sign(csr, sans=["*.c1.certops.test"]), ca.intermediate_pem])
    assert r.status_code == 400
    assert "Wildcard" in r.json()["message"]
    assert refusals(fleet, fqdn)[-1] == "wildcard"


def test_upload_refused_for_an_rsa_key_over_4096_bits(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    fqdn = "cucm-pub.c1.certops.test"
    big = rsa.generate_private_key(public_exponent=65537, key_size=4160)
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["ipsec"])
        csr = new_csr(c, "ipsec")
        r = upload_identity(c, "ipsec", [ca.sign(csr, public_key=big.public_key())])
    assert r.status_code == 400
    assert "4096" in r.json()["message"]
    assert refusals(fleet, fqdn)[-1] == "key_size"


def test_upload_refused_when_no_csr_is_pending(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    fqdn = "cucm-sub1.c1.certops.test"
    node = fleet.node(fqdn)
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["tomcat"])
        csr = new_csr(c, "tomcat-ECDSA", keyType="ec", keyLength=256)  # a CSR for another unit
        r = upload_identity(c, "CallManager", [ca.sign(csr), ca.intermediate_pem])
    assert "CallManager" not in node.csrs
    assert r.status_code == 500
    assert "CSR does not exist" in r.json()["message"]
    assert refusals(fleet, fqdn)[-1] == "no_csr"


def test_upload_refused_when_issuer_is_not_in_the_unit_trust_store(fleet: SimulatedFleet) -> None:
    stranger = SimTestCa("Stranger")
    fqdn = "cucm-sub1.c1.certops.test"
    with client(fleet, fqdn) as c:
        csr = new_csr(c, "CAPF")
        # the stranger's root is in tomcat-trust only, not CAPF-trust
        upload_trust(c, stranger, ["tomcat"])
        r = upload_identity(c, "CAPF", [stranger.sign(csr), stranger.intermediate_pem, stranger.root_pem])
        still_pending = c.get(f"{API}/csr", params={"service": "CAPF"}, auth=AUTH).status_code
    assert r.status_code == 400
    assert r.json()["message"] == "CA certificate is not available in the trust-store"
    assert still_pending == 200
    assert refusals(fleet, fqdn)[-1] == "issuer_not_trusted"


def test_upload_refused_when_key_differs_from_pending_csr(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    fqdn = "cucm-pub.c1.certops.test"
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["CallManager"])
        stale = new_csr(c, "CallManager")
        new_csr(c, "CallManager")  # regenerated after the first one went to the CA
        r = upload_identity(c, "CallManager", [ca.sign(stale), ca.intermediate_pem])
    assert r.status_code == 500
    assert r.json()["message"] == "CSR public key and Certificate public key doesn't match"
    assert refusals(fleet, fqdn)[-1] == "key_mismatch"


def test_upload_refused_when_san_differs_from_csr(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    fqdn = "cucm-pub.c1.certops.test"
    node = fleet.node(fqdn)
    before = node.identity("tomcat").cert
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["tomcat"])
        csr = new_csr(c, "tomcat")
        r = upload_identity(c, "tomcat", [ca.sign(csr, sans=[fqdn, "extra.certops.test"]), ca.intermediate_pem])
    assert r.status_code == 400
    assert r.json()["message"] == "CSR SAN and Certificate SAN does not match"
    assert node.identity("tomcat").cert == before
    assert refusals(fleet, fqdn)[-1] == "san_mismatch"


def test_san_order_does_not_matter(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    fqdn = "cucm-pub.c1.certops.test"
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["ipsec"])
        csr = new_csr(c, "ipsec", altNames=["b.certops.test", "a.certops.test"])
        r = upload_identity(
            c, "ipsec", [ca.sign(csr, sans=["a.certops.test", fqdn, "b.certops.test"]), ca.intermediate_pem]
        )
    assert r.status_code == 200, r.text


def test_upload_error_fault_fails_the_next_upload_only(fleet: SimulatedFleet, ca: SimTestCa) -> None:
    fqdn = "cucm-sub1.c1.certops.test"
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["ipsec"])
        csr = new_csr(c, "ipsec")
        leaf = ca.sign(csr)
        fleet.set_fault("upload-error", node=fqdn)
        first = upload_identity(c, "ipsec", [leaf, ca.intermediate_pem])
        second = upload_identity(c, "ipsec", [leaf, ca.intermediate_pem])
    assert first.status_code == 500 and first.json()["message"] == "Certificate Upload failed"
    assert second.status_code == 200


# --------------------------------------------------------------------------------------------- success and restart


def test_upload_consumes_csr_and_tomcat_serves_new_certificate_only_after_restart(
    fleet: SimulatedFleet, ca: SimTestCa
) -> None:
    node = fleet.node("imp1.c1.certops.test")
    old_served = served_certificate_der(fleet, node, node.https_port)
    with client(fleet, node.fqdn) as c:
        assert upload_trust(c, ca, ["tomcat"]).status_code == 200
        csr = new_csr(c, "tomcat")
        leaf_pem = ca.sign(csr)
        r = upload_identity(c, "tomcat", [leaf_pem, ca.intermediate_pem])
        assert r.status_code == 200, r.text
        assert c.get(f"{API}/csr", params={"service": "tomcat"}, auth=AUTH).status_code == 404
        snap = c.get(f"{API}/snapshot/server", auth=AUTH).json()
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    installed = next(i["certificate"] for i in snap["identities"] if i["service"] == "tomcat")
    assert x509.load_pem_x509_certificate(installed.encode()) == leaf
    # still the old certificate on the wire
    assert served_certificate_der(fleet, node, node.https_port) == old_served

    refused: list[bool] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            try:
                served_certificate_der(fleet, node, node.https_port)
            except (ConnectionResetError, ssl.SSLError):  # reset before any TLS byte while Tomcat is down
                refused.append(True)
            time.sleep(0.02)

    t = threading.Thread(target=probe)
    t.start()
    try:
        with SimShell(fleet, node) as shell:
            shell.wait_prompt()
            out = shell.run("utils service restart Cisco Tomcat", timeout=20)
    finally:
        stop.set()
        t.join()
    assert "Cisco Tomcat[STARTED]" in out
    assert refused, "HTTPS must reset connections while Cisco Tomcat restarts"
    new_served = x509.load_der_x509_certificate(served_certificate_der(fleet, node, node.https_port))
    assert new_served == leaf
    # and the chain now verifies against the CA's root (SNI = fqdn)
    ctx = ssl.create_default_context(cadata=ca.root_pem)
    with (
        socket.create_connection(("127.0.0.1", node.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=node.fqdn) as tls,
    ):
        assert tls.getpeercert() is not None


def test_callmanager_port_serves_new_certificate_after_callmanager_restart(
    fleet: SimulatedFleet, ca: SimTestCa
) -> None:
    node = fleet.node("cucm-sub1.c1.certops.test")
    port = node.service_tls_ports["CallManager"]
    with client(fleet, node.fqdn) as c:
        upload_trust(c, ca, ["CallManager"])
        csr = new_csr(c, "CallManager")
        leaf_pem = ca.sign(csr)
        assert upload_identity(c, "CallManager", [leaf_pem, ca.intermediate_pem]).status_code == 200
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    assert x509.load_der_x509_certificate(served_certificate_der(fleet, node, port)) != leaf
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap="http://schemas.cisco.com/ast/soap">'
        "<soapenv:Body><soap:soapDoControlServices><soap:ControlServiceRequest>"
        f"<soap:NodeName>{node.fqdn}</soap:NodeName><soap:ControlType>Restart</soap:ControlType>"
        "<soap:ServiceList><soap:item>Cisco CallManager</soap:item></soap:ServiceList>"
        "</soap:ControlServiceRequest></soap:soapDoControlServices></soapenv:Body></soapenv:Envelope>"
    )
    with sim_https(fleet, node) as c:
        r = c.post(
            f"https://127.0.0.1:{node.soap_port}/controlcenterservice2/services/ControlCenterServices",
            content=body,
            headers={"SOAPAction": "soapDoControlServices", "Content-Type": "text/xml"},
            auth=(SIM_APP_USER, SIM_APP_PASSWORD),
        )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60  # a bound on a hang, not a measure
    while time.monotonic() < deadline:
        try:
            if x509.load_der_x509_certificate(served_certificate_der(fleet, node, port)) == leaf:
                break
        except OSError:
            pass
        time.sleep(0.05)
    else:
        raise AssertionError("CallManager port did not serve the new certificate after the restart")


# --------------------------------------------------------------------------------------------- DRF lock


def test_platform_api_locked_while_drf_backup_runs(fleet: SimulatedFleet) -> None:
    fqdn = "cucm-sub1.c1.certops.test"
    fleet.set_fault("drf-backup", cluster="c1", seconds=3600.0)
    try:
        with client(fleet, fqdn) as c:
            locked = c.get(f"{API}/snapshot/server", auth=AUTH)
            let_drf_jobs_run_their_time(fleet)
            after = c.get(f"{API}/snapshot/server", auth=AUTH)
    finally:
        fleet.clear_faults()
    assert locked.status_code == 423
    assert "backup or restore" in locked.json()["message"]
    assert after.status_code == 200
    ops = [e["operation"] for e in fleet.events() if e["cluster"] == "c1"]
    assert ops.index("drf_backup_started") < ops.index("platform_locked") < ops.index("drf_backup_finished")


def test_unreachable_node_resets_https_and_ssh_connections(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-sub1.c1.certops.test")
    fleet.set_fault("unreachable", node=node.fqdn)
    try:
        for port in (node.https_port, node.ssh_port):
            # the port stays bound (never given back); each connection is reset before any byte
            with pytest.raises(ConnectionResetError):  # at connect or at the first read
                socket.create_connection(("127.0.0.1", port), timeout=10).recv(1)
    finally:
        fleet.clear_faults()
    with client(fleet, node.fqdn) as c:
        assert c.get(f"{API}/snapshot/server", auth=AUTH).status_code == 200


def test_csr_signed_by_the_simulator_ca_uploads_without_a_trust_upload(fleet: SimulatedFleet) -> None:
    fqdn = "cucm-pub.c1.certops.test"
    with client(fleet, fqdn) as c:
        trust = c.get(f"{API}/trust/certificate", params={"service": "CAPF"}, auth=AUTH).json()
        csr = new_csr(c, "CAPF")
        r = upload_identity(c, "CAPF", [fleet.ca.sign_csr(csr)])
    assert fleet.ca.pem in [d["certificate"] for d in trust["certificate_data"]]
    assert r.status_code == 200, r.text


def test_per_node_expiry_override(sim_factory) -> None:
    f = sim_factory(nodes=2, phones_per_cluster=0, node_expiry_days={"cucm-sub1.c1.certops.test": {"tomcat": 3}})
    sub = f.node("cucm-sub1.c1.certops.test").identity("tomcat").cert
    pub = f.node("cucm-pub.c1.certops.test").identity("tomcat").cert
    assert (sub.not_valid_after_utc.timestamp() - time.time()) / 86400 <= 3
    assert (pub.not_valid_after_utc.timestamp() - time.time()) / 86400 > 19


def test_identity_and_options_endpoints(fleet: SimulatedFleet) -> None:
    node = fleet.node("cucm-pub.c1.certops.test")
    with client(fleet, node.fqdn) as c:
        ident = c.get(f"{API}/identity/certificate", params={"service": "ipsec"}, auth=AUTH)
        options = c.get(f"{API}/options", auth=AUTH)
        unknown = c.get(f"{API}/identity/certificate", params={"service": "tomcat-rsa"}, auth=AUTH)
    assert x509.load_pem_x509_certificate(ident.json()["certificate"].encode()) == node.identity("ipsec").cert
    assert options.status_code == 200 and options.json()["units"] == list(node.units)
    assert unknown.status_code == 400


def test_platform_api_locked_during_drf_restore_too(fleet: SimulatedFleet) -> None:
    fleet.set_fault("drf-restore", cluster="c1", seconds=5)
    try:
        with client(fleet, "cucm-pub.c1.certops.test") as c:
            r = c.post(f"{API}/csr", auth=AUTH, json={"service": "tomcat"})
        other_cluster = client(fleet, "cucm-pub.c2.certops.test")
        with other_cluster as c2:  # 12.5 has no certmgr at all; the lock is per cluster either way
            assert c2.get(f"{API}/snapshot/server", auth=AUTH).status_code == 404
    finally:
        fleet.clear_faults()
    assert r.status_code == 423


# --------------------------------------------------------------------------------------------- bundles


def test_trust_entry_with_two_pems_is_refused_whole_and_imports_nothing(fleet: SimulatedFleet) -> None:
    bundle_ca = SimTestCa("Bundle Trust")
    fqdn = "cucm-sub1.c1.certops.test"
    node = fleet.node(fqdn)
    before = {store: dict(certs) for store, certs in node.trust.items()}
    with client(fleet, fqdn) as c:
        r = c.post(
            f"{API}/trust/certificates",
            auth=AUTH,
            json={
                "service": ["tomcat"],
                "certificates": [bundle_ca.root_pem + bundle_ca.intermediate_pem],
                "description": "bundle",
            },
        )
        listed = c.get(f"{API}/trust/certificate", params={"service": "tomcat"}, auth=AUTH).json()
    assert r.status_code == 400
    assert r.json()["message"].startswith("Each entry of certificates must hold exactly one certificate")
    assert "entry 1 holds 2" in r.json()["message"] and "nothing was imported" in r.json()["message"]
    assert node.trust == before, "neither the first nor the second certificate was imported"
    assert not any("Bundle_Trust" in d["filename"] for d in listed["certificate_data"])
    assert refusals(fleet, fqdn)[-1] == "several_pems"


def test_identity_entry_holding_leaf_and_chain_is_refused_and_keeps_the_csr(
    fleet: SimulatedFleet, ca: SimTestCa
) -> None:
    fqdn = "cucm-sub1.c1.certops.test"
    with client(fleet, fqdn) as c:
        upload_trust(c, ca, ["ipsec"])
        leaf = ca.sign(new_csr(c, "ipsec"))
        bundled = upload_identity(c, "ipsec", [leaf + ca.intermediate_pem])
        still_pending = c.get(f"{API}/csr", params={"service": "ipsec"}, auth=AUTH)
        split = upload_identity(c, "ipsec", [leaf, ca.intermediate_pem])
    assert bundled.status_code == 400 and "entry 1 holds 2" in bundled.json()["message"]
    assert still_pending.status_code == 200, "a refused upload does not consume the pending CSR"
    assert split.status_code == 200, split.text
