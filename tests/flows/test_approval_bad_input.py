"""A bad answer to an approval is refused and the run keeps waiting; a correct one afterwards completes.

Both ways a chain reaches a waiting renewal are proven on the real Prefect server: the UI form
(``resume_flow_run(run_id, run_input=...)`` is what the form sends; the flow re-asks under a new
key with the reasons) and ``certops approve`` (refused locally before anything is sent: the run
is not even resumed). Nothing is uploaded before a chain passes, the CSRs are never regenerated,
and a private key pasted by mistake is stored nowhere.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prefect.flow_runs import resume_flow_run
from typer.testing import CliRunner

from certops.cli import app
from certops.x509.legacy import legacy_sign
from flows.renew import renew
from tests.flows.conftest import FAST, read_run, start_in_thread, wait_paused
from tests.flows.support import TestCa

pytestmark = [pytest.mark.prefect]

TOKEN_ENV = "CERTOPS_TEST_SLACK_TOKEN"


# --- what a person might send back ----------------------------------------------------------------


def _csrs(env: Any) -> dict[str, str]:
    return {n.fqdn: n.csrs["tomcat"].pem for n in env.fleet.cluster("c1").nodes if "tomcat" in n.csrs}


def _good(env: Any, ca: TestCa | None = None) -> str:
    ca = ca or env.ca
    return "".join(ca.sign(pem, "tomcat").leaf_pem for pem in _csrs(env).values()) + "".join(ca.chain_pems)


def _sha1_leaves(env: Any) -> str:
    out = ""
    for pem in _csrs(env).values():
        leaf = x509.load_pem_x509_certificate(env.ca.sign(pem, "tomcat").leaf_pem.encode())
        out += legacy_sign(leaf, env.ca.int_key, "sha1").public_bytes(serialization.Encoding.PEM).decode()
    return out + "".join(env.ca.chain_pems)


def _private_key() -> tuple[str, list[str]]:
    """A PEM private key, and its base64 body lines (what must be found nowhere)."""
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    return pem, [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]


def _latin1_bytes(env: Any) -> bytes:
    """A file saved as Latin-1 text (not UTF-8): a note, no certificate."""
    return "Zertifikat für cucm-pub: bitte prüfen, Grüße aus Köln\n".encode("latin-1")


def _latin1_as_pasted(env: Any) -> str:
    """A DER certificate opened as Latin-1 text and pasted between PEM markers (passes the form's pattern)."""
    pub = next(iter(_csrs(env).values()))
    der = x509.load_pem_x509_certificate(env.ca.sign(pub, "tomcat").leaf_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    return "-----BEGIN CERTIFICATE-----\n" + der.decode("latin-1") + "\n-----END CERTIFICATE-----\n"


def _weak_intermediate_ca() -> TestCa:
    """A CA whose issuing intermediate has a 1024-bit key (the root is the usual test root)."""
    ca = TestCa("Weak Chain")
    ca.int_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca.intermediate = (
        x509.CertificateBuilder()
        .subject_name(ca.intermediate.subject)
        .issuer_name(ca.root.subject)
        .public_key(ca.int_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca.root.extensions.get_extension_for_class(x509.KeyUsage).value, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca.int_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.root_key.public_key()), critical=False)
        .sign(ca.root_key, hashes.SHA256())
    )
    return ca


def _two_leaves_for_the_publisher(env: Any) -> tuple[str, list[str]]:
    """Every node's leaf, plus a second signature of the publisher's CSR; and both publisher leaves' serials."""
    csrs = _csrs(env)
    first, second = env.ca.sign(csrs[env.pub], "tomcat").leaf_pem, env.ca.sign(csrs[env.pub], "tomcat").leaf_pem
    others = [env.ca.sign(pem, "tomcat").leaf_pem for fqdn, pem in csrs.items() if fqdn != env.pub]
    serials = [f"{x509.load_pem_x509_certificate(p.encode()).serial_number:x}" for p in (first, second)]
    return first + second + "".join(others) + "".join(env.ca.chain_pems), serials


def _root_fingerprint(ca: TestCa) -> str:
    return ca.root.fingerprint(hashes.SHA256()).hex()


# --- what must hold while it waits ----------------------------------------------------------------------


def _with_slack(env: Any, slack_server: Any, monkeypatch: Any) -> Any:
    monkeypatch.setenv(TOKEN_ENV, slack_server.token)
    inv = yaml.safe_load(env.inventory_path.read_text())
    inv["notifications"] = {"slack": {"token_env": TOKEN_ENV, "channel": "#uc-certs", "base_url": slack_server.api_url}}
    env.inventory_path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return env


def _ops(env: Any, *ops: str) -> list[dict[str, Any]]:
    return [e for e in env.fleet.events() if e["operation"] in ops]


def _nothing_uploaded(env: Any) -> None:
    assert _ops(env, "trust_uploaded", "identity_uploaded") == []


def _description(run: Any) -> str:
    from prefect.input import read_flow_run_input

    keyset = run.state.state_details.run_input_keyset
    return str(read_flow_run_input(keyset["description"], flow_run_id=run.id) or "")


def _form_ready(env: Any, run: Any = None) -> Any:
    """The run once it waits for a chain with its form complete (the pause is set before the form is saved)."""
    import time

    from prefect.input import read_flow_run_input

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        paused = wait_paused(env, timeout=120, not_key=run.state.state_details.pause_key if run else None)
        keyset = paused.state.state_details.run_input_keyset
        if read_flow_run_input(keyset["schema"], flow_run_id=paused.id) is not None and _description(paused):
            return paused
        time.sleep(0.2)
    raise AssertionError("the approval form was not saved in time")


def _asked_again(env: Any, run: Any) -> Any:
    """The run, paused again under a new key (the refused answer did not consume the approval)."""
    again = _form_ready(env, run)
    assert again.id == run.id
    _nothing_uploaded(env)
    return again


def _still_waiting(run: Any) -> None:
    now = read_run(run.id)
    assert now.state.is_paused(), now.state
    assert now.state.state_details.pause_key == run.state.state_details.pause_key  # not even resumed


def _approve(run: Any, tmp_path: Path, name: str, data: bytes) -> tuple[int, str]:
    path = tmp_path / name
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["approve", str(run.id), "--chain", str(path), "--approver", "erin"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _files_under(*roots: Path) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        if root.is_file():
            out.append(root)
        elif root.is_dir():
            out += [p for p in root.rglob("*") if p.is_file()]
    return out


def _prefect_database(prefect_server: Any) -> list[Path]:
    """The server's SQLite database file (and its write-ahead log), once the log is written into it.

    A deleted row's old page stays in the write-ahead log until SQLite reuses or truncates it (it
    is no longer part of the database); the checkpoint moves every current page into the file and
    empties the log, so what is searched is exactly what the database holds. SQLite here deletes
    securely (``secure_delete``): a deleted row is zeroed in the file, not left in a free page.
    """
    import sqlite3

    db = prefect_server.process.home / "prefect.db"
    assert db.is_file(), f"no Prefect database at {db}"
    con = sqlite3.connect(db, timeout=60)
    try:
        assert con.execute("PRAGMA secure_delete").fetchone() == (1,)
        busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the checkpoint could not complete (the server held the database)"
    finally:
        con.close()
    return [p for p in (db, db.with_name("prefect.db-wal")) if p.is_file()]


def _run_logs(run_id: Any) -> str:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    return "\n".join(log.message for log in logs)


def _key_found_nowhere(
    env: Any, slack_server: Any, prefect_server: Any, run_id: Any, body: list[str], out: str
) -> None:
    lines = [ln for ln in body if len(ln) >= 40]
    assert lines
    places: dict[str, bytes] = {str(p): p.read_bytes() for p in _files_under(env.state_dir, env.audit_path)}
    places |= {str(p): p.read_bytes() for p in _prefect_database(prefect_server)}
    places["Prefect server log"] = prefect_server.process.log_path.read_bytes()
    places["the run's logs"] = _run_logs(run_id).encode()
    places["this process's output"] = out.encode()
    places["Slack messages"] = "\n".join(m.all_text() for m in slack_server.messages).encode()
    places["Slack files"] = b"\n".join(f.content for f in slack_server.files.values())
    assert len(places) >= 8 and any(p.endswith("prefect.db") for p in places)
    for where, data in places.items():
        for ln in lines:
            assert ln.encode() not in data, f"a line of the pasted private key is in {where}"


# --- the UI form path ---------------------------------------------------------------------------------


def test_a_sha1_leaf_a_private_key_and_latin1_text_pasted_in_the_form_are_refused_and_the_run_keeps_waiting(
    make_env, slack_server, monkeypatch, prefect_server, capfd
):
    env = _with_slack(make_env(ca="person"), slack_server, monkeypatch)
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=FAST)
    run = _form_ready(env)
    key_pem, key_body = _private_key()
    answers = [
        ("sha1", _sha1_leaves(env), "is signed with SHA1, which is broken"),
        ("private key", _good(env) + key_pem, "never paste a private key"),
        ("latin-1", _latin1_as_pasted(env), "broken base64"),
    ]
    for what, text, reason in answers:
        resume_flow_run(run.id, run_input={"chain_pem": text, "approver": "bob"})
        run = _asked_again(env, run)
        described = _description(run)
        assert "The previous chain was NOT accepted" in described and reason in described, (what, described)
    resume_flow_run(run.id, run_input={"chain_pem": _good(env), "approver": "bob"})
    report = fut.result(timeout=180)
    assert report.status == "completed" and report.approver == "bob"
    assert len(_ops(env, "csr_generated")) == 3  # the CSRs were never regenerated
    assert len(_ops(env, "identity_uploaded")) == 3
    # the pasted private key is stored nowhere: state, audit, Slack, the Prefect database, logs
    captured = capfd.readouterr()
    _key_found_nowhere(env, slack_server, prefect_server, run.id, key_body, captured.out + captured.err)
    from certops import audit

    rejected = [r for r in audit.read(env.audit_path) if r.operation == "approval_rejected"]
    assert len(rejected) == 3 and "refused, discarded and never stored" in rejected[1].detail


def test_an_untrusted_root_two_leaves_for_a_node_and_a_1024_bit_intermediate_are_refused_in_the_form(make_env):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=FAST)
    run = _form_ready(env)
    bundle = env.fleet.ca_bundle_path
    other = TestCa("Unknown Corp")  # a root the inventory's tls.ca_bundle does not hold
    twins, serials = _two_leaves_for_the_publisher(env)
    resume_flow_run(run.id, run_input={"chain_pem": _good(env, other), "approver": "dora"})
    run = _asked_again(env, run)
    described = _description(run)
    assert (
        f"append that root (subject 'O=Test CA,CN=Unknown Corp Root', SHA-256 {_root_fingerprint(other)})" in described
    )
    assert f"to {bundle}" in described
    resume_flow_run(run.id, run_input={"chain_pem": twins, "approver": "dora"})
    run = _asked_again(env, run)
    described = _description(run)
    assert f"{env.pub}: 2 certificates are for this node" in described
    assert all(f"serial {s}" in described for s in serials)
    resume_flow_run(run.id, run_input={"chain_pem": _good(env, _weak_intermediate_ca()), "approver": "dora"})
    run = _asked_again(env, run)
    assert "1024-bit RSA key (minimum 2048)" in _description(run)
    resume_flow_run(run.id, run_input={"chain_pem": _good(env), "approver": "dora"})
    assert fut.result(timeout=180).status == "completed"
    assert len(_ops(env, "csr_generated")) == 3


