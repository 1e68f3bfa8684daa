"""What the nodes answered, kept for the shape checks and the capture: :class:`Recorder`.

HTTP goes through :class:`RecordingTransport` (an httpx transport around the normal one, so the
existing REST and SOAP clients run unchanged); CLI answers are added by the checks. Nothing
here writes to disk; request headers (the Authorization header) are never kept.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Exchange:
    """One question to a node and its answer."""

    node: str
    interface: str  # certmgr | controlcenter | risport | axl | cli | tls
    request: str  # e.g. "GET /platformcom/api/v1/certmgr/config/snapshot/server", "show version active"
    status: int | None  # HTTP status; None for the CLI
    body: str
    content_type: str = ""


def interface_of(path: str) -> str:
    """The interface a request path belongs to."""
    if "/certmgr/" in path:
        return "certmgr"
    if "ControlCenterServices" in path:
        return "controlcenter"
    if "RISService70" in path:
        return "risport"
    if path.startswith("/axl"):
        return "axl"
    return "http"


class Recorder:
    """Every exchange of one doctor run, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []

    def add(self, exchange: Exchange) -> None:
        """Keep one exchange."""
        with self._lock:
            self.exchanges.append(exchange)

    def for_node(self, node: str, interface: str | None = None) -> list[Exchange]:
        """The exchanges with ``node`` (of ``interface``)."""
        with self._lock:
            return [e for e in self.exchanges if e.node == node and (interface is None or e.interface == interface)]


class RecordingTransport(httpx.BaseTransport):
    """An httpx transport that sends through the normal TLS transport and records each answer."""

    def __init__(self, *, node: str, ssl_context: ssl.SSLContext, recorder: Recorder) -> None:
        self._inner = httpx.HTTPTransport(verify=ssl_context)
        self.node = node
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; record method, path, SOAPAction, status and body (never headers)."""
        response = self._inner.handle_request(request)
        response.read()
        path = request.url.path
        action = request.headers.get("SOAPAction", "").strip('"')
        query = f"?{request.url.query.decode()}" if request.url.query else ""
        label = f"{request.method} {path}{query}" + (f" [{action}]" if action else "")
        self.recorder.add(
            Exchange(
                node=self.node,
                interface=interface_of(path),
                request=label,
                status=response.status_code,
                body=response.content.decode("utf-8", "replace"),
                content_type=response.headers.get("content-type", ""),
            )
        )
        return response

    def close(self) -> None:
        """Close the inner transport."""
        self._inner.close()
