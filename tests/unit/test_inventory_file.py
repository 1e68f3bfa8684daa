"""The inventory loader reports every problem with its YAML path and its line/column."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from certops.errors import ConfigError
from certops.inventory import LabCaConfig
from certops.inventory_file import check_inventory, load_inventory

VALID = """\
defaults:
  os_admin: {username: admin, password_env: CUCM_OS_PASSWORD}
  app_user: {username: certops-app, password_env: CUCM_APP_PASSWORD}
  tls: {ca_bundle: pki/ca.pem}
  ssh: {known_hosts: pki/known_hosts}
ca_backends:
  manual: {type: manual, instructions: "Submit at https://pki.example.com"}
  lab: {type: lab, directory: lab-ca}
clusters:
  - name: c1
    version: "15.0"
    ca: lab
    maintenance_windows:
      - {days: [mon, tue], start: 22:00, end: 05:00, timezone: Europe/Berlin}
    nodes:
      - {fqdn: cucm-pub.c1.example.com, role: publisher, address: 10.0.0.1}
      - {fqdn: cucm-sub1.c1.example.com, role: subscriber}
      - {fqdn: imp1.c1.example.com, role: imp}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_inventory(_write(tmp_path, text))
    return info.value.problems


def test_valid_inventory_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    inv = load_inventory(_write(tmp_path, VALID))
    assert inv.clusters[0].publisher.fqdn == "cucm-pub.c1.example.com"
    assert inv.defaults.tls.ca_bundle == (tmp_path / "pki" / "ca.pem").resolve()
    assert inv.defaults.ssh.known_hosts == (tmp_path / "pki" / "known_hosts").resolve()
    lab = inv.ca_backends["lab"]
    assert isinstance(lab, LabCaConfig)
    assert lab.directory == (tmp_path / "lab-ca").resolve()


def test_window_times_stay_times_not_base_60_numbers(tmp_path: Path) -> None:
    window = load_inventory(_write(tmp_path, VALID)).clusters[0].maintenance_windows[0]
    assert (window.start.hour, window.start.minute) == (22, 0)
    assert (window.end.hour, window.end.minute) == (5, 0)


def test_missing_file_is_one_problem_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_inventory(tmp_path / "nope.yaml")
    assert info.value.problems == [f"{tmp_path / 'nope.yaml'}: the inventory file does not exist"]


def test_directory_instead_of_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_inventory(tmp_path)
    assert "is a directory" in info.value.problems[0]


def test_unreadable_bytes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(b"clusters: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert "not UTF-8" in info.value.problems[0]


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "clusters:\n  - name: c1\n    version: [15.0\n    nodes: []\n")
    assert len(problems) == 1
    assert "YAML syntax error" in problems[0]
    assert "line 4" in problems[0] or "line 3" in problems[0]


def test_empty_file_is_reported(tmp_path: Path) -> None:
    assert "empty" in _problems(tmp_path, "")[0]


def test_unknown_key_suggests_the_close_name_at_its_place(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("address: 10.0.0.1", "adress: 10.0.0.1"))
    assert problems == [
        "clusters[0].nodes[0].adress (line 16, column 58): unknown key 'adress'; did you mean 'address'?"
    ]


def test_unknown_key_in_a_ca_backend_suggests_its_fields(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("directory: lab-ca", "directory: lab-ca, validty_days: 3"))
    assert len(problems) == 1
    assert problems[0].startswith("ca_backends.lab.validty_days (line 8")
    assert "did you mean 'validity_days'?" in problems[0]


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    text = (
        VALID.replace("fqdn: cucm-sub1.c1.example.com", "fqdn: bad_host!")
        .replace("timezone: Europe/Berlin", "timezone: Mars/Olympus")
        .replace("role: imp", "role: impp")
    )
    problems = _problems(tmp_path, text)
    assert len(problems) == 3
    joined = "\n".join(problems)
    assert "clusters[0].nodes[1].fqdn (line 17" in joined and "bad_host!" in joined
    assert "clusters[0].maintenance_windows[0].timezone (line 14" in joined and "Mars/Olympus" in joined
    assert "clusters[0].nodes[2].role (line 18" in joined