# --- certops approve ----------------------------------------------------------------------------------


def test_certops_approve_refuses_bad_chains_locally_and_the_run_keeps_waiting_until_a_good_one(
    make_env, slack_server, monkeypatch, prefect_server, tmp_path, capfd
):
    env = _with_slack(make_env(ca="person"), slack_server, monkeypatch)
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=FAST)
    run = _form_ready(env)
    key_pem, key_body = _private_key()
    other = TestCa("Unknown Corp")
    twins, serials = _two_leaves_for_the_publisher(env)
    wrong_key = TestCa().sign(
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.load_pem_x509_csr(_csrs(env)[env.pub].encode()).subject)
        .sign(rsa.generate_private_key(public_exponent=65537, key_size=2048), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode(),
        "tomcat",
    )
    cases: list[tuple[str, bytes, int, list[str]]] = [
        ("sha1.pem", _sha1_leaves(env).encode(), 1, ["is signed with SHA1, which is broken"]),
        ("with-key.pem", (_good(env) + key_pem).encode(), 2, ["never paste a private key"]),
        ("latin1.txt", _latin1_bytes(env), 2, ["latin1.txt: neither PEM, DER nor PKCS#7"]),
        ("untrusted.pem", _good(env, other).encode(), 1, [str(env.fleet.ca_bundle_path), _root_fingerprint(other)]),
        ("twins.pem", twins.encode(), 1, [f"{env.pub}: 2 certificates are for this node", *serials]),
        ("weak.pem", _good(env, _weak_intermediate_ca()).encode(), 1, ["1024-bit RSA key (minimum 2048)"]),
        (
            "signed-for-old.pem",
            (wrong_key.leaf_pem + "".join(wrong_key.chain_pems)).encode(),
            1,
            [
                f"{env.pub}: none of the certificates given matches this node's CSR",
                "signed-for-old.pem",
                "signed for another key",
            ],
        ),
    ]
    for name, data, code, words in cases:
        got, out = _approve(run, tmp_path, name, data)
        assert got == code, (name, out)
        assert "keeps waiting" in out and all(w in out for w in words), (name, out)
        _still_waiting(run)
        _nothing_uploaded(env)
    got, out = _approve(run, tmp_path, "good.pem", _good(env).encode())
    assert got == 0, out
    report = fut.result(timeout=180)
    assert report.status == "completed" and report.approver == "erin"
    assert len(_ops(env, "csr_generated")) == 3
    captured = capfd.readouterr()
    _key_found_nowhere(env, slack_server, prefect_server, run.id, key_body, captured.out + captured.err)


