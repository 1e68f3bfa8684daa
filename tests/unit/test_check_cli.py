"""``certops check``: exit 0 ready, 1 problems listed, 2 unreadable input -- never a traceback."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from certops.cli import app
from tests.unit import x509_factory as f

runner = CliRunner()


def _write(tmp: Path, case: f.Case) -> tuple[Path, Path, Path]:
    csr = tmp / "node.csr"
    csr.write_bytes(case.csr)
    leaf = tmp / "leaf.der"
    leaf.write_bytes(f.der(case.leaf))
    rest = tmp / "chain.pem"
    rest.write_bytes(f.pem(*case.intermediates, *([case.root] if case.root else [])))
    return csr, leaf, rest


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_ready_chain_exits_zero_with_summary(tmp_path: Path) -> None:
    csr, leaf, rest = _write(tmp_path, f.make_case())
    code, out = _invoke("--csr", str(csr), "--chain", str(leaf), str(rest), "--unit", "tomcat", "--node", f.FQDN)
    assert code == 0, out
    assert "ready to upload" in out
    assert "to tomcat-trust first" in out
    assert "root: O=Example Lab,CN=Example Root CA" in out


def test_repeated_chain_option_also_works(tmp_path: Path) -> None:
    csr, leaf, rest = _write(tmp_path, f.make_case())
    code, out = _invoke("--csr", str(csr), "--chain", str(leaf), "--chain", str(rest), "--unit", "tomcat")
    assert code == 0, out


def test_problems_exit_one_and_list_each_problem(tmp_path: Path) -> None:
    case = f.make_case(leaf_sans=[*f.SANS, "DNS:extra.lab.example"], eku={f.EKU_SERVER})
    csr, leaf, rest = _write(tmp_path, case)
    code, out = _invoke("--csr", str(csr), "--chain", str(leaf), str(rest), "--unit", "tomcat")
    assert code == 1
    assert "NOT ready to upload: 2 problem(s)" in out
    assert "[san_extra]" in out and "DNS:extra.lab.example" in out
    assert "[eku_missing]" in out and "TLS Web Client Authentication" in out


def test_node_must_match_the_cn(tmp_path: Path) -> None:
    csr, leaf, rest = _write(tmp_path, f.make_case())
    code, out = _invoke(
        "--csr", str(csr), "--chain", str(leaf), str(rest), "--unit", "tomcat", "--node", "cucm-sub9.lab.example"
    )
    assert code == 1
    assert "[cn_mismatch]" in out


def test_json_output_carries_the_verdict(tmp_path: Path) -> None:
    import datetime as dt

    # valid well past today (the CLI checks at the real time), within the issuing CA's 1,000 days
    case = f.make_case(not_after=f.NOW + dt.timedelta(days=990))
    csr, leaf, rest = _write(tmp_path, case)
    code, out = _invoke("--csr", str(csr), "--chain", str(leaf), str(rest), "--unit", "tomcat", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["ok"] is True and data["problems"] == []
    assert [t["role"] for t in data["trust_uploads"]] == ["root", "intermediate"]


def test_min_days_option_is_applied(tmp_path: Path) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    case = f.make_case(not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=40))
    csr, leaf, rest = _write(tmp_path, case)
    args = ["--csr", str(csr), "--chain", str(leaf), str(rest), "--unit", "tomcat"]
    assert _invoke(*args, "--min-days", "30")[0] == 0
    code, out = _invoke(*args, "--min-days", "60")
    assert code == 1 and "[validity_too_short]" in out


def test_unknown_unit_exits_two(tmp_path: Path) -> None:
    csr, leaf, _ = _write(tmp_path, f.make_case())
    code, out = _invoke("--csr", str(csr), "--chain", str(leaf), "--unit", "Tomcat")
    assert code == 2
    assert "unknown unit 'Tomcat'" in out


def test_missing_file_exits_two(tmp_path: Path) -> None:
    csr, _, _ = _write(tmp_path, f.make_case())
    code, out = _invoke("--csr", str(csr), "--chain", str(tmp_path / "nope.pem"), "--unit", "tomcat")
    assert code == 2
    assert "nope.pem: no such file" in out


def test_directory_instead_of_a_file_exits_two(tmp_path: Path) -> None:
    csr, _, _ = _write(tmp_path, f.make_case())
    code, out = _invoke("--csr", str(csr), "--chain", str(tmp_path), "--unit", "tomcat")
    assert code == 2
    assert f"chain file {tmp_path}: not a file" in out


def test_empty_chain_file_exits_two(tmp_path: Path) -> None:
    csr, _, _ = _write(tmp_path, f.make_case())
    (tmp_path / "empty.pem").write_bytes(b"")
    code, out = _invoke("--csr", str(csr), "--chain", str(tmp_path / "empty.pem"), "--unit", "tomcat")
    assert code == 2
    assert "empty" in out


@pytest.fixture(scope="module")
def good_csr() -> bytes:
    return f.make_case().csr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chain=st.binary(max_size=4000), csr_garbage=st.booleans())
def test_arbitrary_bytes_exit_two_with_a_message_never_a_traceback(
    good_csr: bytes, chain: bytes, csr_garbage: bool
) -> None:
    with tempfile.TemporaryDirectory() as d:
        csr_path, chain_path = os.path.join(d, "x.csr"), os.path.join(d, "x.pem")
        Path(csr_path).write_bytes(chain if csr_garbage else good_csr)
        Path(chain_path).write_bytes(chain)
        code, out = _invoke("--csr", csr_path, "--chain", chain_path, "--unit", "tomcat")
    assert code == 2
    assert out.startswith("error: ") and len(out.strip()) > len("error: ")