def test_missing_publisher_points_at_the_cluster(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("role: publisher", "role: subscriber"))
    assert len(problems) == 1
    assert problems[0].startswith("clusters[0] (line 10, column 5):")
    assert "exactly one publisher, found 0" in problems[0]


def test_two_publishers_are_refused(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("role: subscriber", "role: publisher"))
    assert "exactly one publisher, found 2" in problems[0]


def test_bad_port_names_the_port_and_its_place(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("role: imp}", "role: imp, ssh_port: 70000}"))
    assert len(problems) == 1
    assert problems[0].startswith("clusters[0].nodes[2].ssh_port (line 18")
    assert "65535" in problems[0]


def test_unknown_unit_in_the_policy_lists_the_known_units(tmp_path: Path) -> None:
    text = VALID.replace(
        "  ssh: {known_hosts: pki/known_hosts}\n",
        "  ssh: {known_hosts: pki/known_hosts}\n  policy: {units: [tomcat, Tomcat]}\n",
    )
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith("defaults.policy.units (line 6")
    assert "'Tomcat'" in problems[0] and "case matters" in problems[0]


def test_unknown_ca_backend_type_points_at_type(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("type: lab", "type: vault"))
    assert len(problems) == 1
    assert problems[0].startswith("ca_backends.lab.type (line 8")
    assert "vault" in problems[0]


def test_cluster_using_an_undefined_ca_backend_is_reported_at_its_ca_key(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("    ca: lab\n", "    ca: acme\n"))
    assert problems == [
        "clusters[0].ca (line 12, column 9): cluster 'c1' uses CA backend 'acme', which ca_backends does not define "
        "(defined: lab, manual)"
    ]


def test_missing_credentials_in_every_cluster_are_all_reported(tmp_path: Path) -> None:
    text = VALID.replace("  app_user: {username: certops-app, password_env: CUCM_APP_PASSWORD}\n", "")
    text += "  - name: c2\n    version: '14.0'\n    nodes:\n      - {fqdn: pub.c2.example.com, role: publisher}\n"
    problems = _problems(tmp_path, text)
    assert len(problems) == 2
    assert problems[0].startswith("clusters[0] (line 9") and "no app_user credentials" in problems[0]
    assert problems[1].startswith("clusters[1] (line 18") and "'c2'" in problems[1]


def test_credential_with_both_sources_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("password_env: CUCM_OS_PASSWORD}", "password_env: CUCM_OS_PASSWORD, password_secret_block: x}")
    problems = _problems(tmp_path, text)
    assert problems[0].startswith("defaults.os_admin (line 2") and "exactly one of" in problems[0]


def test_missing_required_key_names_it(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace('    version: "15.0"\n', ""))
    assert problems == ["clusters[0].version (line 10, column 5): this key is required"]


def test_duplicate_key_is_reported_with_both_places(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID.replace("    ca: lab\n", "    ca: lab\n    ca: manual\n"))
    assert problems[0].startswith("clusters[0].ca (line 13")
    assert "given twice (first at line 12" in problems[0]


def test_tls_verify_off_loads_but_warns_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    text = VALID.replace("    ca: lab\n", "    ca: lab\n    tls: {verify: false}\n    ssh: {host_key_check: false}\n")
    inv = load_inventory(_write(tmp_path, text))
    assert not inv.tls_for(inv.clusters[0]).verify
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("clusters[0].tls.verify is false" in m for m in messages)
    assert any("clusters[0].ssh.host_key_check is false" in m for m in messages)


def test_check_warns_about_missing_referenced_files_and_unset_password_variables(tmp_path: Path) -> None:
    result = check_inventory(_write(tmp_path, VALID), environ={"CUCM_OS_PASSWORD": "x"}, files_elsewhere=True)
    assert result.ok and result.problems == []
    bundle = (tmp_path / "pki" / "ca.pem").resolve()
    assert f"defaults.tls.ca_bundle: CA bundle {bundle} does not exist here" in result.warnings
    assert any("$CUCM_APP_PASSWORD" in w and "not set" in w for w in result.warnings)
    assert not any("$CUCM_OS_PASSWORD" in w for w in result.warnings)


