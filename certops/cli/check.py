"""``certops check``: is what the CA returned ready to upload for this CSR and unit?

Exit codes: 0 ready to upload (a short summary), 1 problems (each on one line), 2 input that
cannot be read (a clear message, never a traceback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certops.cli._app import app
from certops.errors import CertificateError
from certops.units import UNITS

EXIT_READY = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2


def _read_file(path: Path, what: str) -> bytes:
    from certops.x509.read import MAX_INPUT_BYTES

    try:
        if not path.exists():
            raise CertificateError(f"{what} {path}: no such file")
        if not path.is_file():
            raise CertificateError(f"{what} {path}: not a file")
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise CertificateError(f"{what} {path}: {path.stat().st_size} bytes is too large (limit {MAX_INPUT_BYTES})")
        return path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"{what} {path}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def run_check(
    csr: Path,
    chain: list[Path],
    unit: str,
    *,
    as_json: bool = False,
    node: str | None = None,
    min_days: int | None = None,
) -> int:
    """Run the check and print its result; return the exit code (0, 1 or 2)."""
    from certops.x509.checks import DEFAULT_MIN_VALIDITY_DAYS, check_files

    if unit not in UNITS:
        typer.echo(f"error: unknown unit {unit!r}; known units (case matters): {', '.join(UNITS)}", err=True)
        return EXIT_UNREADABLE
    if not chain:
        typer.echo("error: give the signed certificate and its chain with --chain FILE [FILE ...]", err=True)
        return EXIT_UNREADABLE
    try:
        csr_bytes = _read_file(csr, "CSR")
        blobs = [_read_file(p, "chain file") for p in chain]
        report = check_files(
            csr_bytes,
            blobs,
            unit,
            names=[str(p) for p in chain],
            node=node,
            min_validity_days=DEFAULT_MIN_VALIDITY_DAYS if min_days is None else min_days,
            expected_cn=node,
        )
    except CertificateError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_UNREADABLE
    if as_json:
        typer.echo(report.to_json())
    elif report.ok:
        typer.echo(report.summary())
    else:
        where = f"{node} " if node else ""
        typer.echo(f"{where}[{unit}] NOT ready to upload: {len(report.problems)} problem(s)")
        for p in report.problems:
            typer.echo(f"  [{p.code}] {p.line()}")
        typer.echo(f"  (leaf: {report.leaf_subject}, serial {report.leaf_serial})")
    return EXIT_READY if report.ok else EXIT_PROBLEMS


@app.command("check")
def check(
    csr: Annotated[Path, typer.Option("--csr", help="the CSR pending on the node (PEM or DER)")],
    chain: Annotated[list[Path], typer.Option("--chain", help="signed certificate and chain: PEM, DER, PKCS#7")],
    unit: Annotated[str, typer.Option("--unit", help=f"certificate unit: {', '.join(UNITS)}")],
    more: Annotated[list[Path] | None, typer.Argument(metavar="[FILE ...]", help="more chain files")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON")] = False,
    node: Annotated[str | None, typer.Option("--node", help="the node's FQDN (the CN must match it)")] = None,
    min_days: Annotated[
        int | None, typer.Option("--min-days", min=0, help="minimum days the certificate must stay valid")
    ] = None,
) -> None:
    """Check a CA's answer against the CSR before uploading it: exit 0 ready, 1 problems, 2 unreadable."""
    try:
        code = run_check(csr, [*chain, *(more or [])], unit, as_json=as_json, node=node, min_days=min_days)
    except Exception as exc:  # noqa: BLE001  (a person never sees a traceback from this command)
        typer.echo(f"error: could not check the certificate ({type(exc).__name__}: {exc})", err=True)
        code = EXIT_UNREADABLE
    raise typer.Exit(code)
