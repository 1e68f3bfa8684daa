"""One HTTPS seam for every CUCM HTTP client (certmgr REST and the SOAP services).

Connects to ``address:port`` but verifies the node's certificate against its **FQDN** (TLS SNI
and hostname check via httpx's ``sni_hostname`` extension, plus the ``Host`` header), with the
configured CA bundle. Translates httpx/ssl failures into certops errors once, here, and logs one
INFO line per request (method, node, path, status, milliseconds) — never the auth header.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import functools
import json
import logging
import re
import ssl
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from pydantic import SecretStr

from certops.cucm.certmgr_shapes import error_message
from certops.cucm.keepalive import CLIENTS, ClientKey, client_key
from certops.errors import CucmAuthError, CucmConnectionError, CucmError, CucmTrustError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("certops.cucm.http")


class HttpAnswer(Protocol):
    """What the readers of an answer use of it: ``httpx.Response`` and ``FleetAnswer`` both have it."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


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
        import httpx  # here, not at the top: the fleet scan (FleetHttp) does without it

        host = f"[{address}]" if ":" in address else address
        self.base_url = f"https://{host}:{port}"
        self._host_header = fqdn if port == 443 else f"{fqdn}:{port}"
        kwargs: dict[str, Any] = {}
        self._closed = False
        self._key: ClientKey | None = None  # kept between steps (certops.cucm.keepalive), unless a transport is given
        if transport is not None:
            kwargs["transport"] = transport
        else:
            context = build_ssl_context(verify=verify, ca_bundle=ca_bundle, node=fqdn)
            kwargs["verify"] = context
            self._key = client_key(
                base_url=self.base_url,
                fqdn=fqdn,
                username=username,
                secret=password.get_secret_value(),
                context_id=id(context),  # one context per CA bundle version, alive while a client holds it
                timeout=timeout,
            )
            kept = CLIENTS.take(self._key)
            if kept is not None:
                self._client = kept
                return
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, password.get_secret_value()),
            timeout=timeout,
            headers={"Host": self._host_header},
            limits=httpx.Limits(keepalive_expiry=CLIENTS.keepalive_expiry),
            **kwargs,
        )
        if self._key is not None:
            CLIENTS.made_one(self._key)

    def close(self) -> None:
        """Close the connection pool, or keep it for the next step inside ``reuse_connections``.

        ``NodeClient`` owns the context management; a second close does nothing.
        """
        if self._closed:
            return
        self._closed = True
        if self._key is not None and CLIENTS.give(self._key, self._client):
            return
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
        import httpx

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
    response: HttpAnswer, *, username: str, credential_kind: str, node: str, operation: str, unit: str | None
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
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.TransportError):
        kind = "transport"
    else:
        kind = "other"
    return _transport_failure(
        kind,
        type(exc).__name__,
        _short(exc),
        tls=is_tls_verification_failure(exc),
        fqdn=fqdn,
        address=address,
        port=port,
        operation=operation,
        unit=unit,
    )


def _transport_failure(
    kind: str,
    name: str,
    text: str,
    *,
    tls: bool,
    fqdn: str,
    address: str,
    port: int,
    operation: str,
    unit: str | None,
) -> CucmError:
    """``translate_error``'s error for a failure of ``kind`` (timeout, transport, other), httpx's ``name``, ``text``."""
    where = f"{address}:{port}"
    if tls:
        return CucmTrustError(
            f"the node's TLS certificate could not be verified for {fqdn} at {where}: {text}",
            node=fqdn,
            operation=operation,
            unit=unit,
            hint="set tls.ca_bundle to the CA that signed this node's tomcat certificate, or check that "
            "the node's certificate names this FQDN",
        )
    if kind == "timeout":
        return CucmConnectionError(
            f"timed out talking to {where} ({name})",
            node=fqdn,
            operation=operation,
            unit=unit,
            hint="check that the node is up and reachable; certops retries read-only steps",
        )
    if kind == "transport":
        return CucmConnectionError(
            f"cannot reach {where}: {text}",
            node=fqdn,
            operation=operation,
            unit=unit,
            hint="check the node's address and port in the inventory and that the node is up",
        )
    return CucmConnectionError(f"HTTP failure talking to {where}: {text}", node=fqdn, operation=operation, unit=unit)


