"""Writing a scan's files: the JSON report, the markdown table and the timeline picture.

Used by the scheduled scan flow and by ``certops scan --no-renew``; plain library code.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from certops.due import DuePlan
from certops.report.table import markdown_table
from certops.report.timeline import write_timeline


class ScanFiles(BaseModel):
    """Where a scan's files were written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: str
    json_path: str
    markdown_path: str
    png_path: str | None = None
    svg_path: str | None = None


def default_report_dir() -> Path:
    """``$CERTOPS_REPORT_DIR``, else ``~/.certops/scans``."""
    env = os.environ.get("CERTOPS_REPORT_DIR")
    return Path(env) if env else Path.home() / ".certops" / "scans"


def write_scan_files(
    plan: DuePlan,
    directory: Path,
    *,
    picture: bool = True,
    default_threshold_days: int = 30,
) -> ScanFiles:
    """Write ``scan-<time>.json``, ``.md`` and (with ``picture``) ``.png`` / ``.svg`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"scan-{plan.generated_at:%Y%m%dT%H%M%SZ}"
    json_path = stem.with_suffix(".json")
    json_path.write_text(plan.model_dump_json(indent=1))
    md_path = stem.with_suffix(".md")
    md_path.write_text(markdown_table(plan))
    png = svg = None
    if picture:
        png_p, svg_p = write_timeline(plan, stem, default_threshold_days=default_threshold_days)
        png, svg = str(png_p), str(svg_p)
    return ScanFiles(
        directory=str(directory), json_path=str(json_path), markdown_path=str(md_path), png_path=png, svg_path=svg
    )
