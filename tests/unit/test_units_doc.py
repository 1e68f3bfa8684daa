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
    rows = {line.split("|")[1].strip(): line for line in result.output.splitlines() if line.startswith("| ")}
    assert set(UNITS) <= set(rows)
    assert "tomcat-trust" in rows["tomcat"] and "Cisco Tomcat (pub/sub/IM&P, cli)" in rows["tomcat"]
    assert "CallManager, CallManager-ECDSA, ITLRecovery" in rows["TVS"]
    assert rows["ipsec"].rstrip().endswith("| no_drf_job | — |")
