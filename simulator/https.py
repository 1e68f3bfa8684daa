"""HTTPS for every node (certmgr REST and SOAP on ``https_port`` and ``soap_port``), TLS listeners
serving CallManager/TVS/CAPF certificates, and the plain-HTTP admin endpoint.

One asyncio loop and one aiohttp ``AppRunner`` serve every node: each node's listening sockets
are ``loop.create_server`` servers sharing the runner's protocol factory, and a request finds its
node by the local port it arrived on. Each listener has its own small SSLContext whose
``sni_callback`` switches to the node's *served* certificate at every handshake, so a restart
that changes the served certificate only swaps a context.

Every listening socket is bound once, when the fleet starts, and kept for the node's whole life:
a simulated restart never gives its port back (re-binding it could fail on a busy machine, and
the node's HTTPS would stay down for good). While a listener must be down (node unreachable,
Tomcat restarting, the service stopped), a new connection is accepted and reset at once (RST,
before any TLS byte) and the open ones are aborted; the TLS handshake starts only on a listener
that is up [INF, docs/simulator.md].
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import functools
import json
import logging
import socket
import ssl
import struct
from asyncio import sslproto
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator import certmgr, pki, replay, soap
from simulator.state import Identity, SimulatedNode

if TYPE_CHECKING:
    from simulator.fleet import SimulatedFleet


log = logging.getLogger(__name__)


def bind_socket() -> socket.socket:
    """A listening-ready TCP socket bound to a free port of 127.0.0.1.

    No SO_REUSEADDR: Linux may give two bound-but-not-listening SO_REUSEADDR sockets the same
    ephemeral port, and the second listen() then fails. Nothing ever re-binds a port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


@dataclass(eq=False)
class Listener:
    """One TLS listening port of one node."""

    node: SimulatedNode
    kind: str  # "https", "soap" or a unit served by a service (CallManager, TVS, CAPF)
    port: int
    sock: socket.socket  # bound once, listening from start() until the fleet stops
    server: asyncio.AbstractServer | None = None
    up: bool = False  # False: new connections are reset before the TLS handshake
    transports: set[asyncio.Transport] = field(default_factory=set)
    resets: int = 0  # connections reset because the listener was down
    accepted: int = 0  # connections accepted while up (each one a TLS handshake): what clients made
    context: ssl.SSLContext | None = None  # made at the first connection (HttpFrontend.listener_context)

    def track(self, transport: asyncio.Transport) -> None:
        """Remember an open connection (pruning closed ones) so it can be aborted when the listener goes down."""
        if len(self.transports) > 32:
            self.transports = {t for t in self.transports if not t.is_closing()}
        self.transports.add(transport)

    @property
    def unit(self) -> str:
        """The unit whose served certificate this listener presents."""
        return "tomcat" if self.kind in ("https", "soap") else self.kind

    def should_be_up(self) -> bool:
        """Whether the node's state says this listener accepts connections."""
        if self.kind in ("https", "soap"):
            return self.node.https_up()
        return self.node.service_tls_up(self.kind)


def reset_connection(transport: asyncio.Transport) -> None:
    """Close a TCP connection with RST (SO_LINGER 0): the client sees "connection reset", no TLS byte."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already gone
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Gate(asyncio.Protocol):
    """The first protocol of every accepted TCP connection: reset it when the listener is down;
    otherwise put asyncio's TLS protocol (with the listener's SNI-switching context) in its place,
    which calls the application protocol's ``connection_made`` once the handshake is done."""

    def __init__(self, frontend: HttpFrontend, listener: Listener, inner: Callable[[], asyncio.BaseProtocol]) -> None:
        self.frontend = frontend
        self.listener = listener
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        listener = self.listener
        if not listener.up:
            listener.resets += 1
            reset_connection(transport)
            return
        listener.accepted += 1
        listener.track(transport)
        tls = sslproto.SSLProtocol(
            asyncio.get_running_loop(),
            self.inner(),
            self.frontend.listener_context(listener),
            None,  # type: ignore[arg-type]  # no waiter: asyncio's own servers pass one, it is optional
            server_side=True,
            ssl_handshake_timeout=30,
        )
        transport.set_protocol(tls)
        tls.connection_made(transport)

    def data_received(self, data: bytes) -> None:  # never called: the TLS protocol reads from the start
        pass


