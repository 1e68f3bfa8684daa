"""SSH transport to a CUCM node: connect, check the host key, authenticate (cucm-interfaces.md §5.1).

CUCM's SSH uses keyboard-interactive authentication and has no exec channel; certops opens an
interactive shell (``certops.cucm.shell``). The host key is checked against a known_hosts file
(under ``[address]:port``, or ``address`` on port 22, falling back to the FQDN); an unknown or
changed key is a ``CucmTrustError`` that says how to add it — unless the operator turned
checking off, which is logged as a loud warning. paramiko errors are translated here, once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path

import paramiko
from pydantic import SecretStr

from certops.errors import CucmAuthError, CucmConnectionError, CucmTrustError

log = logging.getLogger("certops.cucm.ssh")

# paramiko's own log of our transports: it logs a peer's normal hang-up ("Socket exception:
# Connection reset by peer") and a failed banner read with a traceback at ERROR, from its reader
# thread, while the same failure reaches certops as an exception that becomes one paragraph. So
# it is quiet unless $CERTOPS_SSH_DEBUG is set (then everything paramiko says is logged).
PARAMIKO_LOG_CHANNEL = "certops.cucm.ssh.paramiko"
_paramiko_log = logging.getLogger(PARAMIKO_LOG_CHANNEL)
if not os.environ.get("CERTOPS_SSH_DEBUG"):
    _paramiko_log.setLevel(logging.CRITICAL + 1)


def host_key_names(address: str, fqdn: str, port: int) -> list[str]:
    """The known_hosts names to look a node's key up under, most specific first."""

    def name(host: str) -> str:
        return host if port == 22 else f"[{host}]:{port}"

    names = [name(address)]
    if fqdn != address:
        names.append(name(fqdn))
    return names


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def check_host_key(
    key: paramiko.PKey, *, known_hosts: Path, address: str, fqdn: str, port: int, operation: str = "ssh connect"
) -> None:
    """Raise ``CucmTrustError`` unless ``known_hosts`` holds exactly ``key`` for this node."""
    scan = (
        f"ssh-keyscan -p {port} {address} >> {known_hosts}" if port != 22 else f"ssh-keyscan {address} >> {known_hosts}"
    )
    try:
        hosts = paramiko.HostKeys(str(known_hosts))
    except FileNotFoundError:
        raise CucmTrustError(
            f"the known_hosts file {known_hosts} does not exist, so the SSH host key cannot be checked",
            node=fqdn,
            operation=operation,
            hint=f"verify the node's key out of band and add it: {scan}",
        ) from None
    except (OSError, paramiko.SSHException) as exc:
        raise CucmTrustError(
            f"cannot read the known_hosts file {known_hosts}: {exc}", node=fqdn, operation=operation
        ) from exc
    names = host_key_names(address, fqdn, port)
    for name in names:
        entry = hosts.lookup(name)
        if entry is None:
            continue
        expected = entry.get(key.get_name())
        if expected is None:
            continue
        if expected == key:
            return
        raise CucmTrustError(
            f"the SSH host key of {name} has CHANGED (now {_fingerprint(key)}): the node is not the one in "
            f"{known_hosts}, or its key was regenerated",
            node=fqdn,
            operation=operation,
            hint=f"if the change is expected, remove the old line (ssh-keygen -R '{name}' -f {known_hosts}) "
            f"and add the new key after checking it: {scan}",
        )
    raise CucmTrustError(
        f"no {key.get_name()} host key for {' or '.join(names)} in {known_hosts} "
        f"(the node offered {_fingerprint(key)})",
        node=fqdn,
        operation=operation,
        hint=f"check the key out of band and add it: {scan}",
    )


def open_transport(
    *,
    fqdn: str,
    address: str,
    port: int,
    username: str,
    password: SecretStr,
    known_hosts: Path | None,
    host_key_check: bool = True,
    timeout: float = 30.0,
) -> paramiko.Transport:
    """Connect, check the host key, authenticate; return the authenticated paramiko Transport.

    Keyboard-interactive first (answering every prompt with the password), then plain password.
    No keys from disk, no agent. Auth failures -> ``CucmAuthError``; network -> ``CucmConnectionError``.
    """
    op = "ssh connect"
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except TimeoutError as exc:
        raise CucmConnectionError(
            f"timed out connecting to SSH at {address}:{port}",
            node=fqdn,
            operation=op,
            hint="check the node's address and ssh_port and that SSH is reachable",
        ) from exc
    except OSError as exc:
        raise CucmConnectionError(
            f"cannot reach SSH at {address}:{port}: {exc.strerror or exc}",
            node=fqdn,
            operation=op,
            hint="check the node's address and ssh_port and that the node is up",
        ) from exc
    # An interactive session, as OpenSSH's client sets it: a typed line or an answer to a prompt
    # goes out at once, not held back by Nagle's algorithm until the node ACKs what went before.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    transport.set_log_channel(PARAMIKO_LOG_CHANNEL)  # quiet: see _paramiko_log
    transport.banner_timeout = timeout
    transport.auth_timeout = timeout
    try:
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise CucmConnectionError(
                f"SSH handshake with {address}:{port} failed: {exc or 'the node closed the connection'}",
                node=fqdn,
                operation=op,
                hint="check that the node is up and its SSH service runs, then rerun",
            ) from exc
        key = transport.get_remote_server_key()
        if host_key_check:
            check_host_key(
                key,
                known_hosts=known_hosts or Path("~/.ssh/known_hosts").expanduser(),
                address=address,
                fqdn=fqdn,
                port=port,
            )
        else:
            log.warning(
                "SSH HOST KEY CHECKING IS OFF for %s (ssh.host_key_check: false): accepting %s key without checking; "
                "certops cannot tell this node from an impostor",
                fqdn,
                key.get_name(),
            )
        _authenticate(transport, fqdn=fqdn, username=username, password=password)
    except BaseException:
        transport.close()
        raise
    return transport


def _authenticate(transport: paramiko.Transport, *, fqdn: str, username: str, password: SecretStr) -> None:
    op = "ssh login"
    secret = password.get_secret_value()

    def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        return [secret for _prompt, _echo in prompts]

    refused = CucmAuthError(
        f"the node refused the SSH login of OS admin {username!r}",
        node=fqdn,
        operation=op,
        hint="check the OS admin username and password (certops does not retry, so the account is not locked out)",
    )
    try:
        transport.auth_interactive(username, handler)
        if transport.is_authenticated():
            return
    except paramiko.BadAuthenticationType as exc:
        if "password" not in (exc.allowed_types or []):
            raise CucmAuthError(
                f"the node offers none of the SSH login methods certops uses ({', '.join(exc.allowed_types)})",
                node=fqdn,
                operation=op,
            ) from exc
    except paramiko.AuthenticationException as exc:
        raise refused from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise CucmConnectionError(f"SSH dropped during login: {exc}", node=fqdn, operation=op) from exc
    try:
        transport.auth_password(username, secret)
    except paramiko.AuthenticationException as exc:
        raise refused from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise CucmConnectionError(f"SSH dropped during login: {exc}", node=fqdn, operation=op) from exc
    if not transport.is_authenticated():
        raise refused
