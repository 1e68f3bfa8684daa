"""Long terminal tables (certops certificates, certops scan) look as rich draws them, and lose no text."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Table

from certops.cli._table import render
from certops.cucm.certinfo import certificate_info

COLUMNS = ("days left", "urgency", "cluster", "node", "note")
ROWS: list[tuple[tuple[str, ...], str | None]] = [
    (("-3", "expired", "c1", "cucm-pub.c1.example.com", "self-signed"), "bold red"),
    (("12", "critical", "c10", "imp1.c10.example.com", ""), "red"),
    (("400", "(ok)", "c2", "x", "CAPF is renewed on the publisher only"), "dim"),
]


def _rich(width: int, title_justify: str) -> str:
    table = Table(title="Certificates, 2026-12-02 01:00 UTC", title_justify=title_justify)  # type: ignore[arg-type]
    for name in COLUMNS:
        table.add_column(name, justify="right" if name == "days left" else "left", overflow="fold")
    for cells, style in ROWS:
        table.add_row(*cells, style=style)
    out = io.StringIO()
    Console(file=out, width=width, highlight=False).print(table)
    return out.getvalue()


@pytest.mark.parametrize("title_justify", ["center", "left"])
def test_a_table_that_fits_is_drawn_exactly_as_rich_draws_it(title_justify: str) -> None:
    ours = render(
        COLUMNS,
        ROWS,
        width=200,
        title="Certificates, 2026-12-02 01:00 UTC",
        title_justify=title_justify,
        right=("days left",),
    )
    assert ours == _rich(200, title_justify)


def test_a_narrow_terminal_wraps_cells_within_the_width_and_keeps_every_character() -> None:
    out = render(COLUMNS, ROWS, width=50, right=("days left",))
    lines = out.splitlines()
    assert all(len(line) == len(lines[0]) <= 50 for line in lines)
    body = [line for line in lines if line.startswith("│")]
    node_column = "".join(line.split("│")[4].strip() for line in body)
    assert "cucm-pub.c1.example.com" in node_column.replace(" ", "")
    note = "".join(line.split("│")[5].strip() for line in body)  # wrapped at spaces, long words folded
    assert "CAPFisrenewedonthepublisheronly" in note.replace(" ", "")


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render(COLUMNS, ROWS, width=200)
    coloured = render(COLUMNS, ROWS, width=200, color=True)
    for style in ("\x1b[1;31m", "\x1b[31m", "\x1b[2m", "\x1b[1m"):  # bold red, red, dim rows; bold header
        assert style in coloured


def _cert(*, issuer_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey, key_ids: bool) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cucm-pub.example.com")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)  # the same name whoever signed
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=90))
    )
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("key_ids", [True, False], ids=["by key identifier", "by signature"])
def test_self_signed_means_signed_with_its_own_key_not_only_named_after_itself(key_ids: bool) -> None:
    own, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    mine = certificate_info(_cert(issuer_key=own, key=own, key_ids=key_ids), cluster="c", node="n", unit="tomcat")
    theirs = certificate_info(_cert(issuer_key=other, key=own, key_ids=key_ids), cluster="c", node="n", unit="tomcat")
    assert mine.self_signed and not theirs.self_signed
    assert mine.subject == mine.issuer == "CN=cucm-pub.example.com" and mine.subject_cn == "cucm-pub.example.com"


def test_the_description_keeps_the_certificate_as_cryptography_writes_it() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = _cert(issuer_key=key, key=key, key_ids=True)
    messy = "some header text\r\n" + pem.replace("\n", "\r\n")  # what a CLI paste may look like
    info = certificate_info(messy, cluster="c", node="n", unit="tomcat")
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert info.pem == cert.public_bytes(serialization.Encoding.PEM).decode()
    assert info.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert info.not_after == cert.not_valid_after_utc and info.key_type == "ec" and info.key_size == 256


@pytest.mark.parametrize("terminal", [False, True], ids=["file", "terminal"])
def test_plain_lines_are_written_as_rich_prints_them(terminal: bool) -> None:
    from certops.cli._table import print_lines

    lines = [
        "due: c1 tomcat on cucm-pub.c1.example.com, cucm-sub1.c1.example.com (12 days left)",
        "queued: c1 TVS after CallManager (never at the same time)",
        "due: c2 ipsec on a:b:c (3 days left)",  # colons rich may read as an :emoji: code
        "thumbs :thumbs_up: up",
        "  leading and trailing spaces  ",
        "tab\there",
        "café and ünïcode",
        "x" * 90,  # wider than the console: rich wraps it
        "[red]markup[/red] is text here",
        "",
    ]

    def console(out: io.StringIO) -> Console:
        return Console(file=out, width=60, highlight=False, force_terminal=terminal or None)

    by_rich, by_us = io.StringIO(), io.StringIO()
    rich_console = console(by_rich)
    for line in lines:
        rich_console.print(line, markup=False)
    print_lines(console(by_us), lines)
    assert by_us.getvalue() == by_rich.getvalue()
