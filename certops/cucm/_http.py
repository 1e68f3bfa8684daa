"""One HTTPS seam for every CUCM HTTP client (certmgr REST and the SOAP services).

Connects to ``address:port`` but verifies the node's certificate against its **FQDN** (TLS SNI
and hostname check via httpx's ``sni_hostname`` extension, plus the ``Host`` header), with the
configured CA bundle. Translates httpx/ssl failures into certops errors once, here, and logs one
INFO line per request (method, node, path, status, milliseconds) — never the auth header.
"""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
from pydantic import SecretStr

from certops.cucm.certmgr_shapes import error_message
from certops.errors import CucmAuthError, CucmConnectionError, CucmError, CucmTrustError

log = logging.getLogger("certops.cucm.http")


def build_ssl_context(*, verify: bool, ca_bundle: Path | None, node: str) -> ssl.SSLContext:
    """The TLS context for talking to ``node``: verifying against ``ca_bundle`` (or the system store).

    ``verify=False`` is honoured only because the operator configured it, and is logged loudly.
    """
    if not verify:
        log.warning(
            "TLS VERIFICATION IS OFF for %s (tls.verify: false in the inventory): "
            "certops cannot tell this node from an impostor. Turn it back on with a ca_bundle.",
            node,
        )
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    except (OSError, ssl.SSLError) as exc:
        from certops.errors import ConfigError

        raise ConfigError(
            f"cannot read the CA bundle {ca_bundle} for {node}: {exc}",
            hint="point tls.ca_bundle at a PEM file holding the CA that signed the nodes' tomcat certificates",
        ) from exc


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
        if response.status_code == 401:
            raise CucmAuthError(
                f"the node refused the {self.credential_kind} credentials of user {self.username!r} (HTTP 401)",
                node=self.fqdn,
                operation=operation,
                unit=unit,
                hint=f"check the {self.credential_kind} username and password in the inventory's environment "
                "variable; certops does not retry, so the account is not locked out",
            )
        if response.status_code == 403:
            raise CucmAuthError(
                f"user {self.username!r} is not allowed to do this (HTTP 403)",
                node=self.fqdn,
                operation=operation,
                unit=unit,
                hint="give the account the needed privilege (certmgr writes need privilege 1; SOAP needs the "
                "Serviceability/AXL roles)",
            )
        return response

    def _translate(self, exc: httpx.HTTPError, operation: str, unit: str | None) -> CucmError:
        where = f"{self.address}:{self.port}"
        if is_tls_verification_failure(exc):
            return CucmTrustError(
                f"the node's TLS certificate could not be verified for {self.fqdn} at {where}: {_short(exc)}",
                node=self.fqdn,
                operation=operation,
                unit=unit,
                hint="set tls.ca_bundle to the CA that signed this node's tomcat certificate, or check that "
                "the node's certificate names this FQDN",
            )
        if isinstance(exc, httpx.TimeoutException):
            return CucmConnectionError(
                f"timed out talking to {where} ({type(exc).__name__})",
                node=self.fqdn,
                operation=operation,
                unit=unit,
                hint="check that the node is up and reachable; certops retries read-only steps",
            )
        if isinstance(exc, httpx.TransportError):
            return CucmConnectionError(
                f"cannot reach {where}: {_short(exc)}",
                node=self.fqdn,
                operation=operation,
                unit=unit,
                hint="check the node's address and port in the inventory and that the node is up",
            )
        return CucmConnectionError(
            f"HTTP failure talking to {where}: {_short(exc)}", node=self.fqdn, operation=operation, unit=unit
        )


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
