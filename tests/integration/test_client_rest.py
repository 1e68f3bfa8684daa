"""certmgr REST client against the simulator over real TLS (verification on)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr

from certops.cucm.node import CucmNode
from certops.cucm.rest import CertMgrClient
from certops.errors import CucmApiError, CucmAuthError, KeyMismatch, PlatformLocked, SanMismatch, TrustChainMissing
from certops.inventory import Inventory
from certops.models import CsrRequest
from simulator.fleet import SimulatedFleet
from tests.fixtures.simulator import client_options, inventory_with_passwords

OS_PW = "rest-Os-pw-1"
APP_PW = "rest-App-pw-1"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    opts = client_options(
        tmp_path_factory.mktemp("sim-rest"),
        password=OS_PW,
        app_password=APP_PW,
    )
    with SimulatedFleet(opts) as f:
        yield f


@pytest.fixture()
def inventory(fleet: SimulatedFleet, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    return inventory_with_passwords(fleet, monkeypatch, password=OS_PW, app_password=APP_PW)


def _client(fleet: SimulatedFleet, fqdn: str, password: str = OS_PW) -> CertMgrClient:
    node = next(n for n in fleet.inventory_dict()["clusters"][0]["nodes"] if n["fqdn"] == fqdn)
    return CertMgrClient(
        fqdn=fqdn,
        address=node["address"],
        port=node["https_port"],
        username="certops",
        password=SecretStr(password),
        ca_bundle=fleet.ca_bundle_path,
    )


class _Ca:
    """A small test CA (root only) that signs CSRs, optionally with other SANs or another key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # A unique name: CUCM keeps one trust certificate per name unless the new one starts later.
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"REST Test Root CA {uuid.uuid4().hex[:8]}")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, csr_pem: str, *, sans: list[str] | None = None, other_key: bool = False) -> str:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        try:
            csr_sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName
            )
        except x509.ExtensionNotFound:
            csr_sans = []
        names = sans if sans is not None else csr_sans
        public_key = rsa.generate_private_key(65537, 2048).public_key() if other_key else csr.public_key()
        now = dt.datetime.now(dt.UTC)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return leaf.public_bytes(serialization.Encoding.PEM).decode()


def _fqdns(fleet: SimulatedFleet) -> list[str]:
    return [n["fqdn"] for n in fleet.inventory_dict()["clusters"][0]["nodes"]]


def test_snapshot_lists_identities_with_pems(fleet: SimulatedFleet) -> None:
    pub = _fqdns(fleet)[0]
    with _client(fleet, pub) as client:
        snap = client.snapshot()
    units = {i.unit for i in snap.identities}
    assert {"tomcat", "ipsec", "CallManager", "TVS", "CAPF"} <= units
    assert all("BEGIN CERTIFICATE" in i.certificate for i in snap.identities)


def test_wrong_password_is_an_auth_error(fleet: SimulatedFleet) -> None:
    with _client(fleet, _fqdns(fleet)[0], password="nope") as client, pytest.raises(CucmAuthError) as info:
        client.snapshot()
    assert "401" in str(info.value) and "nope" not in str(info.value)


def test_full_ca_signed_renewal_of_tomcat_through_rest(fleet: SimulatedFleet) -> None:
    sub = _fqdns(fleet)[1]
    ca = _Ca()
    with _client(fleet, sub) as client:
        csr = client.generate_csr(CsrRequest(unit="tomcat", common_name=sub, alt_names=[sub]))
        assert client.get_csr("tomcat") is not None
        client.upload_trust("tomcat", [ca.pem], "REST Test Root CA")
        trust = client.list_trust("tomcat")
        assert any(x509.load_pem_x509_certificate(p.encode()).subject == ca.cert.subject for p in trust), (
            "uploaded root is not listed in tomcat-trust"
        )
        leaf = ca.sign(csr)
        client.upload_identity("tomcat", [leaf, ca.pem])
        snap = client.snapshot()
        assert client.get_csr("tomcat") is None, "the CSR is consumed by a successful upload"
    tomcat = next(i for i in snap.identities if i.unit == "tomcat")
    assert x509.load_pem_x509_certificate(tomcat.certificate.encode()) == x509.load_pem_x509_certificate(leaf.encode())


