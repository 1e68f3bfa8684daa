"""Every certificate of a chain is checked, and a person's answer for a renewal is checked as a whole.

``check_pasted`` is the one check ``certops approve`` runs before resuming and the flow runs when
a chain arrives through the form: these tests hold it to what a person must see.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from certops.cli import app
from certops.errors import CertificateError
from certops.units import UNITS
from certops.x509.checks import check_files, check_pasted, pinned_bundle
from certops.x509.read import fingerprint, holds_private_key, read_certificates
from tests.unit import x509_factory as f

NODE = f.FQDN


def _csr_text(case: f.Case) -> str:
    return case.csr.decode()


def _second_leaf(case: f.Case, public_key: object) -> object:
    """Another certificate for the node, signed by the same issuing CA (a second signature, or an old one)."""
    spec = UNITS["tomcat"]
    assert case.intermediates
    return f.make_cert(
        f.name(f.FQDN),
        public_key,
        case.intermediates[0].subject,
        case.inter_key,
        ca=False,
        sans=f.SANS,
        ku=set(spec.key_usage),
        eku=set(spec.extended_key_usage),
        aki_from=case.inter_key,
    )


def _key_pem(encrypted: bool = False) -> bytes:
    enc = serialization.BestAvailableEncryption(b"pw") if encrypted else serialization.NoEncryption()
    return f.key("rsa", 2048, 7).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


# --- the whole chain ------------------------------------------------------------------------------


def test_a_1024_bit_intermediate_is_refused_naming_it_and_its_size() -> None:
    case = f.make_case(inter_key=f.key("rsa", 1024, 3))
    report = check_files(case.csr, [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert report.codes == ["ca_key_too_small"]
    message = report.problems[0].message
    assert "the intermediate 'O=Example Lab,CN=Example Issuing CA 1'" in message
    assert "1024-bit RSA key (minimum 2048)" in message


def test_an_intermediate_expiring_before_the_leaf_names_both_dates() -> None:
    ends = f.NOW + dt.timedelta(days=200)
    case = f.make_case(inter_key=f.key("rsa", 2048, 3), inter_not_after=ends)
    report = check_files(case.csr, [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert report.codes == ["ca_expires_before_leaf"]
    assert ends.isoformat() in report.problems[0].message
    assert case.leaf.not_valid_after_utc.isoformat() in report.problems[0].message


def test_a_path_length_constraint_the_chain_breaks_names_the_ca_and_the_count() -> None:
    case = f.make_case(intermediates=2, root_pathlen=0)
    report = check_files(case.csr, [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert report.codes == ["path_length_exceeded"]
    assert "'O=Example Lab,CN=Example Root CA' allows 0 CA certificate(s) below it" in report.problems[0].message
    assert "the chain has 2" in report.problems[0].message


def test_certops_check_refuses_a_1024_bit_intermediate(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    case = f.make_case(
        inter_key=f.key("rsa", 1024, 3), not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=300)
    )
    (tmp_path / "node.csr").write_bytes(case.csr)
    (tmp_path / "chain.pem").write_bytes(f.pem(*case.chain))
    result = CliRunner().invoke(
        app, ["check", "--csr", str(tmp_path / "node.csr"), "--chain", str(tmp_path / "chain.pem"), "--unit", "tomcat"]
    )
    assert result.exit_code == 1, result.output
    assert "[ca_key_too_small]" in result.output and "1024-bit" in result.output


def test_the_approval_check_refuses_a_1024_bit_intermediate_for_the_node() -> None:
    case = f.make_case(inter_key=f.key("rsa", 1024, 3))
    verdict = check_pasted({NODE: _csr_text(case)}, [f.pem(*case.chain)], "tomcat", now=f.NOW)
    assert not verdict.ok
    (line,) = verdict.problems
    assert line.startswith(f"{NODE}: the intermediate 'O=Example Lab,CN=Example Issuing CA 1' has a 1024-bit RSA key")


def test_a_good_answer_for_two_nodes_passes_with_a_report_each() -> None:
    a = f.make_case()
    b = f.make_case(
        leaf_key=f.key("rsa", 2048, 5), csr_cn="cucm-sub1.lab.example", csr_sans=["DNS:cucm-sub1.lab.example"]
    )
    # b is signed by the same CA as a (same cached CA keys and names), so one chain serves both
    blob = f.pem(b.leaf, a.leaf, *a.intermediates, a.root)  # type: ignore[arg-type]
    verdict = check_pasted({NODE: _csr_text(a), "cucm-sub1.lab.example": _csr_text(b)}, [blob], "tomcat", now=f.NOW)
    assert verdict.ok, verdict.problems
    assert verdict.reports[NODE].leaf_fingerprint_sha256 == fingerprint(a.leaf)
    assert verdict.reports["cucm-sub1.lab.example"].leaf_fingerprint_sha256 == fingerprint(b.leaf)


# --- one leaf per node ----------------------------------------------------------------------------


def test_two_signatures_of_one_csr_are_refused_naming_both_leaves_and_the_node() -> None:
    case = f.make_case()
    twin = _second_leaf(case, case.leaf.public_key())
    blob = f.pem(case.leaf, twin, *case.intermediates, case.root)  # type: ignore[arg-type]
    verdict = check_pasted({NODE: _csr_text(case)}, [blob], "tomcat", names=["ca-answer.pem"], now=f.NOW)
    assert not verdict.ok
    (line,) = verdict.problems
    assert line.startswith(f"{NODE}: 2 certificates are for this node, so which one to upload is ambiguous")
    for leaf in (case.leaf, twin):
        assert f"serial {leaf.serial_number:x}" in line  # type: ignore[attr-defined]
        assert fingerprint(leaf) in line  # type: ignore[arg-type]
    assert "O=Example Lab,CN=cucm-pub.lab.example" in line and "in ca-answer.pem" in line


def test_an_old_certificate_for_the_node_next_to_the_new_one_is_ambiguous_too() -> None:
    case = f.make_case()
    old = _second_leaf(case, f.key("rsa", 2048, 6).public_key())
    blob = f.pem(old, case.leaf, *case.intermediates, case.root)  # type: ignore[arg-type]
    verdict = check_pasted({NODE: _csr_text(case)}, [blob], "tomcat", now=f.NOW)
    assert len(verdict.problems) == 1 and "ambiguous" in verdict.problems[0]
    assert fingerprint(old) in verdict.problems[0] and fingerprint(case.leaf) in verdict.problems[0]  # type: ignore[arg-type]


def test_a_certificate_signed_for_another_key_names_the_file_the_node_and_says_so() -> None:
    case = f.make_case(csr_key=f.key("rsa", 2048, 4))  # the CA signed another (older) CSR
    leaf_file, chain_file = b"", f.pem(*case.intermediates, case.root)  # type: ignore[arg-type]
    leaf_file = f.pem(case.leaf)
    verdict = check_pasted(
        {NODE: _csr_text(case)}, [leaf_file, chain_file], "tomcat", names=["signed.pem", "chain.pem"], now=f.NOW
    )
    (line,) = verdict.problems
    assert line.startswith(f"{NODE}: none of the certificates given matches this node's CSR (public key)")
    assert "in signed.pem" in line and "was signed for another key" in line
    assert f"the CSR pending on {NODE}" in line
    assert f"serial {case.leaf.serial_number:x}" in line and fingerprint(case.leaf) in line


def test_certops_check_key_mismatch_names_the_file_and_the_node(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    case = f.make_case(
        csr_key=f.key("rsa", 2048, 4), not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=300)
    )
    (tmp_path / "node.csr").write_bytes(case.csr)
    (tmp_path / "signed.pem").write_bytes(f.pem(case.leaf))
    (tmp_path / "chain.pem").write_bytes(f.pem(*case.intermediates, case.root))  # type: ignore[arg-type]
    args = ["check", "--csr", str(tmp_path / "node.csr"), "--chain", str(tmp_path / "signed.pem")]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "chain.pem"), "--unit", "tomcat", "--node", NODE])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "[key_mismatch]" in out and "was signed for another key" in out
    assert f"in {tmp_path / 'signed.pem'}" in out and f"the CSR pending on {NODE}" in out


def test_no_certificate_for_a_node_says_which_node_and_what_was_given() -> None:
    a = f.make_case()
    b = f.make_case(
        leaf_key=f.key("rsa", 2048, 5), csr_cn="cucm-sub1.lab.example", csr_sans=["DNS:cucm-sub1.lab.example"]
    )
    verdict = check_pasted(
        {NODE: _csr_text(a), "cucm-sub1.lab.example": _csr_text(b)},
        [f.pem(*a.chain)],
        "tomcat",
        names=["only-pub.pem"],
        now=f.NOW,
    )
    (line,) = verdict.problems
    assert line.startswith("cucm-sub1.lab.example: none of the certificates given matches this node's CSR")
    assert "only-pub.pem" in line


# --- tls.ca_bundle ----------------------------------------------------------------------------------


def test_a_root_missing_from_the_pinned_bundle_is_refused_with_the_exact_fix(tmp_path: Path) -> None:
    case = f.make_case()
    bundle = tmp_path / "pki" / "corporate-root.pem"
    bundle.parent.mkdir()
    other = f.make_case(root_key=f.key("rsa", 2048, 8)).root
    assert other is not None and case.root is not None
    bundle.write_bytes(f.pem(other))
    verdict = check_pasted({NODE: _csr_text(case)}, [f.pem(*case.chain)], "tomcat", tls_bundle=bundle, now=f.NOW)
    (line,) = verdict.problems
    assert line.startswith(
        f"{NODE}: the chain's root 'O=Example Lab,CN=Example Root CA' (SHA-256 {fingerprint(case.root)})"
    )
    assert (
        f"append that root (subject 'O=Example Lab,CN=Example Root CA', SHA-256 {fingerprint(case.root)}) to {bundle}"
        in line
    )
    bundle.write_bytes(f.pem(other, case.root))
    assert check_pasted({NODE: _csr_text(case)}, [f.pem(*case.chain)], "tomcat", tls_bundle=bundle, now=f.NOW).ok


def test_the_bundle_is_pinned_only_for_units_certops_talks_to_over_tls(tmp_path: Path) -> None:
    bundle = tmp_path / "b.pem"
    assert pinned_bundle("tomcat", verify=True, ca_bundle=bundle) == bundle
    assert pinned_bundle("tomcat-ECDSA", verify=True, ca_bundle=bundle) == bundle
    assert pinned_bundle("CallManager", verify=True, ca_bundle=bundle) is None
    assert pinned_bundle("tomcat", verify=True, ca_bundle=None) is None  # the system store: not pinned
    assert pinned_bundle("tomcat", verify=False, ca_bundle=bundle) is None


# --- private keys -------------------------------------------------------------------------------------


def _body_lines(pem: bytes) -> list[str]:
    return [ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----")]


@pytest.mark.parametrize(
    "shape",
    ["pem_after_the_chain", "encrypted_pem", "broken_pem_block", "der_key_file"],
)
def test_a_private_key_is_refused_with_never_paste_and_not_repeated(shape: str) -> None:
    case = f.make_case()
    key = _key_pem(encrypted=shape == "encrypted_pem")
    blobs = {
        "pem_after_the_chain": [f.pem(*case.chain) + key],
        "encrypted_pem": [key + f.pem(*case.chain)],
        "broken_pem_block": [f.pem(*case.chain) + key[: len(key) // 2]],  # no END line
        "der_key_file": [
            f.pem(*case.chain),
            f.key("rsa", 2048, 7).private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ],
    }[shape]
    assert any(holds_private_key(b) for b in blobs)
    with pytest.raises(CertificateError, match="never paste a private key") as info:
        check_pasted({NODE: _csr_text(case)}, blobs, "tomcat", names=["a.pem", "b.der"], now=f.NOW)
    text = f"{info.value} {info.value.hint}"
    assert not any(line in text for line in _body_lines(key))
    with pytest.raises(CertificateError, match="never paste a private key"):
        read_certificates(blobs)


def test_certificates_alone_hold_no_private_key() -> None:
    case = f.make_case()
    assert not holds_private_key(f.pem(*case.chain))
    assert not holds_private_key(f.der(case.leaf))
    assert not holds_private_key(f.p7(case.chain, "der"))


def test_certops_approve_says_when_it_cannot_read_the_runs_inventory_for_the_bundle(tmp_path: Path) -> None:
    from flows.approval import PendingApproval, tls_bundle_of

    def pending(unit: str, inventory: str) -> PendingApproval:
        return PendingApproval(
            run_id="r",
            run_name="n",
            cluster="c1",
            unit=unit,
            nodes=[NODE],
            since=None,
            deadline=None,
            waiting_for="chain",
            inventory_path=inventory,
        )

    missing = str(tmp_path / "elsewhere.yaml")
    bundle, note = tls_bundle_of(pending("tomcat", missing))
    assert bundle is None and note is not None
    assert f"the run's inventory {missing} cannot be read on this machine" in note
    assert "the run checks it when the chain arrives" in note
    assert tls_bundle_of(pending("CallManager", missing)) == (None, None)  # not a unit certops talks TLS to
