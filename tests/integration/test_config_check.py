"""``certops config check FILE``: summary and exit 0 when valid, every problem and exit 2 otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from certops.cli import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "example.yaml"

GOOD = """\
defaults:
  os_admin: {username: certops, password_env: CC_OS_PW}
  app_user: {username: certops-app, password_env: CC_APP_PW}
  tls: {ca_bundle: ca.pem}
  ssh: {known_hosts: known_hosts}
clusters:
  - name: c1
    version: "15.0"
    nodes:
      - {fqdn: pub.c1.example.com, role: publisher}
      - {fqdn: sub.c1.example.com, role: subscriber}
      - {fqdn: imp.c1.example.com, role: imp}
"""


def _check(path: Path, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(app, ["config", "check", str(path)], env=env or {})


def _files(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "known_hosts").write_text("")


def test_valid_inventory_exits_0_with_a_summary(tmp_path: Path) -> None:
    _files(tmp_path)
    path = tmp_path / "inv.yaml"
    path.write_text(GOOD)
    result = _check(path, {"CC_OS_PW": "secret-os-value", "CC_APP_PW": "secret-app-value"})
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "OK" in out
    assert "1 cluster(s), 3 node(s): 1 publisher, 1 subscriber, 1 imp" in out
    assert "c1 (CUCM 15.0)" in out and "CA manual (manual)" in out
    assert "warnings: 0" in out
    assert "secret-os-value" not in result.output and "secret-app-value" not in result.output  # type: ignore[attr-defined]


def test_unset_password_variables_and_tls_off_are_warnings_not_errors(tmp_path: Path) -> None:
    _files(tmp_path)
    path = tmp_path / "inv.yaml"
    path.write_text(GOOD.replace("tls: {ca_bundle: ca.pem}", "tls: {verify: false}"))
    result = _check(path)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "WARNING: defaults.tls.verify is false" in err
    assert "$CC_OS_PW" in err and "$CC_APP_PW" in err
    assert "warnings: 3" in result.stdout  # type: ignore[attr-defined]


def test_every_problem_is_printed_with_its_place_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        GOOD.replace("role: publisher", "role: publisher, https_prot: 8443").replace("role: imp", "role: im&p")
    )
    result = _check(path)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "2 problem(s)" in err
    assert "clusters[0].nodes[0].https_prot (line 10" in err and "did you mean 'https_port'?" in err
    assert "clusters[0].nodes[2].role (line 12" in err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = _check(tmp_path / "absent.yaml")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "does not exist" in result.stderr  # type: ignore[attr-defined]


def test_shipped_example_inventory_is_valid() -> None:
    result = subprocess.run(
        # a template: the CA bundle it names is the reader's, on their machine
        [str(Path(sys.executable).parent / "certops"), "config", "check", "--files-elsewhere", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "2 cluster(s)" in result.stdout and "hq (CUCM 15.0)" in result.stdout and "branch (CUCM 12.5)" in result.stdout
    )


def test_all_problems_come_in_one_pass_including_duplicate_fqdn_and_urgent_days(tmp_path: Path) -> None:
    _files(tmp_path)
    path = tmp_path / "inv.yaml"
    path.write_text(
        GOOD.replace("role: imp}", "role: im&p}")
        .replace("fqdn: sub.c1.example.com", "fqdn: pub.c1.example.com")
        .replace(
            "  ssh: {known_hosts: known_hosts}\n", "  ssh: {known_hosts: known_hosts}\n  policy: {urgent_days: 40}\n"
        )
    )
    result = _check(path)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "3 problem(s)" in err, err
    assert "clusters[0].nodes[2].role (line 13" in err
    assert "clusters[0].nodes[1].fqdn (line 12" in err and "listed twice" in err
    assert "defaults.policy.urgent_days (line 6" in err


def test_missing_ca_bundle_is_an_error_unless_the_files_are_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text("")
    path = tmp_path / "inv.yaml"
    path.write_text(GOOD)
    env = {"CC_OS_PW": "x", "CC_APP_PW": "y"}
    result = _check(path, env)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "defaults.tls.ca_bundle (line 4" in result.stderr  # type: ignore[attr-defined]
    elsewhere = CliRunner().invoke(app, ["config", "check", "--files-elsewhere", str(path)], env=env)
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "does not exist here" in elsewhere.stderr
