"""docs/units.md and `certops units` show the unit table the flows use."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from certops.cli import app
from certops.units import UNITS, units_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "units.md"


def test_docs_units_page_is_generated_from_the_table() -> None:
    assert DOC.read_text().endswith(units_markdown()), "regenerate docs/units.md from certops.units.units_markdown()"


def test_certops_units_lists_every_unit_with_its_trust_store_and_exclusions() -> None:
    result = CliRunner().invoke(app, ["units"])
    assert result.exit_code == 0
    rows: dict[str, str] = {}
    for line in result.output.splitlines():
        if line.startswith("| "):
            rows.setdefault(line.split("|")[1].strip(), line)  # the unit table comes first
    assert set(UNITS) <= set(rows)
    assert "tomcat-trust" in rows["tomcat"] and "Cisco Tomcat (pub/sub/IM&P, cli) [SEED]" in rows["tomcat"]
    assert "CallManager, CallManager-ECDSA, ITLRecovery" in rows["TVS"]
    assert rows["ipsec"].rstrip().endswith("| no_drf_job | — |")


def test_certops_units_shows_each_restarts_source_and_the_restarts_release_by_release() -> None:
    out = CliRunner().invoke(app, ["units"]).output
    assert "Cisco Tftp (pub/sub, soap) [GUIDE 12.5SU2]" in out
    assert "Cisco HAProxy (pub/sub, cli) [SEED 14.0+] [GUIDE 14SU2 14SU1+]" in out
    assert "## Release by release" in out
    assert "| unit | 12.5 | 14.0 | 14SU1 | 14SU2 | 15.0 |" in out
    assert "| 14.0.1.12900-161 | 14SU2 | 14SU2 |" in out
    assert "[SEED over GUIDE 14SU2]" in out
