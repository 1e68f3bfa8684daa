"""certmgr REST shapes (certops.cucm.certmgr_shapes): every shape the field clients send or read.

Fixtures are written from what the two field-proven clients do (read, never copied):
- netSSL: sieteunoseis/netSSL backend/src/platform-providers/vos-provider.ts
- cisco-uc-get-cert: sieteunoseis/cisco-uc-get-cert get-cert.py
Each test names the client and the function its fixture comes from.
"""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from certops.cucm import certmgr_shapes as shapes
from certops.cucm.rest import CertMgrClient
from certops.errors import CsrNotFound, KeyMismatch, SanMismatch, TrustChainMissing
from certops.models import CsrRequest

ROOT = "-----BEGIN CERTIFICATE-----\nUk9PVA==\n-----END CERTIFICATE-----\n"
INTER = "-----BEGIN CERTIFICATE-----\nSU5URVI=\n-----END CERTIFICATE-----\n"
LEAF = "-----BEGIN CERTIFICATE-----\nTEVBRg==\n-----END CERTIFICATE-----\n"
CSR = "-----BEGIN CERTIFICATE REQUEST-----\nQ1NS\n-----END CERTIFICATE REQUEST-----\n"
FQDN = "cucm-pub.c1.certops.test"


# -- request bodies ------------------------------------------------------------------------------------


def test_csr_body_has_the_keys_and_values_both_field_clients_send() -> None:
    # netSSL renewal csrPayload and cisco-uc-get-cert generate_csr: the same six keys, altNames when given
    body = shapes.csr_body(CsrRequest(unit="tomcat", common_name=FQDN, alt_names=["alt.certops.test"]))
    assert body == {
        "service": "tomcat",
        "distribution": "this-server",
        "commonName": FQDN,
        "keyType": "rsa",
        "keyLength": 2048,
        "hashAlgorithm": "sha256",
        "altNames": ["alt.certops.test"],
    }


def test_csr_body_leaves_alt_names_out_when_there_are_none() -> None:
    # netSSL: ...(altNames.length > 0 && { altNames }); cisco-uc-get-cert: `if alt_names: body["altNames"] = ...`
    assert "altNames" not in shapes.csr_body(CsrRequest(unit="tomcat", common_name=FQDN))


def test_trust_body_service_is_an_array_and_a_bundle_becomes_one_entry_per_certificate() -> None:
    # netSSL renewalUploadCaCertificates: {service: ['tomcat'], certificates: [...], description}
    # cisco-uc-get-cert upload_ca puts a whole CA bundle in one entry: certops splits it
    body = shapes.trust_upload_body("tomcat", [ROOT + INTER], "certops renewal: CA certificate")
    assert body == {
        "service": ["tomcat"],
        "certificates": [ROOT, INTER],
        "description": "certops renewal: CA certificate",
    }


def test_identity_body_service_is_a_string_with_the_leaf_first_and_one_entry_each() -> None:
    # netSSL renewalUploadLeafCertificate and cisco-uc-get-cert upload_cert_chain split the chain per PEM
    body = shapes.identity_upload_body("tomcat", [LEAF + INTER, ROOT])
    assert body == {"service": "tomcat", "certificates": [LEAF, INTER, ROOT]}


def test_split_pems_keeps_order_normalises_ends_and_keeps_non_pem_text() -> None:
    crlf = (LEAF + INTER).replace("\n", "\r\n")
    assert shapes.split_pems([crlf]) == [
        LEAF.replace("\n", "\r\n").rstrip("\r\n") + "\n",
        INTER.replace("\n", "\r\n").rstrip("\r\n") + "\n",
    ]
    assert shapes.split_pems(["TUlJQg=="]) == ["TUlJQg=="]  # base64 DER stays one entry


# -- responses --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "answer"),
    [
        ("netSSL renewal path (response.csr)", {"csr": CSR}),
        ("cisco-uc-get-cert generate_csr (response.json()['csr'])", {"trackingId": "x", "csr": CSR}),
        ("netSSL generic generateCSR (response.certificateSigningRequest)", {"certificateSigningRequest": CSR}),
        ("[INF] nested", {"result": {"csrData": CSR}}),
        ("[INF] a bare PEM string", CSR),
    ],
)
def test_csr_is_read_from_every_shape_seen(source: str, answer: object) -> None:
    assert shapes.parse_csr(answer) == CSR, source


def test_csr_with_the_new_certificate_request_header_is_read() -> None:
    new = CSR.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    assert shapes.parse_csr({"csr": new}) == new
    assert shapes.parse_csr({"message": "no CSR here"}) is None