class _IdleTls(asyncio.Protocol):
    """A TLS service port (SIP TLS, TVS, CAPF): completes the handshake, then waits for the client to leave."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._timer = asyncio.get_running_loop().call_later(30, transport.close)

    def data_received(self, data: bytes) -> None:
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()
        self.transport = None  # type: ignore[assignment]


class HttpFrontend:
    """All HTTPS/TLS listeners of the fleet and the admin endpoint, on the fleet's event loop."""

    def __init__(self, fleet: SimulatedFleet, tls_dir: Path) -> None:
        self.fleet = fleet
        self.tls_dir = tls_dir
        self.listeners: dict[tuple[str, str], Listener] = {}
        self.by_port: dict[int, Listener] = {}
        self._contexts: dict[tuple[str, str], tuple[Identity, ssl.SSLContext]] = {}
        self._key_pems: dict[int, tuple[pki.PrivateKey, str]] = {}
        self._by_node: dict[str, list[Listener]] = {}
        self._set_lock: asyncio.Lock | None = None
        self.runner: web.AppRunner | None = None
        self.admin_runner: web.AppRunner | None = None
        self.admin_port = 0
        self.certmgr_requests: collections.Counter[tuple[str, str, str]] = collections.Counter()
        """Certificate-management REST requests each node answered: ``(fqdn, method, path under the API)``."""

    # ----- set-up -------------------------------------------------------------------------------
    def allocate(self, node: SimulatedNode, kinds: list[str]) -> None:
        """Bind sockets for ``node``'s listeners (before the loop starts serving)."""
        for kind in kinds:
            sock = bind_socket()
            port = sock.getsockname()[1]
            listener = Listener(node=node, kind=kind, port=port, sock=sock)
            self.listeners[(node.fqdn, kind)] = listener
            self._by_node.setdefault(node.fqdn, []).append(listener)
            self.by_port[port] = listener
            if kind == "https":
                node.https_port = port
            elif kind == "soap":
                node.soap_port = port
            else:
                node.service_tls_ports[kind] = port

    async def start(self) -> None:
        """Start the aiohttp runner, every listener that should be up, and the admin endpoint."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        for listener in self.listeners.values():
            await self._set(listener, listener.should_be_up())
        admin = web.Application()
        admin.router.add_get("/admin/events", self._admin_events)
        admin.router.add_get("/admin/state", self._admin_state)
        admin.router.add_post("/admin/faults", self._admin_set_faults)
        admin.router.add_delete("/admin/faults", self._admin_clear_faults)
        self.admin_runner = web.AppRunner(admin, handle_signals=False, access_log=None)
        await self.admin_runner.setup()
        sock = bind_socket()
        self.admin_port = sock.getsockname()[1]
        await web.SockSite(self.admin_runner, sock).start()

    async def stop(self) -> None:
        """Close every listener (the only place a listening socket is closed) and the runners."""
        for listener in self.listeners.values():
            if listener.server is not None:
                await self._set(listener, False)
                listener.server.close()
                listener.server = None
            listener.sock.close()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.admin_runner is not None:
            await self.admin_runner.cleanup()

    # ----- listeners ----------------------------------------------------------------------------
    def listener_context(self, listener: Listener) -> ssl.SSLContext:
        """The listener's SSLContext, made at its first connection (4,800 made at start cost seconds)."""
        if listener.context is None:
            listener.context = self._base_context(listener)
        return listener.context

    def _base_context(self, listener: Listener) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

        def pick(obj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            obj.context = self.served_context(listener.node, listener.unit)

        ctx.sni_callback = pick
        return ctx

    def served_context(self, node: SimulatedNode, unit: str) -> ssl.SSLContext:
        """An SSLContext presenting ``node``'s served certificate for ``unit`` (cached until it changes)."""
        ident = node.served(unit)
        key = (node.fqdn, unit)
        cached = self._contexts.get(key)
        if cached is not None and cached[0] is ident:
            return cached[1]
        if ident.key is None:
            raise ssl.SSLError(f"no private key for the served {unit} certificate of {node.fqdn}")
        path = self.tls_dir / f"{node.fqdn}-{unit}-{ident.cert.serial_number:x}.pem"
        known = self._key_pems.get(id(ident.key))
        if known is None:  # the dict keeps the key alive, so its id is not reused
            known = self._key_pems[id(ident.key)] = (ident.key, pki.key_pem(ident.key).decode())
        pem = ident.pem + "".join(pki.cert_pem(c) for c in ident.chain) + known[1]
        path.write_text(pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(path))
        self._contexts[key] = (ident, ctx)
        return ctx

    async def _set(self, listener: Listener, up: bool) -> None:
        if self._set_lock is None:
            self._set_lock = asyncio.Lock()
        async with self._set_lock:  # listener changes one at a time
            await self._set_locked(listener, up)

    async def _set_locked(self, listener: Listener, up: bool) -> None:
        if listener.server is None:  # the first call: serve the socket bound at allocate() for good
            if listener.kind in ("https", "soap"):
                inner: Callable[[], asyncio.BaseProtocol] = self._http_factory(listener)
            else:
                inner = self._idle_factory()
            listener.server = await asyncio.get_running_loop().create_server(
                functools.partial(_Gate, self, listener, inner), sock=listener.sock, backlog=256
            )
        if up == listener.up:
            return
        listener.up = up
        if not up:
            transports, listener.transports = list(listener.transports), set()
            for transport in transports:
                if not transport.is_closing():
                    reset_connection(transport)

    def _http_factory(self, listener: Listener) -> Callable[[], asyncio.BaseProtocol]:
        assert self.runner is not None and self.runner.server is not None
        server = self.runner.server

        def factory() -> asyncio.BaseProtocol:
            return server()

        return factory

    @staticmethod
    def _idle_factory() -> Callable[[], asyncio.BaseProtocol]:
        return _IdleTls

    async def reconcile(self, node: SimulatedNode) -> None:
        """Open or close ``node``'s listeners to match its state."""
        for listener in self._by_node.get(node.fqdn, []):
            await self._set(listener, listener.should_be_up())

    # ----- requests -----------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        port = transport.get_extra_info("sockname")[1] if transport is not None else 0
        listener = self.by_port.get(port)
        if listener is None:
            return web.Response(status=404)
        node = listener.node
        delay = self.fleet.options.latency + node.faults.latency
        if delay > 0:
            await asyncio.sleep(delay)
        path = request.path
        if path.startswith(certmgr.BASE):
            return await self._certmgr(node, request, path[len(certmgr.BASE) :])
        soap_route: dict[str, Callable[[SimulatedNode, bytes, str], tuple[int, str]]] = {
            soap.CONTROL_CENTER_PATH: soap.control_center,
            soap.RIS_PATH: soap.ris,
        }
        handler = soap_route.get(path.rstrip("/"))
        if handler is None and path.rstrip("/") == soap.AXL_PATH.rstrip("/"):
            if not node.is_publisher:
                return web.Response(status=404, text="AXL is served by the publisher only")
            handler = soap.axl
        if handler is None and path in soap.AXL_DOCUMENT_PATHS and node.is_publisher:
            handler = soap.axl  # GET /axl/AXLSoap.xsd: the schema AXLAPI.wsdl imports
        if handler is None:
            return web.Response(status=404, text=f"Not found: {path}")
        if handler is soap.ris and node.role == "imp":
            return web.Response(status=404, text="RisPort70 is not served on IM&P nodes")
        if not self._auth(request, self.fleet.options.app_username, self.fleet.options.app_password):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="Cisco Serviceability"'})
        if handler is soap.axl and request.method == "GET":
            doc = soap.axl_get(node, path, request.query.keys(), port)  # /axl/?wsdl, /axl/AXLSoap.xsd
            if doc is not None:
                return web.Response(status=doc[0], text=doc[2], content_type=doc[1], charset="utf-8")
        if request.method == "GET":
            served = soap.wsdl(node, path, port) if "wsdl" in {k.lower() for k in request.query} else None
            if served is not None:  # <endpoint>?wsdl: Cisco's WSDL with this node's address
                return web.Response(status=served[0], text=served[1], content_type="text/xml", charset="utf-8")
            return web.Response(text="<h1>Hi there, this is an AXIS service!</h1>", content_type="text/html")
        if request.method != "POST":
            return web.Response(status=405)
        raw = await request.read()
        action = request.headers.get("SOAPAction", "").strip()
        if handler is not soap.axl:
            action = action.strip('"')
        status, text = handler(node, raw, action)
        content_type = "text/html" if status == 599 else "text/xml"  # AXL's "Incorrect axl version" page
        return web.Response(status=status, text=text, content_type=content_type, charset="utf-8")

    @staticmethod
    def _auth(request: web.Request, username: str, password: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == username and pw == password

    async def _certmgr(self, node: SimulatedNode, request: web.Request, sub: str) -> web.StreamResponse:
        opts = self.fleet.options
        if node.cluster.version_tuple < (14, 0):
            return web.Response(status=404, text="Not Found")
        if not self._auth(request, opts.username, opts.password):
            return web.json_response(
                {"message": "Unauthorized: the CMPlatform realm rejected the credentials"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="CMPlatform"'},
            )
        if node.cluster.platform_locked:
            node._event("platform_locked", detail={"path": sub, "method": request.method})
            return web.json_response({"message": certmgr.MSG_LOCKED, "messages": [certmgr.MSG_LOCKED]}, status=423)
        body: Any = None
        if request.method in ("POST", "PUT"):
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return web.json_response({"message": "request body is not JSON"}, status=400)
        service = request.query.get("service")
        route = (request.method, sub.rstrip("/"))
        self.certmgr_requests[(node.fqdn, *route)] += 1
        if request.method == "GET":  # a twin's captured answer, while its state is as captured
            label = f"GET {request.path}" + (f"?{request.query_string}" if request.query_string else "")
            captured = replay.lookup(node, "certmgr", label)
            if captured is not None:
                headers = {"Content-Type": captured.content_type or "application/json"}
                return web.Response(status=captured.status or 200, body=captured.body.encode(), headers=headers)
        reply: certmgr.Reply
        if route == ("GET", "/snapshot/server"):
            reply = certmgr.snapshot(node)
        elif route == ("GET", "/options"):
            reply = certmgr.options(node)
        elif route == ("GET", "/csr"):
            reply = certmgr.get_csr(node, service)
        elif route == ("POST", "/csr"):
            err, req = certmgr.validate_csr_request(node, body)
            if err is not None:
                reply = err
            else:
                pending = await asyncio.get_running_loop().run_in_executor(None, certmgr.make_pending_csr, node, req)
                reply = certmgr.csr_created(node, pending)
        elif route == ("POST", "/trust/certificates"):
            reply = certmgr.upload_trust(node, body)
        elif route == ("GET", "/trust/certificate"):
            reply = certmgr.get_trust(node, service)
        elif route == ("POST", "/identity/certificates"):
            reply = certmgr.upload_identity(node, body)
        elif route == ("GET", "/identity/certificate"):
            reply = certmgr.get_identity(node, service)
        else:
            reply = 404, {"message": f"No such certmgr resource: {request.method} {sub}"}
        return web.json_response(reply[1], status=reply[0])

    # ----- admin --------------------------------------------------------------------------------
    async def _admin_events(self, request: web.Request) -> web.Response:
        events = self.fleet.events()
        since = int(request.query.get("since", "0") or 0)
        return web.json_response(events[since:])

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.fleet.state_summary())

    async def _admin_set_faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"message": "body must be JSON: a fault object or a list of them"}, status=400)
        specs = body if isinstance(body, list) else [body]
        loop = asyncio.get_running_loop()
        try:
            for spec in specs:
                await loop.run_in_executor(None, functools.partial(self.fleet.set_fault, **spec))
        except (TypeError, ValueError, KeyError) as exc:
            return web.json_response({"message": str(exc)}, status=400)
        return web.json_response({"applied": len(specs)})

    async def _admin_clear_faults(self, request: web.Request) -> web.Response:
        await asyncio.get_running_loop().run_in_executor(None, self.fleet.clear_faults)
        return web.json_response({"cleared": True})


Coroutine = Callable[[], Awaitable[None]]
