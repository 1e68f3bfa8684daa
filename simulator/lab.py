"""The ``[LAB]`` rows a capture of a real cluster gives docs/simulator.md: :func:`lab_rows`.

docs/simulator.md marks a behaviour ``[LAB]`` once a capture of a real cluster confirmed or
corrected it, with the capture as the source: its certops version, the cluster's build and the
answer files. This module writes those rows from a capture and the twin's notes (what the twin
adopted from it), so the person who ran ``certops doctor --capture`` can hand them over as they
are. A capture of this simulator settles nothing and is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.pki import ORG
from simulator.twin import TwinError, load_capture

_INTERFACE = {"cc": "controlcenter", "ris": "risport", "tls": "tls"}
"""The capture's interface name of an [INF] id's prefix, where they differ."""

MAX_FILES = 3
"""Answer files named per row (the rest are in the capture's index)."""


def of_the_simulator(capture: dict[str, Any]) -> bool:
    """Whether every CA-signed certificate in the capture was issued by this simulator's CA."""
    issuers = [
        str(cert.get("issuer", ""))
        for node in capture.get("nodes") or []
        for cert in node.get("certificates") or []
        if not cert.get("self_signed")
    ]
    return bool(issuers) and all(f"O={ORG}" in issuer for issuer in issuers)


def _files(capture: dict[str, Any], node: str | None, interface: str, behaviour: str) -> str:
    """The answer files of ``node`` on ``interface``; those whose request the behaviour names, where some do."""
    entries = [
        e
        for e in capture.get("responses") or []
        if e.get("interface") == interface and (node is None or str(e.get("node", "")).lower() == node.lower())
    ]
    named = [e for e in entries if _request_key(str(e.get("request", ""))) in behaviour]
    files = [str(e.get("file")) for e in named or entries]
    if not files:
        return "no answer file"
    more = f" and {len(files) - MAX_FILES} more" if len(files) > MAX_FILES else ""
    return ", ".join(files[:MAX_FILES]) + more


def _request_key(request: str) -> str:
    """What a behaviour's words would name of a request: a CLI command, or a REST path's last two segments."""
    if not request.startswith(("GET ", "POST ", "PUT ", "DELETE ")):
        return request.strip() or "\0"
    path = request.split(" ", 1)[1].split("?", 1)[0].rstrip("/")
    return "/".join(path.split("/")[-2:]) if path.count("/") > 1 else path


def lab_rows(capture_dir: Path, notes: list[str]) -> list[str]:
    """Markdown rows for docs/simulator.md: one per [INF] item the capture settled, one per twin adoption.

    Raises :class:`simulator.twin.TwinError` for a capture of this simulator (it settles nothing).
    """
    from certops.doctor.inf import INF_ITEMS

    capture = load_capture(capture_dir)
    if of_the_simulator(capture):
        raise TwinError(
            f"{capture_dir} is a capture of the certops simulator (every CA-signed certificate is issued by "
            f"O={ORG}): it cannot confirm or correct anything; run certops doctor --capture against a real "
            "cluster, read-only"
        )
    cluster = capture.get("cluster") or {}
    build = cluster.get("full_version") or cluster.get("version") or "build unknown"
    source = f"capture {capture.get('created', '?')}, certops {capture.get('certops_version', '?')}, CUCM {build}"
    rows = ["| behaviour | [LAB] what the cluster did | source |", "|---|---|---|"]
    for verdict in capture.get("inf") or []:
        status = str(verdict.get("status", ""))
        if status not in ("confirmed", "refuted"):
            continue
        item_id = str(verdict.get("id", ""))
        item = INF_ITEMS.get(item_id)
        title = item.behaviour if item is not None else item_id
        prefix = item_id.split(".", 1)[0]
        node = verdict.get("node")
        said = str(verdict.get("said") or "").replace("|", "\\|")
        what = "confirmed" if status == "confirmed" else f"refuted: {said}"
        files = _files(capture, node, _INTERFACE.get(prefix, prefix), title)
        rows.append(f"| {title} (`{item_id}`) | **[LAB]** {what} | {source}; {node or 'cluster'}: {files} |")
    for note in notes:
        if "captured" in note and "the simulator's" not in note:  # an adoption, not a gap in the capture
            text = note.replace("|", "\\|")
            rows.append(f"| twin: {text} | **[LAB]** the twin answers so | {source} |")
    return rows
