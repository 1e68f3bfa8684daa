"""docs/units.md and `certops units` show the unit table the flows use."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from certops.cli import app
from certops.units import UNITS, units_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "units.md"


def test_docs_units_page_is_generated_from_the_table() -> None:
    assert DOC.read_text().endswith(units_markdown()), "regenerate docs/units.md from certops.units.units_markdown()"


def _units(columns: int = 400) -> str:
    result = CliRunner().invoke(app, ["units"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def _rows(out: str) -> dict[str, list[str]]:
    """The unit table's rows by unit: each row's lines (a cell's lines one under the other)."""
    rows: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("└"):
            break  # the unit table comes first
        if line.startswith("│"):
            first = line.split("│")[1].strip()
            if first:
                current = rows.setdefault(first, [])
            if current is not None:
                current.append(line)
    return rows


def test_certops_units_lists_every_unit_with_its_trust_store_and_exclusions() -> None:
    rows = {unit: "\n".join(lines) for unit, lines in _rows(_units()).items()}
    assert set(UNITS) <= set(rows)
    assert "tomcat-trust" in rows["tomcat"] and "Cisco Tomcat (pub/sub/IM&P, cli) [SEED]" in rows["tomcat"]
    assert "CallManager, CallManager-ECDSA, ITLRecovery" in rows["TVS"]
    assert re.search(r"│ no_drf_job\s+│ —\s+│$", rows["ipsec"].splitlines()[0])


def test_certops_units_is_a_terminal_table_not_markdown_and_fits_columns() -> None:
    for columns in (100, 160):
        out = _units(columns)
        assert "<br>" not in out and "|---" not in out
        assert "┃ unit" in out
        assert max(len(line) for line in out.splitlines()) <= columns
    # one restart per line in the cell, where the Markdown joins them with <br>
    lines = _rows(_units())["tomcat"]
    assert any("Cisco Tomcat (pub/sub/IM&P, cli) [SEED]" in x for x in lines)
    assert any("Cisco Tftp (pub/sub, soap) [GUIDE 12.5SU2]" in x for x in lines)


def test_certops_units_markdown_is_what_docs_units_md_holds() -> None:
    result = CliRunner().invoke(app, ["units", "--markdown"])
    assert result.exit_code == 0
    assert result.output == units_markdown() and "<br>" in result.output


def test_certops_units_shows_each_restarts_source_and_the_restarts_release_by_release() -> None:
    out = _units()
    assert "Cisco Tftp (pub/sub, soap) [GUIDE 12.5SU2]" in out
    assert "Cisco HAProxy (pub/sub, cli) [SEED 14.0+] [GUIDE 14SU2 14SU1+]" in out
    assert "Release by release" in out
    assert re.search(r"┃ unit\s+┃ 12\.5\s+┃ 14\.0\s+┃ 14SU1\s+┃ 14SU2\s+┃ 15\.0\s+┃", out)
    assert re.search(r"│ 14\.0\.1\.12900-161\s+│ 14SU2\s+│ 14SU2\s+│", out)
    assert "[SEED over GUIDE 14SU2]" in out