class FleetAnswer:
    """One node's answer as ``FleetHttp`` read it: what the certmgr readers use of an ``httpx.Response``.

    ``status_code``, the ``headers`` as received and the body (``content``); ``json()`` parses the
    body as ``httpx.Response.json`` does (``json.loads`` of the bytes). ``text``, read only for an
    error's paragraph, is decoded by an ``httpx.Response`` built then, so it reads as before.
    """

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not JSON."""
        return json.loads(self.content)

    @property
    def text(self) -> str:
        """The body as text, decoded as httpx decodes it (the Content-Type's charset, else UTF-8)."""
        import httpx

        return httpx.Response(self.status_code, headers=self.headers, content=self.content).text


class FleetHttp:
    """HTTPS for reading many nodes at once (the fleet scan) on one event loop: shared TLS, one connection a request.

    Each request opens its own TLS connection to ``address:port`` with the node's FQDN as SNI
    and ``Host``, verified for that FQDN with ``build_ssl_context``'s shared context (the CA
    bundle is read once, not once a node), sends one HTTP/1.1 request and reads the answer,
    then closes: no connection made for one node ever carries another's request. A scan sends
    one request a node, so a pool would gain nothing and httpx's machinery per request cost
    more than the TLS handshake. The answer is read by ``_read_answer``: the common shape of an
    answer (status line, headers, a Content-Length, chunked or read-to-the-end body) directly,
    anything else by ``h11`` (the HTTP/1.1 parser under httpx) from the same bytes, so an odd
    answer is read, or refused, as h11 does. Answers come back as ``FleetAnswer`` (an
    ``httpx.Response`` when the body has a Content-Encoding, which httpx decodes) and failures as
    the same certops errors, with the same messages, as ``NodeHttp``'s.
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
    ) -> HttpAnswer:
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
        except (OSError, TimeoutError, _ProtocolFailure) as exc:
            ms = (time.monotonic() - started) * 1000
            kind, name = _failure_kind(exc, phase[0])
            log.info("%s %s %s -> %s (%.0f ms)", method, fqdn, path, name, ms)
            raise _transport_failure(
                kind,
                name,
                _short(exc),
                tls=is_tls_verification_failure(exc),
                fqdn=fqdn,
                address=address,
                port=port,
                operation=operation,
                unit=unit,
            ) from exc
        ms = (time.monotonic() - started) * 1000
        log.info("%s %s %s -> %d (%.0f ms)", method, fqdn, path, status, ms)
        response: HttpAnswer
        if any(name.lower() == b"content-encoding" for name, _ in answer_headers):
            import httpx  # a compressed body: httpx decodes it, as before

            response = httpx.Response(status, headers=answer_headers, content=body)
        else:
            response = FleetAnswer(status, answer_headers, body)
        refusal = auth_refusal(
            response, username=username, credential_kind=credential_kind, node=fqdn, operation=operation, unit=unit
        )
        if refusal is not None:
            raise refusal
        return response


class _ProtocolFailure(Exception):
    """An answer that is no HTTP/1.1 (h11's ``ProtocolError``, or no answer at all): httpx's RemoteProtocolError."""


def _failure_kind(exc: BaseException, phase: str) -> tuple[str, str]:
    """(kind, name) of the httpx exception httpx would have raised for ``exc`` in ``phase`` (connect, write, read)."""
    if isinstance(exc, TimeoutError):
        return "timeout", {"connect": "ConnectTimeout", "write": "WriteTimeout"}.get(phase, "ReadTimeout")
    if isinstance(exc, _ProtocolFailure):
        return "transport", "RemoteProtocolError"
    return "transport", {"connect": "ConnectError", "write": "WriteError"}.get(phase, "ReadError")


# h11's grammar (h11/_abnf.py), for the answers read without it: what matches is read as h11 reads it.
_FIELD_VCHAR = rb"[^\x00\s]"
_FIELD_VALUE = rb"(?:%s+(?:[ \t]+%s+)*)?" % (_FIELD_VCHAR, _FIELD_VCHAR)
_HEADER_FIELD = re.compile(rb"([-!#$%%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*(%s)[ \t]*" % _FIELD_VALUE)
_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([0-9]{3})(?: (?:[ \t]|%s)*)?" % _FIELD_VCHAR)
_REQUEST_VALUE = re.compile(_FIELD_VALUE)
_METHOD = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_TARGET = re.compile(r"[\x21-\x7e]+")
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_MAX_HEAD = 16 * 1024  # h11's max_incomplete_event_size


def _request_bytes(method: str, path: str, headers: list[tuple[str, str]]) -> bytes | None:
    """The request as h11 writes it, or ``None`` when a value is one h11 refuses (h11 then says why)."""
    if _METHOD.fullmatch(method) is None or _TARGET.fullmatch(path) is None:
        return None
    lines = [f"{method} {path} HTTP/1.1"]
    for name, value in headers:
        if not value.isascii() or _REQUEST_VALUE.fullmatch(value.encode("ascii")) is None:
            return None
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


class _Read(enum.Enum):
    """Why ``_read_answer`` gives no answer yet: more bytes are needed, or h11 must read these."""

    MORE = "more"
    H11 = "h11"


class _Head:
    """The parsed head of an answer in the common shape: status, headers and how the body is framed."""

    __slots__ = ("end", "headers", "length", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], end: int, length: int | None) -> None:
        self.status, self.headers, self.end = status, headers, end
        self.length = length  # Content-Length; -1 chunked; None read to the end


def _parse_head(buf: bytearray) -> _Head | _Read:
    """The head at the start of ``buf`` when it is complete and in the common shape."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return _Read.MORE if len(buf) <= _MAX_HEAD else _Read.H11
    if end + 4 > _MAX_HEAD:
        return _Read.H11
    lines = bytes(buf[:end]).split(b"\r\n")
    status_line = _STATUS_LINE.fullmatch(lines[0])
    if status_line is None:
        return _Read.H11
    status = int(status_line.group(1))
    if status < 200 or status in (204, 304):  # informational, or a status without a body: h11's rules
        return _Read.H11
    headers: list[tuple[bytes, bytes]] = []
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        field = _HEADER_FIELD.fullmatch(line)
        if field is None:  # also a folded line, or a lone CR or LF
            return _Read.H11
        name, value = field.group(1), field.group(2)
        lower = name.lower()
        if lower == b"content-length":
            if length is not None or _CONTENT_LENGTH.fullmatch(value) is None:
                return _Read.H11
            length = int(value)
        elif lower == b"transfer-encoding":
            value = value.lower()
            if chunked or value != b"chunked":
                return _Read.H11
            chunked = True
        headers.append((lower, value))  # as h11 gives them: names in lower case
    if chunked:
        if length is not None:
            return _Read.H11
        length = -1
    return _Head(status, headers, end + 4, length)


def _chunked_body(buf: bytearray, pos: int) -> bytes | _Read:
    """The chunked body from ``pos`` when it is complete and plain (no chunk extensions, no trailers)."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return _Read.MORE if len(buf) - pos <= 64 else _Read.H11
        size_text = bytes(buf[pos:eol])
        if _CHUNK_SIZE.fullmatch(size_text) is None:
            return _Read.H11
        size = int(size_text, 16)
        start = eol + 2
        if size == 0:
            if len(buf) < start + 2:
                return _Read.MORE
            return b"".join(parts) if buf[start : start + 2] == b"\r\n" else _Read.H11
        if len(buf) < start + size + 2:
            return _Read.MORE
        if buf[start + size : start + size + 2] != b"\r\n":
            return _Read.H11
        parts.append(bytes(buf[start : start + size]))
        pos = start + size + 2


def _read_answer(buf: bytearray, eof: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes] | _Read:
    """The answer in ``buf`` (everything received; ``eof``: the node closed) when complete and in the common shape.

    ``_Read.MORE`` when more bytes can complete it; ``_Read.H11`` when h11 must read it: not in the
    common shape, or incomplete at the end of the stream (h11 then says what is missing).
    """
    head = _parse_head(buf)
    if isinstance(head, _Read):
        return _Read.H11 if eof else head
    if head.length is None:  # no Content-Length, not chunked: the body runs to the end
        return (head.status, head.headers, bytes(buf[head.end :])) if eof else _Read.MORE
    if head.length >= 0:
        if len(buf) >= head.end + head.length:
            return head.status, head.headers, bytes(buf[head.end : head.end + head.length])
        return _Read.H11 if eof else _Read.MORE
    body = _chunked_body(buf, head.end)
    if isinstance(body, _Read):
        return _Read.H11 if eof else body
    return head.status, head.headers, body


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
        request = _request_bytes(method, path, headers)
        if request is None:
            return await _exchange_by_h11(reader, writer, method, path, headers, bytearray(), False, phase)
        writer.write(request)
        await writer.drain()
        phase[0] = "read"
        return await _receive(reader, writer, method, path, headers, phase)
    finally:
        writer.close()


async def _receive(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    phase: list[str],
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The answer to the request sent: (status, headers, body), read directly or, when it is odd, by h11."""
    buf = bytearray()
    while True:
        data = await reader.read(65536)
        eof = not data
        buf += data
        answer = _read_answer(buf, eof)
        if answer is _Read.H11:
            return await _exchange_by_h11(reader, writer, method, path, headers, buf, eof, phase)
        if answer is not _Read.MORE:
            assert isinstance(answer, tuple)
            return answer


async def _exchange_by_h11(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    received: bytearray,
    eof: bool,
    phase: list[str],
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The exchange by h11: the request (when not sent yet), then the answer from the bytes ``received`` so far."""
    import h11

    try:
        conn = h11.Connection(h11.CLIENT)
        request = conn.send(h11.Request(method=method, target=path, headers=headers)) + conn.send(h11.EndOfMessage())
        if phase[0] == "write":
            writer.write(request)
            await writer.drain()
            phase[0] = "read"
        if received:
            conn.receive_data(bytes(received))
        if eof:
            conn.receive_data(b"")
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
    except h11.ProtocolError as exc:
        raise _ProtocolFailure(str(exc) or type(exc).__name__) from exc
    if not status:
        raise _ProtocolFailure("the node closed the connection without an answer")
    return status, answer_headers, b"".join(chunks)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def error_text(response: HttpAnswer) -> str:
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