def test_a_run_that_paused_before_saving_its_form_is_listed_only_once_its_csrs_are_there(prefect_server):
    """Prefect sets the pause first and saves the form after it: an approver never sees a run without its CSRs."""
    import uuid

    from prefect import get_client
    from prefect.input import create_flow_run_input
    from prefect.input.run_input import keyset_from_base_key
    from prefect.states import Paused

    from flows.approval import CSR_MARKER, pending_approvals

    inventory = f"/nonexistent/{uuid.uuid4().hex}.yaml"
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(renew, parameters={"inventory_path": inventory, "cluster": "c1", "unit": "tomcat"})
        paused = Paused(pause_key="chain-1")
        keyset = keyset_from_base_key("paused-chain-1")
        paused.state_details.run_input_keyset = keyset
        client.set_flow_run_state(run.id, paused, force=True)
    try:
        assert str(run.id) not in [p.run_id for p in pending_approvals()]
        marker = f'<!-- {CSR_MARKER} {{"cluster": "c1", "unit": "tomcat", "csrs": {{"n1.example": "CSR"}}}} -->'
        create_flow_run_input(keyset["description"], f"## Signed certificate needed\n{marker}", flow_run_id=run.id)
        listed = [p for p in pending_approvals() if p.run_id == str(run.id)]
        assert [p.nodes for p in listed] == [["n1.example"]]
    finally:
        from prefect.states import Cancelled

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, Cancelled(), force=True)
