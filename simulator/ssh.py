"""SSH for every node: one acceptor thread multiplexes all listening sockets with ``selectors``;
each accepted connection gets a paramiko ``Transport`` (its own thread) and a session thread.

Authentication: keyboard-interactive (as CUCM) and password, with the OS admin credentials.
Only interactive shells are allowed: exec requests are refused, as on CUCM.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.common import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, OPEN_SUCCEEDED
from paramiko.server import InteractiveQuery

from simulator.cli import CliSession
from simulator.state import SimulatedNode

if TYPE_CHECKING:
    from simulator.options import FleetOptions


log = logging.getLogger(__name__)

TRANSPORT_LOG = "simulator.ssh.transport"
"""The logger of the simulated nodes' SSH transports (paramiko's server side), apart from a client's."""


class _HungUp(logging.Filter):
    """A client that hangs up with the node's last words unread resets the connection (its kernel's
    answer to a close with data pending): for a node that is the client leaving, not an error.
    paramiko logs it at ERROR as "Socket exception: Connection reset by peer"; here it is DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "Connection reset by peer" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger(TRANSPORT_LOG).addFilter(_HungUp())


def new_host_key() -> paramiko.PKey:
    """A fresh Ed25519 host key (fast enough for thousands of nodes)."""
    key = ed25519.Ed25519PrivateKey.generate()
    text = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return paramiko.Ed25519Key(file_obj=io.StringIO(text.decode()))


class _Server(paramiko.ServerInterface):
    def __init__(self, options: FleetOptions, refused: Callable[[str], None] = lambda username: None) -> None:
        self.options = options
        self.shell = threading.Event()
        self.height = options.pty_height
        self._user = ""
        self._refused = refused  # told of every refused password (the node's security log)

    def get_allowed_auths(self, username: str) -> str:
        return "keyboard-interactive,password"

    def _ok(self, username: str, password: str) -> int:
        if username == self.options.username and password == self.options.password:
            return AUTH_SUCCESSFUL
        self._refused(username)
        return AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        return self._ok(username, password)

    def check_auth_interactive(self, username: str, submethods: str) -> InteractiveQuery | int:
        self._user = username
        query = InteractiveQuery("", "")
        query.add_prompt("Password: ", False)
        return query

    def check_auth_interactive_response(self, responses: list[str]) -> int:
        if len(responses) != 1:
            return AUTH_FAILED
        return self._ok(self._user, responses[0])

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(
        self,
        channel: paramiko.Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        if height > 0:
            self.height = height
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.shell.set()
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        return False


class SshServer:
    """The SSH side of the fleet."""

    def __init__(self, options: FleetOptions) -> None:
        self.options = options
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._nodes: dict[str, SimulatedNode] = {}
        self._socks: dict[str, socket.socket] = {}
        self._keys: dict[str, paramiko.PKey] = {}
        self._requests: queue.Queue[tuple[SimulatedNode, threading.Event]] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._transports: set[paramiko.Transport] = set()
        self._lock = threading.Lock()

    def allocate(self, node: SimulatedNode) -> str:
        """Bind ``node``'s SSH port and make its host key; returns the key's ``type base64`` text."""
        sock = self._bind(0)
        node.ssh_port = sock.getsockname()[1]
        key = new_host_key()
        self._nodes[node.fqdn] = node
        self._keys[node.fqdn] = key
        self._socks[node.fqdn] = sock
        self._sel.register(sock, selectors.EVENT_READ, node)
        node.host_key_line = f"{key.get_name()} {key.get_base64()}"
        return node.host_key_line

    @staticmethod
    def _bind(port: int) -> socket.socket:
        # bound once per node and kept until the fleet stops; no SO_REUSEADDR for port 0 (see https.bind_socket)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        sock.setblocking(False)
        return sock

    def start(self) -> None:
        """Start the acceptor thread."""
        self._thread = threading.Thread(target=self._run, name="sim-ssh-acceptor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close every listener and every open session."""
        self._stopping.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
        with self._lock:
            transports = list(self._transports)
        for t in transports:
            t.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def reconcile(self, node: SimulatedNode, wait: bool = True) -> None:
        """Match ``node``'s SSH to its state (done by the acceptor thread): down drops its sessions."""
        if self._thread is None or not self._thread.is_alive() or self._stopping.is_set():
            return
        done = threading.Event()
        self._requests.put((node, done))
        try:
            self._wake_w.send(b"x")
        except OSError:  # stopping
            return
        if wait:
            done.wait(timeout=5)

    def _apply(self, node: SimulatedNode) -> None:
        """A node going down drops its open sessions; its listening socket stays (see ``_run``)."""
        if not node.ssh_up():
            with self._lock:
                transports = [t for t in self._transports if getattr(t, "sim_node", None) is node]
            for t in transports:
                t.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._sel.select(timeout=1.0):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    while not self._requests.empty():
                        node, done = self._requests.get()
                        try:
                            self._apply(node)
                        except Exception:  # keep accepting for every other node
                            log.exception("simulator: SSH listener change failed for %s", node.fqdn)
                        finally:
                            done.set()
                    continue
                node = key.data
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                if not node.ssh_up():
                    # Down (unreachable): the port is never given back, so a re-bind can never fail;
                    # the connection is reset before the SSH banner [INF, docs/simulator.md].
                    with contextlib.suppress(OSError):
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                    continue
                conn.setblocking(True)
                # as sshd does for an interactive session: the echo, the output and the prompt go
                # out at once, not held back by Nagle's algorithm for the client's delayed ACK
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(
                    target=self._session, args=(conn, node), name=f"sim-ssh-{node.hostname}", daemon=True
                ).start()

    def _session(self, conn: socket.socket, node: SimulatedNode) -> None:
        transport = paramiko.Transport(conn)
        transport.set_log_channel(TRANSPORT_LOG)
        transport.sim_node = node  # type: ignore[attr-defined]
        with self._lock:
            self._transports.add(transport)
        try:
            transport.add_server_key(self._keys[node.fqdn])
            server = _Server(
                self.options,
                refused=lambda username: node._event("ssh_login_refused", detail={"username": username}),
            )
            try:
                transport.start_server(server=server)
            except (paramiko.SSHException, EOFError, OSError):
                return
            chan = transport.accept(timeout=60)
            if chan is None:
                return
            # one event per authenticated session: how many logins a client spends is in the log
            node._event("ssh_login", detail={"username": transport.get_username()})
            if not server.shell.wait(timeout=30):
                chan.close()
                return
            try:
                CliSession(node, chan, height=server.height, drop=transport.close).run()
            except Exception:  # a bug or a stopping fleet: end this session, never the server
                log.exception("simulator: CLI session on %s ended with an error", node.fqdn)
            with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
                chan.close()  # the client may have hung up first
        finally:
            transport.close()
            with self._lock:
                self._transports.discard(transport)