@pytest.mark.parametrize(
    ("source", "answer"),
    [
        ("netSSL renewalGetExistingTrustCertificates: a list", [{"certificate": ROOT}, {"certificate": INTER}]),
        (
            "netSSL renewalGetExistingTrustCertificates: {certificates: [...]}",
            {"certificates": [{"certificate": ROOT}, {"certificate": INTER}]},
        ),
        (
            "netSSL getTrustCertificates: cert.certificateData || cert.certificate",
            {"certificates": [{"certificateData": ROOT}, {"certificate": INTER}]},
        ),
        (
            "[INF] the snapshot's per-store shape, which the simulator answers",
            {
                "service": "tomcat",
                "certificate_data": [{"filename": "r.pem", "certificate": ROOT}, {"certificate": INTER}],
            },
        ),
        ("[INF] plain PEM strings in the list", {"certificates": [ROOT, INTER]}),
        ("[INF] anything else: every PEM in the answer", {"trust": {"store": [{"pem": ROOT}, {"pem": INTER}]}}),
    ],
)
def test_trust_list_is_read_from_every_shape_seen(source: str, answer: object) -> None:
    assert shapes.parse_trust_list(answer) == [ROOT, INTER], source


def test_empty_trust_lists_are_empty() -> None:
    assert shapes.parse_trust_list([]) == []
    assert shapes.parse_trust_list({"certificates": []}) == []


@pytest.mark.parametrize(
    ("source", "body", "message"),
    [
        (
            "netSSL identity upload: response.message",
            {"message": "CSR SAN and Certificate SAN does not match"},
            "CSR SAN and Certificate SAN does not match",
        ),
        (
            "netSSL trust upload: response.messages?.[0]",
            {"messages": ["CA certificate is not available in the trust-store"]},
            "CA certificate is not available in the trust-store",
        ),
        (
            "netSSL identity upload: response.error",
            {"error": "CSR does not exist for the service tomcat"},
            "CSR does not exist for the service tomcat",
        ),
        ("[INF] message wins over messages", {"message": "first", "messages": ["second"]}, "first"),
        ("[INF] nested message", {"error": {"message": "inner"}}, "inner"),
    ],
)
def test_error_message_is_read_from_message_messages_or_error(source: str, body: object, message: str) -> None:
    assert shapes.error_message(body) == message, source


def test_error_body_without_a_message_has_none() -> None:
    assert shapes.error_message({"trackingId": "x"}) is None
    assert shapes.error_message(["not", "a", "dict"]) is None


def test_snapshot_observed_shape_is_read_and_one_without_identities_is_refused() -> None:
    # cucm-interfaces.md §1.3, "observed shape" (GET /snapshot/server, fetched by cisco-uc-get-cert get_certs)
    snap = shapes.parse_snapshot(
        {
            "trackingId": "t",
            "server": "cucm-pub",
            "identities": [{"service": "tomcat", "certificate": LEAF, "csr": CSR}, {"service": "ipsec"}],
            "trusts": [{"service": "tomcat", "certificate_data": [{"filename": "r.pem", "certificate": ROOT}]}],
            "revokedCertificates": [],
        }
    )
    assert snap.server == "cucm-pub"
    assert [(i.unit, i.certificate, i.csr) for i in snap.identities] == [("tomcat", LEAF, CSR)]
    assert snap.trusts == {"tomcat": [ROOT]}
    with pytest.raises(shapes.ShapeError, match="no 'identities' list"):
        shapes.parse_snapshot({"server": "x"})


# -- the REST client uses them --------------------------------------------------------------------------------


def _client(handler: httpx.MockTransport) -> CertMgrClient:
    return CertMgrClient(
        fqdn=FQDN, address="127.0.0.1", port=8443, username="certops", password=SecretStr("pw"), transport=handler
    )


def test_client_never_sends_two_pems_in_one_trust_or_identity_entry() -> None:
    sent: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"message": "ok"})

    with _client(httpx.MockTransport(handler)) as c:
        c.upload_trust("tomcat", [ROOT + INTER], "CA bundle")
        c.upload_identity("tomcat", [LEAF + INTER])
    assert sent[0]["certificates"] == [ROOT, INTER] and sent[0]["service"] == ["tomcat"]
    assert sent[1]["certificates"] == [LEAF, INTER] and sent[1]["service"] == "tomcat"
    for body in sent:
        assert all(str(entry).count("BEGIN CERTIFICATE") == 1 for entry in body["certificates"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"error": "CA certificate is not available in the trust-store"}, TrustChainMissing),  # netSSL: .error
        ({"messages": ["CSR public key and Certificate public key doesn't match"]}, KeyMismatch),  # netSSL: messages[0]
        ({"message": "CSR SAN and Certificate SAN does not match"}, SanMismatch),  # netSSL: .message
        ({"trackingId": "t", "error": "CSR does not exist for the service tomcat"}, CsrNotFound),
    ],
)
def test_client_classifies_error_bodies_in_every_shape(body: object, error: type[Exception]) -> None:
    with _client(httpx.MockTransport(lambda r: httpx.Response(400, json=body))) as c, pytest.raises(error):
        c.upload_identity("tomcat", [LEAF])


def test_client_lists_trust_from_a_bare_list_as_netssl_reads_it() -> None:
    answer = [{"certificate": ROOT}, {"certificate": INTER}]
    with _client(httpx.MockTransport(lambda r: httpx.Response(200, json=answer))) as c:
        assert c.list_trust("tomcat") == [ROOT, INTER]
