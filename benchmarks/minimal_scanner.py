"""A minimal certificate scanner, as a user could write it in an afternoon: the yardstick for certops.

Written for the benchmark from the interface document (cucm-interfaces.md §1, ``GET
/snapshot/server``), not from certops: it reads the inventory YAML, opens one TLS connection per
node with one shared ``ssl.SSLContext`` (verification on, the inventory's CA bundle, SNI and the
``Host`` header set to the node's FQDN), sends one HTTP/1.1 request with Basic auth over plain
asyncio streams, parses the JSON snapshot and reads each identity certificate's subject CN and
not-after with ``cryptography``. At most ``--concurrency`` nodes at once, no per-cluster limit,
no error paragraphs, no retries, no report model: the least a scan must do.

    .venv/bin/python benchmarks/minimal_scanner.py INVENTORY.yaml [--concurrency 32]

Prints one line: nodes, certificates, failures, seconds. Passwords come from the environment
variables the inventory names.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

SNAPSHOT = "/platformcom/api/v1/certmgr/config/snapshot/server"


def _decode_chunked(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


async def _get(ctx: ssl.SSLContext, node: dict[str, Any], auth: str, timeout: float) -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            node.get("address", node["fqdn"]), node.get("https_port", 443), ssl=ctx, server_hostname=node["fqdn"]
        ),
        timeout,
    )
    try:
        writer.write(
            f"GET {SNAPSHOT} HTTP/1.1\r\nHost: {node['fqdn']}\r\nAuthorization: Basic {auth}\r\n"
            "Accept: application/json\r\nConnection: close\r\n\r\n".encode()
        )
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    if b"transfer-encoding: chunked" in head.lower():
        body = _decode_chunked(body)
    return body


def _certificates(body: bytes) -> list[tuple[str, str | None, float]]:
    out = []
    for identity in json.loads(body).get("identities", []):
        cert = x509.load_pem_x509_certificate(identity["certificate"].encode())
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        out.append((identity["service"], str(cns[0].value) if cns else None, cert.not_valid_after_utc.timestamp()))
    return out


async def scan(inventory: Path, concurrency: int, timeout: float = 30.0) -> tuple[int, int, int]:
    """Read every node of ``inventory``; return (nodes, certificates, failures)."""
    data = yaml.safe_load(inventory.read_text())
    defaults = data.get("defaults", {})
    tls = defaults.get("tls", {})
    ctx = ssl.create_default_context(cafile=tls.get("ca_bundle"))
    user = defaults["os_admin"]["username"]
    password = os.environ[defaults["os_admin"]["password_env"]]
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    nodes = [n for c in data["clusters"] for n in c["nodes"]]
    limit = asyncio.Semaphore(concurrency)
    found: list[tuple[str, str | None, float]] = []
    failures = 0

    async def one(node: dict[str, Any]) -> None:
        nonlocal failures
        async with limit:
            try:
                body = await _get(ctx, node, auth, timeout)
                found.extend(_certificates(body))
            except (TimeoutError, OSError, ValueError, RuntimeError) as exc:
                failures += 1
                print(f"{node['fqdn']}: {type(exc).__name__}: {exc}", file=sys.stderr)

    await asyncio.gather(*(one(n) for n in nodes))
    found.sort(key=lambda f: f[2])
    return len(nodes), len(found), failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inventory", type=Path)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    t = time.perf_counter()
    nodes, certs, failures = asyncio.run(scan(args.inventory, args.concurrency))
    print(f"minimal scanner: {nodes} nodes, {certs} certificates, {failures} failures, {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
