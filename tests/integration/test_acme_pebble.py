"""The ACME backend against pebble, a real ACME server on loopback (EAB required)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from certops.ca import make_backend
from certops.ca.acme import AcmeCa
from certops.errors import CaError, CaRejected, CaUnavailable, ConfigError
from certops.inventory import AcmeCaConfig
from certops.x509.checks import check_signed_chain
from tests.fixtures.pebble import PebbleServer, run_pebble
from tests.unit import x509_factory as f

pytestmark = pytest.mark.pebble

FQDN = "cucm-pub.lab.example"
ENV = "CERTOPS_TEST_EAB_KEY"


@pytest.fixture
def eab_env(pebble: PebbleServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, pebble.eab_hmac_key)
    return ENV


def _config(pebble: PebbleServer, tmp_path: Path, **kw: object) -> AcmeCaConfig:
    settings: dict[str, object] = {
        "directory_url": pebble.directory_url,
        "eab_kid": pebble.eab_kid,
        "eab_hmac_key_env": ENV,
        "ca_bundle": pebble.ca_bundle,
        "account_key_path": tmp_path / "acme-account.pem",
        "trigger_validation": True,
        "poll_timeout": 60,
    }
    settings.update(kw)
    return AcmeCaConfig.model_validate(settings)


def _backend(pebble: PebbleServer, tmp_path: Path, **kw: object) -> AcmeCa:
    backend = make_backend("corp-acme", _config(pebble, tmp_path, **kw))
    assert isinstance(backend, AcmeCa)
    return backend


def _csr(sans: list[str] | None = None, cn: str = FQDN, index: int = 0) -> str:
    names = sans if sans is not None else [f"DNS:{FQDN}", "DNS:cucm.lab.example", "IP:10.0.0.10"]
    return f.csr_pem(f.make_csr(f.key("rsa", 2048, 20 + index), cn, names)).decode()


def test_order_finalize_download_and_the_chain_passes_check(pebble: PebbleServer, tmp_path: Path, eab_env: str) -> None:
    backend = _backend(pebble, tmp_path)
    csr = _csr()
    ticket = backend.submit(csr, unit="tomcat", node=FQDN, cluster="lab")
    assert ticket.backend == "corp-acme" and ticket.reference.startswith("https://127.0.0.1:")
    chain = None
    for _ in range(50):
        chain = backend.poll(ticket)
        if chain is not None:
            break
    assert chain is not None
    assert chain.source.startswith("acme order ")
    report = check_signed_chain(csr, chain.leaf_pem, [*chain.chain_pems, pebble.root_pem()], "tomcat", node=FQDN)
    assert report.ok, report.summary()
    assert report.leaf_sans == ["DNS:cucm-pub.lab.example", "DNS:cucm.lab.example", "IP:10.0.0.10"]
    assert [t.role for t in report.trust_uploads] == ["root", "intermediate"]


def test_without_pebbles_root_the_check_names_the_missing_issuer(
    pebble: PebbleServer, tmp_path: Path, eab_env: str
) -> None:
    backend = _backend(pebble, tmp_path)
    csr = _csr(index=1)
    chain = backend.sign(csr, unit="tomcat", node=FQDN, cluster="lab")
    report = check_signed_chain(csr, chain.leaf_pem, chain.chain_pems, "tomcat", node=FQDN)
    assert report.codes == ["chain_incomplete"]
    assert "Pebble Root CA" in report.problems[0].message


def test_ticket_can_be_polled_by_another_backend_instance(pebble: PebbleServer, tmp_path: Path, eab_env: str) -> None:
    first = _backend(pebble, tmp_path)
    csr = _csr(index=2)
    ticket = first.submit(csr, unit="CallManager", node=FQDN, cluster="lab")
    assert (tmp_path / "acme-account.pem").stat().st_mode & 0o777 == 0o600
    second = _backend(pebble, tmp_path)  # e.g. the flow resumed in another process
    chain = None
    for _ in range(50):
        chain = second.poll(ticket)
        if chain is not None:
            break
    assert chain is not None
    assert first._client is not None and second._client is not None
    assert first._client.net.account.uri == second._client.net.account.uri  # the account was reused


def test_bad_eab_key_is_a_clear_rejection_without_the_key(
    pebble: PebbleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = base64.urlsafe_b64encode(b"w" * 32).rstrip(b"=").decode()
    monkeypatch.setenv(ENV, wrong)
    backend = _backend(pebble, tmp_path)
    with pytest.raises(CaRejected) as info:
        backend.submit(_csr(), unit="tomcat", node=FQDN, cluster="lab")
    text = str(info.value)
    assert "registering the ACME account" in text
    assert "EAB" in text or "external account" in text.lower()
    assert wrong not in text and pebble.eab_hmac_key not in text


def test_blocked_identifier_is_a_clear_rejection_naming_it(pebble: PebbleServer, tmp_path: Path, eab_env: str) -> None:
    backend = _backend(pebble, tmp_path)
    csr = _csr([f"DNS:cucm.{pebble.blocked_domain}"], cn=f"cucm.{pebble.blocked_domain}")
    with pytest.raises(CaRejected) as info:
        backend.submit(csr, unit="tomcat", node=f"cucm.{pebble.blocked_domain}", cluster="lab")
    assert "rejectedIdentifier" in str(info.value)
    assert pebble.blocked_domain in str(info.value)
    assert not info.value.transient


def test_pending_authorization_is_refused_when_we_may_not_trigger_validation(
    pebble: PebbleServer, tmp_path: Path, eab_env: str
) -> None:
    backend = _backend(pebble, tmp_path, trigger_validation=False)
    with pytest.raises(CaRejected, match=r"authorization for .* is pending; certops does not solve ACME challenges"):
        backend.submit(_csr(index=3), unit="tomcat", node=FQDN, cluster="lab")


def test_untrusted_server_certificate_is_refused(pebble: PebbleServer, tmp_path: Path, eab_env: str) -> None:
    backend = _backend(pebble, tmp_path, ca_bundle=None)
    with pytest.raises(CaError, match=r"TLS verification of .* failed") as info:
        backend.submit(_csr(), unit="tomcat", node=FQDN, cluster="lab")
    assert not info.value.transient


def test_unreachable_server_is_transient(tmp_path: Path, eab_env: str) -> None:
    config = AcmeCaConfig(
        directory_url="https://127.0.0.1:9/dir",
        eab_kid="kid",
        eab_hmac_key_env=ENV,
        account_key_path=tmp_path / "k.pem",
    )
    backend = make_backend("corp-acme", config)
    with pytest.raises(CaUnavailable, match=r"cannot reach https://127\.0\.0\.1:9/dir") as info:
        backend.submit(_csr(), unit="tomcat", node=FQDN, cluster="lab")
    assert info.value.transient


def test_missing_eab_variable_is_a_config_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    config = AcmeCaConfig(directory_url="https://127.0.0.1:9/dir", eab_kid="kid", eab_hmac_key_env=ENV)
    with pytest.raises(ConfigError, match=ENV):
        make_backend("corp-acme", config)


def test_alternate_chains_are_offered_and_pass_check_with_their_root(
    pebble: PebbleServer, tmp_path: Path, eab_env: str
) -> None:
    backend = _backend(pebble, tmp_path)
    csr = _csr(index=4)
    ticket = backend.submit(csr, unit="tomcat", node=FQDN, cluster="lab")
    chain = None
    for _ in range(50):
        chain = backend.poll(ticket)
        if chain is not None:
            break
    assert chain is not None and "1 alternate chain(s) offered" in chain.source
    (alternate,) = backend.alternate_chains(ticket)
    assert alternate.leaf_pem != chain.leaf_pem or alternate.chain_pems != chain.chain_pems
    report = check_signed_chain(
        csr, alternate.leaf_pem, [*alternate.chain_pems, pebble.root_pem(1)], "tomcat", node=FQDN
    )
    assert report.ok, report.summary()


def test_random_nonce_rejections_are_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="certops.ca.acme")
    # A quarter of the requests get badNonce; with ~45 requests, two in a row (more than acme's own
    # single retry handles) almost always happen. certops retries up to NONCE_ATTEMPTS times.
    with run_pebble(tmp_path, nonce_reject_percent=25) as flaky:
        monkeypatch.setenv(ENV, flaky.eab_hmac_key)
        backend = _backend(flaky, tmp_path)
        for index in range(3):
            csr = _csr(index=10 + index)
            chain = backend.sign(csr, unit="tomcat", node=FQDN, cluster="lab")
            report = check_signed_chain(csr, chain.leaf_pem, [*chain.chain_pems, flaky.root_pem()], "tomcat", node=FQDN)
            assert report.ok, report.summary()
    assert any("rejected the nonce" in r.getMessage() for r in caplog.records)


def test_csr_with_a_broken_signature_is_refused_before_it_is_sent(
    pebble: PebbleServer, tmp_path: Path, eab_env: str
) -> None:
    # pebble would sign it (it does not verify CSR signatures): certops must not send it.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = bytearray(x509.load_pem_x509_csr(_csr(index=5).encode()).public_bytes(serialization.Encoding.DER))
    der[-6] ^= 0x01
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    backend = _backend(pebble, tmp_path)
    with pytest.raises(CaRejected, match=r"has an invalid signature .* not sent") as info:
        backend.submit(broken, unit="tomcat", node=FQDN, cluster="lab")
    assert not info.value.transient
    assert backend._client is None  # nothing was sent to the server


def test_a_stored_account_key_unknown_to_the_server_registers_again(
    pebble: PebbleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, pebble.eab_hmac_key)
    _backend(pebble, tmp_path).sign(_csr(index=6), unit="tomcat", node=FQDN, cluster="lab")
    assert (tmp_path / "acme-account.pem").is_file()
    (tmp_path / "fresh").mkdir()
    with run_pebble(tmp_path / "fresh") as fresh:  # a server that never saw this account
        monkeypatch.setenv(ENV, fresh.eab_hmac_key)
        chain = _backend(fresh, tmp_path).sign(_csr(index=7), unit="tomcat", node=FQDN, cluster="lab")
        report = check_signed_chain(_csr(index=7), chain.leaf_pem, [*chain.chain_pems, fresh.root_pem()], "tomcat")
        assert report.ok, report.summary()


def test_a_new_accounts_first_orders_sent_at_once_make_one_account_key_and_all_succeed(
    pebble: PebbleServer, tmp_path: Path, eab_env: str
) -> None:
    # a renewal sends every node's CSR to the CA at once; with no account key yet, each order would
    # otherwise make its own key and all but one fail to store it
    from concurrent.futures import ThreadPoolExecutor

    barrier = __import__("threading").Barrier(4)

    def order(i: int) -> str:
        backend = _backend(pebble, tmp_path)
        barrier.wait(timeout=60)
        return backend.submit(_csr(index=30 + i), unit="tomcat", node=FQDN, cluster="lab").reference

    with ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(order, range(4)))
    assert len(set(refs)) == 4
    assert (tmp_path / "acme-account.pem").stat().st_mode & 0o777 == 0o600
    key_files = [p.name for p in tmp_path.iterdir() if p.suffix == ".pem"]
    assert key_files == ["acme-account.pem"]
