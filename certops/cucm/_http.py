"""One HTTPS seam for every CUCM HTTP client (certmgr REST and the SOAP services).

Connects to ``address:port`` but verifies the node's certificate against its **FQDN** (TLS SNI
and hostname check via httpx's ``sni_hostname`` extension, plus the ``Host`` header), with the
configured CA bundle. Translates httpx/ssl failures into certops errors once, here, and logs one
INFO line per request (method, node, path, status, milliseconds) — never the auth header.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import ssl
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import h11
import httpx
from pydantic import SecretStr

from certops.cucm.certmgr_shapes import error_message
from certops.errors import CucmAuthError, CucmConnectionError, CucmError, CucmTrustError

log = logging.getLogger("certops.cucm.http")


def build_ssl_context(*, verify: bool, ca_bundle: Path | None, node: str) -> ssl.SSLContext:
    """The TLS context for talking to ``node``: verifying against ``ca_bundle`` (or the system store).

    ``verify=False`` is honoured only because the operator configured it, and is logged loudly.
    Contexts are shared: one per setting and version of the CA bundle file (its path, size and
    modification time), so a scan of a thousand nodes reads the bundle once, and a bundle
    replaced on disk is read again.
    """
    if not verify:
        log.warning(
            "TLS VERIFICATION IS OFF for %s (tls.verify: false in the inventory): "
            "certops cannot tell this node from an impostor. Turn it back on with a ca_bundle.",
            node,
        )
        return _unverified_context()
    try:
        stamp = (ca_bundle.stat().st_mtime_ns, ca_bundle.stat().st_size) if ca_bundle else None
        return _verifying_context(str(ca_bundle) if ca_bundle else None, stamp)
    except (OSError, ssl.SSLError) as exc:
        from certops.errors import ConfigError

        raise ConfigError(
            f"cannot read the CA bundle {ca_bundle} for {node}: {exc}",
            hint="point tls.ca_bundle at a PEM file holding the CA that signed the nodes' tomcat certificates",
        ) from exc


@functools.lru_cache(maxsize=32)
def _verifying_context(cafile: str | None, stamp: tuple[int, int] | None) -> ssl.SSLContext:
    """One verifying context per CA bundle version (``stamp`` is part of the cache key only)."""
    return ssl.create_default_context(cafile=cafile)


@functools.lru_cache(maxsize=1)
def _unverified_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def is_tls_verification_failure(exc: BaseException) -> bool:
    """True when ``exc`` (or anything in its cause chain) is a certificate verification failure."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(cur) or "certificate verify failed" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


