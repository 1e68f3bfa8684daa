"""A certificate's self-signed verdict, when it took a signature check, is kept for the next scan.

Each run here is its own process (as two daily scans are), describing certificate files with
``certificate_info`` and saving the verdicts as a fleet read does; it prints what it said of each
certificate and how many signature checks it made. The cache directory is each test's own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]

_RUN = """
import json, sys
from certops.cucm import certinfo
from certops.x509 import verdicts
checks = []
check = certinfo._signed_by_itself
certinfo._signed_by_itself = lambda cert: checks.append(1) or check(cert)
said = [certinfo.certificate_info(open(p, "rb").read(), cluster="c1", node="cucm-pub", unit="tomcat-ECDSA").self_signed
        for p in sys.argv[1:]]
verdicts.save()
print(json.dumps({"self_signed": said, "checks": len(checks)}))
"""


def _cert(
    path: Path,
    *,
    subject: str = "cucm-pub.example.com",
    issuer: str | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
    key_ids: bool = False,
) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
    )
    if key_ids:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = builder.add_extension(ski, critical=False).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    cert = builder.sign(signer or key, hashes.SHA256())
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _scan(cache: Path, *certs: Path) -> dict[str, Any]:
    env = {**os.environ, "CERTOPS_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *map(str, certs)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.fixture()
def certs(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate without key identifiers, and one of the same name signed by another key."""
    own = _cert(tmp_path / "self-signed.pem")
    other = _cert(tmp_path / "same-name-other-key.pem", signer=ec.generate_private_key(ec.SECP256R1()))
    return own, other


def test_a_second_scan_uses_the_verdicts_of_the_first_without_a_signature_check(
    tmp_path: Path, certs: tuple[Path, Path]
) -> None:
    cache = tmp_path / "cache"
    first = _scan(cache, *certs)
    assert first == {"self_signed": [True, False], "checks": 2}
    assert (cache / "self-signed-verdicts.json").is_file()
    second = _scan(cache, *certs)
    assert second == {"self_signed": [True, False], "checks": 0}


def test_certificates_judged_without_a_signature_check_leave_no_file(tmp_path: Path) -> None:
    with_ids = _cert(tmp_path / "with-key-ids.pem", key_ids=True)
    issuing_ca = ec.generate_private_key(ec.SECP256R1())
    ca_signed = _cert(tmp_path / "ca-signed.pem", issuer="Example Issuing CA", signer=issuing_ca)
    cache = tmp_path / "cache"
    assert _scan(cache, with_ids, ca_signed) == {"self_signed": [True, False], "checks": 0}
    assert not (cache / "self-signed-verdicts.json").exists()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": 99, "verdicts": {}}),
        json.dumps(["a list"]),
        json.dumps({"format": 1, "verdicts": ["not", "a", "map"]}),
    ],
    ids=["not json", "another format", "not an object", "verdicts not a map"],
)
def test_a_damaged_verdicts_file_is_checked_again_and_replaced(
    tmp_path: Path, certs: tuple[Path, Path], content: str
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "self-signed-verdicts.json").write_text(content)
    assert _scan(cache, *certs) == {"self_signed": [True, False], "checks": 2}
    kept = json.loads((cache / "self-signed-verdicts.json").read_text())
    assert kept["format"] == 1 and sorted(kept["verdicts"].values()) == [False, True]
    assert _scan(cache, *certs)["checks"] == 0


def test_a_verdicts_file_of_another_format_is_not_believed(tmp_path: Path, certs: tuple[Path, Path]) -> None:
    own, _ = certs
    fingerprint = x509.load_pem_x509_certificate(own.read_bytes()).fingerprint(hashes.SHA256()).hex()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "self-signed-verdicts.json").write_text(json.dumps({"format": 2, "verdicts": {fingerprint: False}}))
    assert _scan(cache, own) == {"self_signed": [True], "checks": 1}


def test_a_cache_directory_that_cannot_be_written_costs_only_the_checks(
    tmp_path: Path, certs: tuple[Path, Path]
) -> None:
    blocked = tmp_path / "a-file-not-a-directory"
    blocked.write_text("")
    for _ in range(2):
        assert _scan(blocked / "certops", *certs) == {"self_signed": [True, False], "checks": 2}


def test_two_scans_keep_each_others_verdicts(tmp_path: Path, certs: tuple[Path, Path]) -> None:
    own, other = certs
    cache = tmp_path / "cache"
    assert _scan(cache, own)["checks"] == 1
    assert _scan(cache, other)["checks"] == 1  # saved after reading the first scan's file: both kept
    assert _scan(cache, own, other) == {"self_signed": [True, False], "checks": 0}