def test_upload_before_the_root_is_trusted_is_trust_chain_missing(fleet: SimulatedFleet) -> None:
    sub = _fqdns(fleet)[1]
    ca = _Ca()
    with _client(fleet, sub) as client:
        csr = client.generate_csr(CsrRequest(unit="ipsec", common_name=sub, alt_names=[sub]))
        with pytest.raises(TrustChainMissing) as info:
            client.upload_identity("ipsec", [ca.sign(csr)])
    assert info.value.unit == "ipsec" and "trust" in (info.value.hint or "")


def test_certificate_with_other_sans_is_san_mismatch(fleet: SimulatedFleet) -> None:
    sub = _fqdns(fleet)[1]
    ca = _Ca()
    with _client(fleet, sub) as client:
        client.upload_trust("CAPF", [ca.pem], "REST Test Root CA")
        csr = client.generate_csr(CsrRequest(unit="CAPF", common_name=sub, alt_names=[sub]))
        with pytest.raises(SanMismatch):
            client.upload_identity("CAPF", [ca.sign(csr, sans=[sub, "extra.certops.test"])])


def test_certificate_for_another_key_is_key_mismatch(fleet: SimulatedFleet) -> None:
    sub = _fqdns(fleet)[1]
    ca = _Ca()
    with _client(fleet, sub) as client:
        client.upload_trust("tomcat", [ca.pem], "REST Test Root CA")
        csr = client.generate_csr(CsrRequest(unit="tomcat", common_name=sub, alt_names=[sub]))
        with pytest.raises(KeyMismatch):
            client.upload_identity("tomcat", [ca.sign(csr, other_key=True)])


def test_injected_upload_failure_is_an_api_error_with_a_hint(fleet: SimulatedFleet) -> None:
    sub = _fqdns(fleet)[1]
    ca = _Ca()
    with _client(fleet, sub) as client:
        client.upload_trust("tomcat", [ca.pem], "REST Test Root CA")
        leaf = ca.sign(client.generate_csr(CsrRequest(unit="tomcat", common_name=sub, alt_names=[sub])))
        fleet.set_fault("upload-error", node=sub)
        try:
            with pytest.raises(CucmApiError) as info:
                client.upload_identity("tomcat", [leaf])
        finally:
            fleet.clear_faults()
    assert info.value.status == 500 and "Certificate Upload failed" in str(info.value)
    assert "stale CSR" in (info.value.hint or "")


def test_garbage_certificate_is_refused_as_not_pem(fleet: SimulatedFleet) -> None:
    with _client(fleet, _fqdns(fleet)[1]) as client, pytest.raises(CucmApiError) as info:
        client.upload_identity("tomcat", ["-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"])
    assert info.value.status == 400 and "PEM or DER" in (info.value.hint or "")


def test_running_drf_backup_locks_the_platform_api(fleet: SimulatedFleet) -> None:
    sub = _fqdns(fleet)[1]
    fleet.set_fault("drf-backup", seconds=30)
    try:
        with _client(fleet, sub) as client, pytest.raises(PlatformLocked) as info:
            client.generate_csr(CsrRequest(unit="tomcat", common_name=sub))
    finally:
        fleet.clear_faults()
    assert info.value.transient


def test_node_reads_pending_csr_and_trust_through_the_domain_verbs(inventory: Inventory) -> None:
    pub = inventory.clusters[0].publisher.fqdn
    with CucmNode.from_inventory(inventory, "c1", pub) as node:
        pem = node.generate_csr(CsrRequest(unit="tomcat-ECDSA", common_name=pub, key_type="ec", key_length=256))
        assert node.pending_csr("tomcat-ECDSA") is not None
        csr = x509.load_pem_x509_csr(pem.encode())
        assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pub
        assert isinstance(node.read_trust("tomcat"), list)