def test_check_passes_when_files_exist_and_variables_are_set(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.pem").write_text("x")
    (tmp_path / "pki" / "known_hosts").write_text("")
    result = check_inventory(_write(tmp_path, VALID), environ={"CUCM_OS_PASSWORD": "x", "CUCM_APP_PASSWORD": "y"})
    assert result.ok and result.problems == [] and result.warnings == []


# -- every problem in one pass, and the cross-checks a newcomer tripped over ------------------------


def test_duplicate_fqdn_is_reported_together_with_the_other_errors(tmp_path: Path) -> None:
    text = VALID.replace("fqdn: imp1.c1.example.com", "fqdn: cucm-sub1.c1.example.com").replace(
        "timezone: Europe/Berlin", "timezone: Mars/Olympus"
    )
    problems = _problems(tmp_path, text)
    joined = "\n".join(problems)
    assert "clusters[0].maintenance_windows[0].timezone (line 14" in joined
    assert "clusters[0].nodes[2].fqdn (line 18" in joined
    assert (
        "'cucm-sub1.c1.example.com' is listed twice in cluster 'c1' (first at clusters[0].nodes[1].fqdn (line 17"
        in joined
    )
    assert len(problems) == 2


def test_missing_publisher_and_duplicate_fqdn_are_both_reported(tmp_path: Path) -> None:
    text = VALID.replace("role: publisher", "role: subscriber").replace(
        "fqdn: imp1.c1.example.com", "fqdn: cucm-sub1.c1.example.com"
    )
    problems = _problems(tmp_path, text)
    assert any("exactly one publisher, found 0" in p for p in problems)
    assert any(p.startswith("clusters[0].nodes[2].fqdn (line 18") and "listed twice" in p for p in problems)
    assert len(problems) == 2


def test_one_fqdn_in_two_clusters_is_reported_at_the_second(tmp_path: Path) -> None:
    text = VALID + (
        '  - name: c2\n    version: "14.0"\n    nodes:\n      - {fqdn: CUCM-SUB1.c1.example.com, role: publisher}\n'
    )
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith("clusters[1].nodes[0].fqdn (line 22")
    assert "in two clusters, 'c1' and 'c2'" in problems[0] and "clusters[0].nodes[1].fqdn (line 17" in problems[0]


def test_urgent_days_above_the_threshold_is_a_problem_at_its_place(tmp_path: Path) -> None:
    text = VALID.replace(
        "  ssh: {known_hosts: pki/known_hosts}\n",
        "  ssh: {known_hosts: pki/known_hosts}\n  policy: {threshold_days: 10, urgent_days: 14, "
        "per_unit_threshold_days: {ipsec: 5}}\n",
    )
    problems = _problems(tmp_path, text)
    joined = "\n".join(problems)
    assert "defaults.policy.urgent_days (line 6" in joined and "urgent_days (14) is above threshold_days (10)" in joined
    assert "defaults.policy.per_unit_threshold_days.ipsec (line 6" in joined
    assert len(problems) == 2


def test_urgent_days_above_the_default_threshold_in_a_cluster_policy_is_reported(tmp_path: Path) -> None:
    text = VALID.replace("    ca: lab\n", "    ca: lab\n    policy: {urgent_days: 45}\n")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1 and problems[0].startswith("clusters[0].policy.urgent_days (line 13")
    assert "above threshold_days (30)" in problems[0]


def test_missing_ca_bundle_with_tls_verification_on_is_a_problem_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "known_hosts").write_text("")
    result = check_inventory(_write(tmp_path, VALID), environ={"CUCM_OS_PASSWORD": "x", "CUCM_APP_PASSWORD": "y"})
    assert not result.ok
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.startswith("defaults.tls.ca_bundle (line 4")
    assert str((tmp_path / "pki" / "ca.pem").resolve()) in problem and "TLS verification is on" in problem


def test_missing_ca_bundle_with_verification_off_stays_a_warning(tmp_path: Path) -> None:
    text = VALID.replace("tls: {ca_bundle: pki/ca.pem}", "tls: {verify: false, ca_bundle: pki/ca.pem}")
    result = check_inventory(_write(tmp_path, text), environ={"CUCM_OS_PASSWORD": "x", "CUCM_APP_PASSWORD": "y"})
    assert result.ok
    assert any("ca.pem does not exist here" in w for w in result.warnings)