class NodeHttp:
    """An httpx client bound to one node: base URL by address, TLS identity by FQDN, Basic auth."""

    def __init__(
        self,
        *,
        fqdn: str,
        address: str,
        port: int,
        username: str,
        password: SecretStr,
        verify: bool = True,
        ca_bundle: Path | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        credential_kind: str = "OS admin",
    ) -> None:
        self.fqdn = fqdn
        self.address = address
        self.port = port
        self.username = username
        self.credential_kind = credential_kind
        host = f"[{address}]" if ":" in address else address
        self.base_url = f"https://{host}:{port}"
        self._host_header = fqdn if port == 443 else f"{fqdn}:{port}"
        kwargs: dict[str, Any] = {}
        if transport is not None:
            kwargs["transport"] = transport
        else:
            kwargs["verify"] = build_ssl_context(verify=verify, ca_bundle=ca_bundle, node=fqdn)
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, password.get_secret_value()),
            timeout=timeout,
            headers={"Host": self._host_header},
            **kwargs,
        )

    def close(self) -> None:
        """Close the connection pool (``NodeClient`` owns the context management)."""
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        unit: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; translate transport failures and 401/403; return any other response."""
        started = time.monotonic()
        extensions = {"sni_hostname": self.fqdn}
        try:
            response = self._client.request(method, path, extensions=extensions, **kwargs)
        except httpx.HTTPError as exc:
            ms = (time.monotonic() - started) * 1000
            log.info("%s %s %s -> %s (%.0f ms)", method, self.fqdn, path, type(exc).__name__, ms)
            raise self._translate(exc, operation, unit) from exc
        ms = (time.monotonic() - started) * 1000
        log.info("%s %s %s -> %d (%.0f ms)", method, self.fqdn, path, response.status_code, ms)
        refusal = auth_refusal(
            response,
            username=self.username,
            credential_kind=self.credential_kind,
            node=self.fqdn,
            operation=operation,
            unit=unit,
        )
        if refusal is not None:
            raise refusal
        return response

    def _translate(self, exc: httpx.HTTPError, operation: str, unit: str | None) -> CucmError:
        return translate_error(
            exc, fqdn=self.fqdn, address=self.address, port=self.port, operation=operation, unit=unit
        )


def auth_refusal(
    response: httpx.Response, *, username: str, credential_kind: str, node: str, operation: str, unit: str | None
) -> CucmAuthError | None:
    """The error for a 401 or 403 answer (wrong credentials, missing privilege), else None."""
    if response.status_code == 401:
        return CucmAuthError(
            f"the node refused the {credential_kind} credentials of user {username!r} (HTTP 401)",
            node=node,
            operation=operation,
            unit=unit,
            hint=f"check the {credential_kind} username and password in the inventory's environment "
            "variable; certops does not retry, so the account is not locked out",
        )
    if response.status_code == 403:
        return CucmAuthError(
            f"user {username!r} is not allowed to do this (HTTP 403)",
            node=node,
            operation=operation,
            unit=unit,
            hint="give the account the needed privilege (certmgr writes need privilege 1; SOAP needs the "
            "Serviceability/AXL roles)",
        )
    return None


def translate_error(
    exc: httpx.HTTPError, *, fqdn: str, address: str, port: int, operation: str, unit: str | None
) -> CucmError:
    """The certops error for a transport failure: TLS verification, timeout, unreachable, other."""
    where = f"{address}:{port}"
    if is_tls_verification_failure(exc):
        return CucmTrustError(
            f"the node's TLS certificate could not be verified for {fqdn} at {where}: {_short(exc)}",
            node=fqdn,
            operation=operation,
            unit=unit,
            hint="set tls.ca_bundle to the CA that signed this node's tomcat certificate, or check that "
            "the node's certificate names this FQDN",
        )
    if isinstance(exc, httpx.TimeoutException):
        return CucmConnectionError(
            f"timed out talking to {where} ({type(exc).__name__})",
            node=fqdn,
            operation=operation,
            unit=unit,
            hint="check that the node is up and reachable; certops retries read-only steps",
        )
    if isinstance(exc, httpx.TransportError):
        return CucmConnectionError(
            f"cannot reach {where}: {_short(exc)}",
            node=fqdn,
            operation=operation,
            unit=unit,
            hint="check the node's address and port in the inventory and that the node is up",
        )
    return CucmConnectionError(
        f"HTTP failure talking to {where}: {_short(exc)}", node=fqdn, operation=operation, unit=unit
    )


class FleetHttp:
    """HTTPS for reading many nodes at once (the fleet scan) on one event loop: shared TLS, one connection a request.

    Each request opens its own TLS connection to ``address:port`` with the node's FQDN as SNI
    and ``Host``, verified for that FQDN with ``build_ssl_context``'s shared context (the CA
    bundle is read once, not once a node), sends one HTTP/1.1 request and reads the answer with
    ``h11`` (the HTTP/1.1 parser under httpx), then closes: no connection made for one node ever
    carries another's request. A scan sends one request a node, so a pool would gain nothing
    and httpx's machinery per request cost more than the TLS handshake. Answers come back as
    ``httpx.Response`` and failures as the same certops errors, with the same messages, as
    ``NodeHttp``'s (by way of the matching httpx exception).
    """

    def __init__(self, *, timeout: float = 30.0) -> None:
        self._timeout = timeout

    async def request(
        self,
        method: str,
        path: str,
        *,
        fqdn: str,
        address: str,
        port: int,
        username: str,
        password: SecretStr,
        verify: bool = True,
        ca_bundle: Path | None = None,
        operation: str,
        unit: str | None = None,
        credential_kind: str = "OS admin",
    ) -> httpx.Response:
        """Send one request (no body) to one node; translate failures and 401/403 as ``NodeHttp.request`` does."""
        ctx = build_ssl_context(verify=verify, ca_bundle=ca_bundle, node=fqdn)
        token = base64.b64encode(f"{username}:{password.get_secret_value()}".encode()).decode("ascii")
        headers = [
            ("Host", fqdn if port == 443 else f"{fqdn}:{port}"),
            ("Authorization", f"Basic {token}"),
            ("Accept", "application/json"),
            ("User-Agent", "certops"),
            ("Connection", "close"),
        ]
        started = time.monotonic()
        phase = ["connect"]
        try:
            async with asyncio.timeout(self._timeout):
                status, answer_headers, body = await _exchange(ctx, address, port, fqdn, method, path, headers, phase)
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            ms = (time.monotonic() - started) * 1000
            error = _as_httpx_error(exc, phase[0])
            log.info("%s %s %s -> %s (%.0f ms)", method, fqdn, path, type(error).__name__, ms)
            raise translate_error(error, fqdn=fqdn, address=address, port=port, operation=operation, unit=unit) from exc
        ms = (time.monotonic() - started) * 1000
        log.info("%s %s %s -> %d (%.0f ms)", method, fqdn, path, status, ms)
        response = httpx.Response(status, headers=answer_headers, content=body)
        refusal = auth_refusal(
            response, username=username, credential_kind=credential_kind, node=fqdn, operation=operation, unit=unit
        )
        if refusal is not None:
            raise refusal
        return response


async def _exchange(
    ctx: ssl.SSLContext,
    address: str,
    port: int,
    fqdn: str,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    phase: list[str],
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    reader, writer = await asyncio.open_connection(address, port, ssl=ctx, server_hostname=fqdn)
    try:
        phase[0] = "write"
        conn = h11.Connection(h11.CLIENT)
        writer.write(
            conn.send(h11.Request(method=method, target=path, headers=headers)) + conn.send(h11.EndOfMessage())
        )
        await writer.drain()
        phase[0] = "read"
        status, answer_headers, chunks = 0, [], []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status, answer_headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if not status:
            raise h11.RemoteProtocolError("the node closed the connection without an answer")
        return status, answer_headers, b"".join(chunks)
    finally:
        writer.close()


def _as_httpx_error(exc: BaseException, phase: str) -> httpx.HTTPError:
    """The httpx exception httpx would have raised for ``exc`` in ``phase`` (connect, write, read)."""
    text = str(exc) or type(exc).__name__
    error: httpx.HTTPError
    if isinstance(exc, TimeoutError):
        error = {"connect": httpx.ConnectTimeout, "write": httpx.WriteTimeout}.get(phase, httpx.ReadTimeout)(text)
    elif isinstance(exc, h11.ProtocolError):
        error = httpx.RemoteProtocolError(text)
    else:
        error = {"connect": httpx.ConnectError, "write": httpx.WriteError}.get(phase, httpx.ReadError)(text)
    error.__cause__ = exc
    return error


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def error_text(response: httpx.Response) -> str:
    """The message of an error response: JSON ``message``, ``messages[0]`` or ``error``, else the text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    message = error_message(data)
    if message:
        return message
    text = response.text.strip()
    return text[:500] if text else f"HTTP {response.status_code}"


class NodeClient:
    """Base of the per-node HTTP clients: one ``NodeHttp``, context management, ``close``.

    Subclasses set ``credential_kind`` (which account the node is asked to accept) and the
    default port and timeout of their service.
    """

    credential_kind: ClassVar[str] = "OS admin"
    default_port: ClassVar[int] = 443
    default_timeout: ClassVar[float] = 30.0

    def __init__(
        self,
        *,
        fqdn: str,
        address: str,
        port: int | None = None,
        username: str,
        password: SecretStr,
        verify: bool = True,
        ca_bundle: Path | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.fqdn = fqdn
        self._http = NodeHttp(
            fqdn=fqdn,
            address=address,
            port=self.default_port if port is None else port,
            username=username,
            password=password,
            verify=verify,
            ca_bundle=ca_bundle,
            timeout=self.default_timeout if timeout is None else timeout,
            transport=transport,
            credential_kind=self.credential_kind,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
