"""certmgr REST client: requests it sends and how it maps failures (httpx.MockTransport)."""

from __future__ import annotations

import json
import logging
import ssl

import httpx
import pytest
from pydantic import SecretStr

from certops.cucm.rest import CertMgrClient
from certops.errors import (
    CsrNotFound,
    CucmApiError,
    CucmAuthError,
    CucmConnectionError,
    CucmTrustError,
    KeyMismatch,
    PlatformLocked,
    SanMismatch,
    TrustChainMissing,
)
from certops.models import CsrRequest

FQDN = "cucm-pub.c1.certops.test"
PASSWORD = "s3cret-Pa55"


def _client(handler: httpx.MockTransport | None = None, **kw: object) -> CertMgrClient:
    return CertMgrClient(
        fqdn=FQDN,
        address="127.0.0.1",
        port=8443,
        username="certops",
        password=SecretStr(PASSWORD),
        transport=handler,
        **kw,  # type: ignore[arg-type]
    )


def _respond(status: int, body: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body))


def test_snapshot_request_goes_to_address_with_fqdn_host_and_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "trackingId": "t",
                "server": "cucm-pub",
                "identities": [
                    {"service": "tomcat", "certificate": "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----"},
                    {
                        "service": "ipsec",
                        "certificate": "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----",
                        "csr": "-----BEGIN CERTIFICATE REQUEST-----\nC\n-----END CERTIFICATE REQUEST-----",
                    },
                ],
                "trusts": [
                    {
                        "service": "tomcat",
                        "certificate_data": [
                            {
                                "filename": "root.pem",
                                "certificate": "-----BEGIN CERTIFICATE-----\nR\n-----END CERTIFICATE-----",
                            }
                        ],
                    }
                ],
                "revokedCertificates": [],
            },
        )

    with _client(httpx.MockTransport(handler)) as client:
        snap = client.snapshot()
    request = seen[0]
    assert request.url.host == "127.0.0.1" and request.url.port == 8443
    assert request.url.path == "/platformcom/api/v1/certmgr/config/snapshot/server"
    assert request.headers["Host"] == f"{FQDN}:8443"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.extensions["sni_hostname"] == FQDN
    assert [i.unit for i in snap.identities] == ["tomcat", "ipsec"]
    assert snap.identities[0].csr is None and snap.identities[1].csr is not None
    assert len(snap.trusts["tomcat"]) == 1


def test_generate_csr_posts_the_documented_body() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200, json={"csr": "-----BEGIN CERTIFICATE REQUEST-----\nX\n-----END CERTIFICATE REQUEST-----"}
        )

    with _client(httpx.MockTransport(handler)) as client:
        pem = client.generate_csr(CsrRequest(unit="tomcat", common_name=FQDN, alt_names=[FQDN]))
    assert "BEGIN CERTIFICATE REQUEST" in pem
    assert bodies[0] == {
        "service": "tomcat",
        "distribution": "this-server",
        "commonName": FQDN,
        "keyType": "rsa",
        "keyLength": 2048,
        "hashAlgorithm": "sha256",
        "altNames": [FQDN],
    }


def test_trust_upload_sends_service_as_array_and_identity_as_string() -> None:
    bodies: dict[str, dict[str, object]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        bodies[request.url.path.rsplit("/", 2)[-2]] = json.loads(request.content)
        return httpx.Response(201, json={})

    with _client(httpx.MockTransport(handler)) as client:
        client.upload_trust("tomcat", ["ROOT", "INT"], "Root CA")
        client.upload_identity("tomcat", ["LEAF", "INT"])
    assert bodies["trust"] == {"service": ["tomcat"], "certificates": ["ROOT", "INT"], "description": "Root CA"}
    assert bodies["identity"] == {"service": "tomcat", "certificates": ["LEAF", "INT"]}


def test_get_csr_returns_none_when_the_node_has_none() -> None:
    with _client(_respond(404, {"message": "not found"})) as client:
        assert client.get_csr("tomcat") is None


def test_unauthorized_is_an_auth_error_that_never_shows_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with _client(_respond(401, {"error": "Unauthorized"})) as client, pytest.raises(CucmAuthError) as info:
        client.snapshot()
    assert FQDN in str(info.value) and "401" in str(info.value) and "certops" in str(info.value)
    assert not info.value.transient
    assert PASSWORD not in str(info.value) and PASSWORD not in caplog.text
    assert "Authorization" not in caplog.text and "Basic" not in caplog.text


def test_each_request_logs_one_info_line_with_method_node_path_status() -> None:
    records: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Collect()
    logger = logging.getLogger("certops.cucm.http")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with _client(_respond(200, {"identities": []})) as client:
            client.snapshot()
    finally:
        logger.removeHandler(handler)
    lines = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert len(lines) == 1
    assert lines[0].startswith(f"GET {FQDN} /platformcom/api/v1/certmgr/config/snapshot/server -> 200")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"message": "CSR SAN and Certificate SAN does not match"}, SanMismatch),
        (400, {"messages": ["CAA1016 CSR SAN and Certificate SAN doesn't match"]}, SanMismatch),
        (400, {"error": "CSR public key and Certificate public key doesn't match"}, KeyMismatch),
        (400, {"message": "CSR does not exist in the App"}, CsrNotFound),
        (400, {"message": "CA certificate is not available in the trust-store"}, TrustChainMissing),
        (503, {"message": "Platform API is locked: DRS backup in progress"}, PlatformLocked),
        (423, {"message": "Locked"}, PlatformLocked),
    ],
)
def test_upload_failure_classes_are_mapped_from_the_error_text(
    status: int, body: dict[str, object], error: type[CucmApiError]
) -> None:
    with _client(_respond(status, body)) as client, pytest.raises(error) as info:
        client.upload_identity("tomcat", ["LEAF"])
    assert info.value.node == FQDN and info.value.unit == "tomcat" and info.value.status == status
    assert info.value.hint


def test_platform_lock_is_transient_and_san_mismatch_is_not() -> None:
    assert PlatformLocked("x", node="n", operation="o").transient
    assert not SanMismatch("x", node="n", operation="o").transient


def test_unrecognised_500_on_identity_upload_hints_at_a_stale_csr() -> None:
    with _client(_respond(500, {"message": "Internal error"})) as client, pytest.raises(CucmApiError) as info:
        client.upload_identity("tomcat", ["LEAF"])
    assert type(info.value) is CucmApiError
    assert "stale CSR" in (info.value.hint or "")


def test_connect_failure_is_a_transient_connection_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with _client(httpx.MockTransport(handler)) as client, pytest.raises(CucmConnectionError) as info:
        client.snapshot()
    assert info.value.transient and "127.0.0.1:8443" in str(info.value)


def test_timeout_is_a_connection_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with _client(httpx.MockTransport(handler)) as client, pytest.raises(CucmConnectionError, match="timed out"):
        client.snapshot()


def test_certificate_verification_failure_is_a_trust_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc

    with _client(httpx.MockTransport(handler)) as client, pytest.raises(CucmTrustError) as info:
        client.snapshot()
    assert not info.value.transient and "ca_bundle" in str(info.value)


def test_non_json_answer_is_an_api_error_naming_the_node() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="<html>login</html>"))
    with _client(transport) as client, pytest.raises(CucmApiError, match=FQDN):
        client.snapshot()


def test_tls_verify_off_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    CertMgrClient(fqdn=FQDN, address="127.0.0.1", username="u", password=SecretStr("p"), verify=False).close()
    assert any(r.levelno == logging.WARNING and "TLS VERIFICATION IS OFF" in r.getMessage() for r in caplog.records)
