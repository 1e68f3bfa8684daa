"""The inventory is parsed once, by libyaml when PyYAML has it, and reads exactly as the pure-Python parser reads it.

A thousand-node inventory took about a second to parse twice in pure Python; these tests hold the
faster path to the same values, the same places and the same wording of syntax errors.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from certops import inventory_file
from certops.errors import ConfigError
from certops.inventory_file import load_inventory

from .test_inventory_file import VALID

SCALARS = """\
window: 22:00
octal: 0755
hex: 0x1F
underscores: 1_000
float: 1.5e+3
dot: .5
infinity: .inf
flags: [yes, no, on, off, true, False]
nothing: ~
empty:
date: 2026-01-01
quoted: "15.0"
forced: !!str 12
anchored: &a {k: v}
again: *a
"""


def test_libyaml_reads_every_kind_of_scalar_as_the_pure_python_loader_does() -> None:
    root, data = inventory_file._parse(SCALARS)
    assert data == yaml.load(SCALARS, Loader=inventory_file._Loader)  # a SafeLoader
    assert data["window"] == "22:00"  # no YAML 1.1 base-60 numbers, with either parser
    assert root is not None and root.start_mark.line == 0


def test_the_inventory_is_the_same_with_or_without_libyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(VALID)
    fast = load_inventory(path)
    monkeypatch.setattr(inventory_file, "_FastLoader", inventory_file._Loader)
    assert load_inventory(path) == fast


def test_a_syntax_error_is_worded_and_placed_as_pyyaml_words_it(tmp_path: Path) -> None:
    # libyaml would say "found character that cannot start any token" (without the character)
    path = tmp_path / "inventory.yaml"
    path.write_text("clusters:\n\t- name: c1\n")
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert info.value.problems == [
        f"{path} (line 2, column 1): YAML syntax error: while scanning for the next token "
        "found character '\\t' that cannot start any token"
    ]


def test_a_problem_is_placed_at_its_line_and_column_by_the_fast_parser(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(VALID.replace("address: 10.0.0.1", "adress: 10.0.0.1"))
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert info.value.problems == [
        "clusters[0].nodes[0].adress (line 16, column 58): unknown key 'adress'; did you mean 'address'?"
    ]


def test_an_inventory_with_merge_keys_reads_as_before(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        defaults:
          os_admin: {username: admin, password_env: CUCM_OS_PASSWORD}
          app_user: {username: certops-app, password_env: CUCM_APP_PASSWORD}
        clusters:
          - name: c1
            version: "15.0"
            nodes:
              - &pub {fqdn: cucm-pub.c1.example.com, role: publisher, address: 10.0.0.1}
              - {<<: *pub, fqdn: cucm-sub1.c1.example.com, role: subscriber}
        """
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    nodes = load_inventory(path).clusters[0].nodes
    assert [(n.fqdn, n.role, n.address) for n in nodes] == [
        ("cucm-pub.c1.example.com", "publisher", "10.0.0.1"),
        ("cucm-sub1.c1.example.com", "subscriber", "10.0.0.1"),
    ]
    wrong = text.replace("role: subscriber}", "role: subscriber, adress: 10.0.0.2}")
    path.write_text(wrong)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    column = wrong.splitlines()[8].index("adress") + 1
    assert info.value.problems == [
        f"clusters[0].nodes[1].adress (line 9, column {column}): unknown key 'adress'; did you mean 'address'?"
    ]
