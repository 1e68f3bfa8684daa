#!/usr/bin/env python3
"""Fetch Cisco's published SOAP schemas from the package registries, pinned and hash-checked.

Cisco's WSDL/XSD files are the judge of every SOAP request certops builds and every SOAP
response the simulator sends (docs/simulator.md, "Checked against Cisco's schemas"). They are
not copied into this repository: this script takes them from the registry packages that ship
them, at the pinned versions below, checks each file's SHA-256 and lays them out as

    .cisco-schemas/axl/12.5/{AXLAPI.wsdl,AXLSoap.xsd,AXLEnums.xsd}   PyPI ciscoaxl 0.164
    .cisco-schemas/axl/14.0/...  .cisco-schemas/axl/15.0/...          npm cisco-axl 1.2.5
    .cisco-schemas/serviceability/{RISService70,ControlCenterServices,PerfmonService}.wsdl
                                                                      PyPI collabconnector (--no-deps)

collabconnector's AXL folders are NOT used: its "15.0" folder holds a 12.5 schema
(cucm-interfaces.md, "Cisco's machine-readable schemas"). Safe to run again: files already in
place with the right hash are kept. Exit 1 with the reason when a package cannot be had or a
hash differs. Usage: ``python3 scripts/fetch_cisco_schemas.py [--dest DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = ROOT / ".cisco-schemas"

# (registry, package, version, {path inside the package: (destination, sha256)})
SOURCES: list[tuple[str, str, str, dict[str, tuple[str, str]]]] = [
    (
        "pypi",
        "ciscoaxl",
        "0.164",
        {
            "ciscoaxl/schema/12.5/AXLAPI.wsdl": (
                "axl/12.5/AXLAPI.wsdl",
                "80fa859a7717db8d0e79d9598ab61259c47f1c8745b076acd9d211bdaa9e775b",
            ),
            "ciscoaxl/schema/12.5/AXLSoap.xsd": (
                "axl/12.5/AXLSoap.xsd",
                "aae147a61c5fa43f1d1192314e11412b1d933c7618e9fe1543d037c2833e494e",
            ),
            "ciscoaxl/schema/12.5/AXLEnums.xsd": (
                "axl/12.5/AXLEnums.xsd",
                "3d6da95a74b6ecc669ebd06d08864c7a4fd5a528370dba5ad3ce10d7fea29060",
            ),
        },
    ),
    (
        "npm",
        "cisco-axl",
        "1.2.5",
        {
            "package/schema/14.0/AXLAPI.wsdl": (
                "axl/14.0/AXLAPI.wsdl",
                "36457be2a3de0fb577f7e9a6ce6a93a3014195442b738874ca385f363e9c7f38",
            ),
            "package/schema/14.0/AXLSoap.xsd": (
                "axl/14.0/AXLSoap.xsd",
                "fd1f9cd1b3fa6a4c88a1b150451a770be3f7ffbd696772b8e3bd19e7b9030275",
            ),
            "package/schema/14.0/AXLEnums.xsd": (
                "axl/14.0/AXLEnums.xsd",
                "86037bedde27ef29b0a77754acdfefa4c4da4237e294f25826185a4767657d4d",
            ),
            "package/schema/15.0/AXLAPI.wsdl": (
                "axl/15.0/AXLAPI.wsdl",
                "2d143722ece49b2b30473a7d5040628d34eab106f6dcefa96dbf19676052271f",
            ),
            "package/schema/15.0/AXLSoap.xsd": (
                "axl/15.0/AXLSoap.xsd",
                "637cee767b1eb6c3c7ede9f36de9b2aa8514397844d7a25f78e36128a585e079",
            ),
            "package/schema/15.0/AXLEnums.xsd": (
                "axl/15.0/AXLEnums.xsd",
                "2c911c6e60d453d2102b730a5ab0c9f35497598dfbea582a513e6de23c64154c",
            ),
        },
    ),
    (
        "pypi",
        "collabconnector",
        "0.1.1754924847",
        {
            "CollabConnector/CUCM/AXL/schema/12.5/RISService70.wsdl": (
                "serviceability/RISService70.wsdl",
                "45bb0553aebcd1b626e70e8fcc23b704c7192421c407b318f30b5da7e3fada90",
            ),
            "CollabConnector/CUCM/AXL/schema/12.5/ControlCenterServices.wsdl": (
                "serviceability/ControlCenterServices.wsdl",
                "926cf4e08a9a278415612d4bedcbf492fe0781fe3247e8d33a95e33d8b611c88",
            ),
            "CollabConnector/CUCM/AXL/schema/12.5/PerfmonService.wsdl": (
                "serviceability/PerfmonService.wsdl",
                "f116e94debbc8a1f021f9864e5877dbf2192b2b2f6be0bb015bdea2cb25faa1e",
            ),
        },
    ),
]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _complete(dest: Path, files: dict[str, tuple[str, str]]) -> bool:
    for target, digest in files.values():
        path = dest / target
        if not path.is_file() or _sha256(path.read_bytes()) != digest:
            return False
    return True


def _download(registry: str, package: str, version: str, work: Path) -> Path:
    if registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(work), f"{package}=={version}"]
    else:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(f"cannot fetch {package} {version}: npm is not installed (apt-get install npm)")
        cmd = [npm, "pack", "--silent", "--pack-destination", str(work), f"{package}@{version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"cannot fetch {package} {version} from {registry}: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    found = [p for p in work.iterdir() if p.is_file()]
    if len(found) != 1:
        raise SystemExit(f"cannot fetch {package} {version}: expected one archive, found {[p.name for p in found]}")
    return found[0]


def _members(archive: Path, wanted: set[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in wanted & set(zf.namelist()):
                out[name] = zf.read(name)
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                if member.name in wanted and member.isfile():
                    fh = tf.extractfile(member)
                    if fh is not None:
                        out[member.name] = fh.read()
    return out


def fetch(dest: Path) -> list[str]:
    """Bring every pinned schema file into ``dest``; returns one line per package."""
    lines: list[str] = []
    for registry, package, version, files in SOURCES:
        if _complete(dest, files):
            lines.append(f"{package} {version}: {len(files)} files in place")
            continue
        with tempfile.TemporaryDirectory(prefix="certops-schemas-") as tmp:
            archive = _download(registry, package, version, Path(tmp))
            got = _members(archive, set(files))
        for inner, (target, digest) in files.items():
            data = got.get(inner)
            if data is None:
                raise SystemExit(f"{package} {version} has no {inner}: the package changed; update the pin")
            actual = _sha256(data)
            if actual != digest:
                raise SystemExit(
                    f"{package} {version}: {inner} has SHA-256 {actual}, expected {digest}; "
                    "refusing a schema that is not the pinned one"
                )
            path = dest / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        lines.append(f"{package} {version}: {len(files)} files fetched and checked")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="target folder (default .cisco-schemas)")
    args = parser.parse_args(argv)
    for line in fetch(args.dest):
        print(f"cisco schemas: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
