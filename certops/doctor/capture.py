"""The capture ``certops doctor --capture DIR`` writes (format ``certops-doctor-capture``, version 1).

Layout (``docs/doctor.md`` is the reference)::

    DIR/capture.json          what the cluster is, the verdicts, and an index of the answers
    DIR/responses/NNNN.txt    each answer's body as the node sent it, redacted

Every string in both passes through :class:`~certops.doctor.redact.Redactor` first: no
password, token, cookie, session id or private key is ever written; with ``anonymize`` host
names and addresses are replaced consistently and certificate PEMs are left out (the parsed
subject, SANs and dates stay, anonymized). Request headers are never recorded at all.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from certops.doctor.redact import Redactor
from certops.doctor.run import DoctorRun

FORMAT = "certops-doctor-capture"
VERSION = 1


class CaptureError(ValueError):
    """A folder that is not a capture this certops can read."""


def _walk(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {redactor.text(str(k)): _walk(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, redactor) for v in value]
    return value


def capture_dict(run: DoctorRun, *, anonymized: bool) -> dict[str, Any]:
    """The capture (before redaction) as a JSON-ready dict; ``responses`` index the answer files."""
    from certops import __version__

    report = run.report
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "certops_version": __version__,
        "anonymized": anonymized,
        "cluster": {**vars(run.cluster), "units": list(report.units)},
        "nodes": [vars(n) for n in run.nodes],
        "checks": [c.as_json() for c in report.checks],
        "inf": [v.as_json() for v in report.inf_summary().values()],
        "responses": [
            {
                "node": e.node,
                "interface": e.interface,
                "request": e.request,
                "status": e.status,
                "content_type": e.content_type,
                "file": f"responses/{i:04d}.txt",
            }
            for i, e in enumerate(run.recorder.exchanges, start=1)
        ],
    }


def write_capture(directory: Path, run: DoctorRun, *, anonymize: bool = False) -> Path:
    """Write the redacted capture of ``run`` into ``directory``; return the ``capture.json`` path."""
    hosts = [n.fqdn for n in run.nodes]
    redactor = Redactor(secrets=run.secrets, hosts=hosts, anonymize=anonymize)
    directory.mkdir(parents=True, exist_ok=True)
    responses = directory / "responses"
    responses.mkdir(exist_ok=True)
    data = capture_dict(run, anonymized=anonymize)
    for entry, exchange in zip(data["responses"], run.recorder.exchanges, strict=True):
        (directory / entry["file"]).write_text(redactor.text(exchange.body), encoding="utf-8")
    path = directory / "capture.json"
    path.write_text(json.dumps(_walk(data, redactor), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def read_capture(directory: Path) -> dict[str, Any]:
    """Read ``directory/capture.json``; ``CaptureError`` (one sentence) when it is not a version-1 capture."""
    path = directory / "capture.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaptureError(
            f"{directory} holds no capture.json: write one with certops doctor --capture {directory}"
        ) from None
    except (OSError, ValueError) as exc:
        raise CaptureError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CaptureError(f"{path} is not a certops doctor capture (format {FORMAT!r} missing)")
    if data.get("version") != VERSION:
        raise CaptureError(f"{path} is capture version {data.get('version')!r}; this certops reads version {VERSION}")
    return data
