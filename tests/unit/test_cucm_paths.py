"""Which path (certmgr REST or the CLI) a node's certificate work takes, and the reason the dry run shows."""

from __future__ import annotations

import pytest

from certops.cucm.paths import Via, certificate_path, uses_rest


@pytest.mark.parametrize("release", [(12, 5), (12, 5, 7), (11, 5, 1)])
def test_before_14_the_cli_is_used_because_certmgr_has_no_csr_endpoint(release):
    path = certificate_path(release)
    assert path.via is Via.CLI and not uses_rest(release)
    assert path.why.startswith(f"{release[0]}.{release[1]}: certmgr REST has no CSR endpoint before 14")
    assert "set csr gen" in path.why and "set cert import" in path.why


@pytest.mark.parametrize("release", [(14, 0), (14, 0, 2), (15, 0, 1)])
def test_from_14_certmgr_rest_is_used(release):
    path = certificate_path(release)
    assert path.via is Via.REST and uses_rest(release)
    assert path.text().startswith(f"REST — {release[0]}.{release[1]}: certmgr REST")


def test_an_unknown_release_assumes_rest_and_says_preflight_reads_the_version():
    path = certificate_path(())
    assert path.via is Via.REST and "preflight reads the version" in path.why
