"""A node's answer reads the same through the fleet scan (FleetHttp) as through certops' per-node client (httpx).

One TLS server on this machine answers each request with a canned answer: a snapshot (plain,
chunked, to the end of the stream, gzip-compressed) or an error (JSON message, plain text in
latin-1, the platform lock, a body that is no JSON). The scan's reading and ``CertMgrClient.snapshot``
give the same snapshot or the same error, message and all.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from certops.cucm._http import FleetHttp
from certops.cucm.rest import CertMgrClient, read_snapshot
from certops.errors import CertopsError
from tests.unit import x509_factory as f

FQDN = "node.certops.test"
SNAPSHOT = json.dumps(
    {"server": FQDN, "identities": [{"service": "tomcat", "certificate": "-----BEGIN CERTIFICATE-----\nAA==\n"}]}
).encode()


def _chunked(body: bytes, size: int) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


def _with_length(head: bytes, body: bytes) -> bytes:
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


ANSWERS: dict[str, bytes] = {
    "snapshot": _with_length(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", SNAPSHOT),
    "chunked snapshot": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    + _chunked(SNAPSHOT, 10),
    "snapshot to the end": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + SNAPSHOT,
    "gzip snapshot": _with_length(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n", gzip.compress(SNAPSHOT)),
    "json error": _with_length(b"HTTP/1.1 500 Internal Server Error\r\n", b'{"message": "certificate store broken"}'),
    "text error in latin-1": _with_length(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=latin-1\r\n", b"service \xe9t\xe9 "
    ),
    "platform locked": _with_length(b"HTTP/1.1 423 Locked\r\n", b'{"message": "DRF backup running"}'),
    "not json": _with_length(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", b"<html></html>"),
    "forbidden": _with_length(b"HTTP/1.1 403 Forbidden\r\n", b""),
    "cut short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context for ``FQDN`` and the CA bundle that verifies it."""
    directory = tmp_path_factory.mktemp("fleet-http-errors")
    ca_key, key = f.key("ec", 256, 40), f.key("ec", 256, 41)
    ca = f.make_cert(f.name("Test CA"), ca_key.public_key(), f.name("Test CA"), ca_key, ca=True, ku=f.CA_KU)
    leaf = f.make_cert(f.name(FQDN), key.public_key(), ca.subject, ca_key, ca=False, sans=[f"DNS:{FQDN}"])
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    return server, directory / "ca.pem"


@pytest.fixture(scope="module")
def node(tls: tuple[ssl.SSLContext, Path]) -> Iterator[tuple[int, dict[str, bytes]]]:
    """(port, the answer to give): a TLS server that answers every request with ``answer["now"]`` and closes."""
    answer = {"now": b""}
    loop = asyncio.new_event_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer["now"])
            await writer.drain()
        finally:
            writer.close()

    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls[0]))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server.sockets[0].getsockname()[1], answer
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()


def _outcome(call: object) -> tuple[object, ...]:
    try:
        result = call()  # type: ignore[operator]
    except CertopsError as exc:
        return ("refused", type(exc).__name__, str(exc))
    return ("read", result)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_an_answer_reads_the_same_through_the_fleet_scan_and_the_per_node_client(
    node: tuple[int, dict[str, bytes]], tls: tuple[ssl.SSLContext, Path], name: str
) -> None:
    port, answer = node
    answer["now"] = ANSWERS[name]
    login = {"fqdn": FQDN, "address": "127.0.0.1", "port": port, "username": "admin", "password": SecretStr("pw")}

    def by_fleet() -> object:
        return asyncio.run(read_snapshot(FleetHttp(timeout=10), ca_bundle=tls[1], **login))  # type: ignore[arg-type]

    def by_client() -> object:
        with CertMgrClient(ca_bundle=tls[1], timeout=10, **login) as client:  # type: ignore[arg-type]
            return client.snapshot()

    fleet, client = _outcome(by_fleet), _outcome(by_client)
    assert fleet == client
    assert fleet[0] == ("read" if "snapshot" in name else "refused")
