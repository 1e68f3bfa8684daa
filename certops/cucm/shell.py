"""The CUCM CLI over SSH: the channel (prompt, pager, confirmations) and the driver ``CucmCli``.

cucm-interfaces.md §5.1: there is no exec channel, so certops opens an interactive shell and
reads until the ``admin:`` prompt (Cisco's own pyATS/unicon pattern
``^(.*?)([\\r\\n]|\\x1b\\[K)admin:\\s*``), waits generously for the first prompt (login is slow),
turns pagination off (``set cli pagination off``) and still answers any pager, answers a
confirmation prompt only when the command expects one, strips ANSI escapes and ``\\r``, and
gives every command a timeout. A dropped session is a ``CucmConnectionError``; a command that
only reads (``show ...``, ``utils service list``, a status) is repeated once on a new login, a
command that changes the node never is.

A login costs 5–15 s on a real node (the CLI starts up). Inside :func:`reuse_sessions` (the
renewal flow holds it for its whole run), closing a ``CucmCli`` hands its open session to this
process's :class:`SessionPool` instead of logging out, and the next ``CucmCli`` of the same node
and user takes it back after a liveness check (an empty line must bring back the prompt): one
login per node for a whole block of steps, across tasks. A session cannot cross processes, so a
task in another process (or outside the scope) logs in and out as before.

:meth:`SessionPool.log_in_ahead` starts a login in the background (the renewal flow, on every node
of its plan, as soon as it holds the host lock), so the banner runs out while the flow claims the
cluster and starts its tasks; a ``CucmCli`` of that node opening meanwhile waits for that login
instead of making a second one, and a login that failed hands its error to it (one failed attempt
per node, as without it: a wrong password counts once towards the account's lockout).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import paramiko
from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from certops.cucm._ssh import open_transport
from certops.cucm.parsers import clean, extract_pem, looks_failed
from certops.cucm.scoped import ScopedPool
from certops.errors import CliCommandError, CucmConnectionError

log = logging.getLogger("certops.cucm.cli")

PROMPT = re.compile(r"(?:\A|[\r\n]|\x1b\[K)admin:\s*\Z")
"""The CLI prompt at the end of the output (unicon VOS pattern, anchored at the end)."""

_PAGER_MORE = re.compile(r"Press <enter> for 1 line, <space> for one page, or <q> to quit\s*\Z")
_PAGER_OPTIONS = re.compile(r"options: q=quit, n=next, p=prev, b=begin, e=end \(lines \d+ - \d+ of \d+\) :\s*\Z")
_CONFIRM = re.compile(r"(?P<q>\((?P<opts>y/n|yes\|no|yes/no)\)\s*\??\s*:?)\s*\Z", re.IGNORECASE)
_PASTE = re.compile(r"Paste the Certificate and Hit Enter\s*\Z", re.IGNORECASE)
INCLUDE_OU = re.compile(r"Include OU in CSR \(yes\|no\)\??\s*\Z", re.IGNORECASE)
"""``set csr gen``'s question on 12.5 and 14 before SU1 (cucm-interfaces.md §5.1; cisco-uc-get-cert
``ssh_command`` expects ``Include OU in CSR (yes|no)?`` and answers it)."""


_READ_ONLY = re.compile(
    r"^(show |utils service list$|utils disaster_recovery status |utils sso status$|set cli pagination )",
    re.IGNORECASE,
)
"""Commands that change nothing on the node: repeated once on a new login when the session drops."""


def read_only(command: str) -> bool:
    """Whether ``command`` only reads (safe to repeat after a dropped session)."""
    return _READ_ONLY.match(command.strip()) is not None


SessionKey = tuple[str, str, int, str]
"""(fqdn, address, port, username): whose session it is."""


@dataclass
class _Idle:
    transport: paramiko.Transport
    channel: paramiko.Channel
    since: float = field(default_factory=time.monotonic)


@dataclass
class _Ahead:
    """A login started ahead (:meth:`SessionPool.log_in_ahead`): done when ``event`` is set."""

    event: threading.Event
    bound: float  # seconds a taker waits for it at most (the login's own timeouts)
    error: BaseException | None = None  # why it failed, for the first taker


class SessionPool(ScopedPool):
    """Open CLI sessions of this process, kept between tasks while a :meth:`scope` is held.

    Thread-safe; a session is lent to one ``CucmCli`` at a time (a second one on the same node
    logs in for itself, and both come back). A session idle longer than ``max_idle`` seconds is
    closed instead of lent (CUCM ends idle CLI sessions on its own). ``logins`` counts the logins
    per key made while pooling (for reports and benchmarks).
    """

    def __init__(self, max_idle: float = 600.0) -> None:
        super().__init__()
        self.max_idle = max_idle
        self._idle: dict[SessionKey, list[_Idle]] = {}
        self._ahead: dict[SessionKey, _Ahead] = {}
        self._generation = 0  # close_idle counts up: a login ahead that finishes after it logs out
        self.logins: dict[SessionKey, int] = {}

    def log_in_ahead(self, cli: CucmCli) -> threading.Thread | None:
        """Log ``cli`` in now, in a background thread, and keep the session for the next ``CucmCli`` of its key.

        Only while a scope is held, and not twice at once for one key; returns the thread (None when
        nothing was started). A ``CucmCli`` of the key that opens meanwhile waits for this login
        (:meth:`take`); when it failed, the first one to open gets its error instead of trying again.
        """
        with self._lock:
            if self._scopes == 0 or cli.key in self._ahead:
                return None
            ahead = self._ahead[cli.key] = _Ahead(threading.Event(), cli.login_timeout + cli.connect_timeout + 5.0)
            generation = self._generation

        def log_in() -> None:
            try:
                cli.log_in()
            except BaseException as exc:  # noqa: BLE001 - handed to the step that needs the session
                ahead.error = exc
                log.info("ssh %s: the login ahead failed (%s); the step that needs the CLI reports it", cli.fqdn, exc)
            else:
                with self._lock:
                    keep = generation == self._generation
                if keep:
                    cli.close()  # into the pool (or logged out: the scope ended meanwhile)
                else:
                    cli.discard()  # the sessions were logged out meanwhile (a wait for another run)
            finally:
                with self._lock:
                    if ahead.error is None and self._ahead.get(cli.key) is ahead:
                        del self._ahead[cli.key]
                ahead.event.set()

        thread = threading.Thread(target=log_in, name=f"certops-login-{cli.fqdn}", daemon=True)
        thread.start()
        return thread

    def _await_ahead(self, key: SessionKey) -> None:
        """Wait for a login ahead of ``key`` to end; raise its error once, when it failed."""
        with self._lock:
            ahead = self._ahead.get(key)
        if ahead is None:
            return
        ahead.event.wait(ahead.bound)
        with self._lock:
            if self._ahead.get(key) is not ahead or not ahead.event.is_set():
                return
            del self._ahead[key]
        if ahead.error is not None:
            raise ahead.error

    def take(self, key: SessionKey) -> _Idle | None:
        """An idle session of ``key`` (None: none, or pooling is off); stale ones are closed.

        A login ahead of ``key`` still under way is waited for first; its error, when it failed, is raised here.
        """
        self._await_ahead(key)
        stale: list[_Idle] = []
        got: _Idle | None = None
        with self._lock:
            if self._scopes == 0:
                return None
            idle = self._idle.get(key, [])
            while idle:
                cand = idle.pop()
                if time.monotonic() - cand.since > self.max_idle or not cand.transport.is_active():
                    stale.append(cand)
                    continue
                got = cand
                break
        for s in stale:
            _close_quietly(s.transport, s.channel, say_exit=True)
        return got

    def give(self, key: SessionKey, transport: paramiko.Transport, channel: paramiko.Channel) -> bool:
        """Keep an open session at the prompt for the next user; False (caller closes it) when pooling is off."""
        with self._lock:
            if self._scopes == 0:
                return False
            self._idle.setdefault(key, []).append(_Idle(transport, channel))
            return True

    def count_login(self, key: SessionKey) -> None:
        """Record one login of ``key`` (only while pooling: what the renewal spent)."""
        with self._lock:
            if self._scopes > 0:
                self.logins[key] = self.logins.get(key, 0) + 1

    def close_idle(self) -> int:
        """Log out every idle session now (e.g. before a long wait for a person); returns how many."""
        with self._lock:
            idle = [s for sessions in self._idle.values() for s in sessions]
            self._idle.clear()
            self._generation += 1  # and a login ahead still under way logs out when done
            for key in [k for k, a in self._ahead.items() if a.event.is_set()]:
                del self._ahead[key]  # a failed login ahead nobody asked for: the next one logs in anew
        for s in idle:
            _close_quietly(s.transport, s.channel, say_exit=True)
        return len(idle)


SESSIONS = SessionPool()
"""This process's pool of CLI sessions."""


def reuse_sessions() -> contextlib.AbstractContextManager[SessionPool]:
    """Keep CLI sessions open between tasks of this process while inside (one login per node per block)."""
    return SESSIONS.scope()


def _close_quietly(transport: paramiko.Transport | None, channel: paramiko.Channel | None, *, say_exit: bool) -> None:
    """Log out (``exit``, then let the node close its side, up to a second) and close the transport."""
    if say_exit and channel is not None and not channel.closed and transport is not None and transport.is_active():
        # Say goodbye and let the node close its side first: a session cut mid-conversation leaves
        # the node's CLI to notice on its own.
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            channel.sendall(b"exit\n")
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                channel.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    if not channel.recv(65536):
                        break
                except TimeoutError:
                    break
    if channel is not None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            channel.close()
    if transport is not None:
        transport.close()


def subject_has_ou(pem: str) -> bool:
    """Whether the certificate's subject has an OU (organizationalUnitName)."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return bool(cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME))


@dataclass(frozen=True)
class CliResult:
    """What one CLI command printed (cleaned), and whether it failed."""

    node: str
    command: str
    output: str
    failed: bool
    reason: str = ""

    def raise_for_status(self) -> CliResult:
        """Raise ``CliCommandError`` when the command failed; return self otherwise."""
        if self.failed:
            raise CliCommandError(
                self.reason or "the command failed",
                node=self.node,
                command=self.command,
                output=self.output[-2000:],
                hint="run the command by hand on the node to see the full output",
            )
        return self


class CucmCli:
    """An interactive CLI session on one node (context manager). Opens on ``__enter__``."""

    def __init__(
        self,
        *,
        fqdn: str,
        address: str,
        port: int = 22,
        username: str,
        password: SecretStr,
        known_hosts: Path | None = None,
        host_key_check: bool = True,
        login_timeout: float = 120.0,
        command_timeout: float = 600.0,
        connect_timeout: float = 30.0,
        pagination_off: bool = True,
        pool: SessionPool | None = None,
    ) -> None:
        self.fqdn = fqdn
        self.address = address
        self.port = port
        self.username = username
        self._password = password
        self.known_hosts = known_hosts
        self.host_key_check = host_key_check
        self.login_timeout = login_timeout
        self.command_timeout = command_timeout
        self.connect_timeout = connect_timeout
        self.pagination_off = pagination_off
        self._transport: paramiko.Transport | None = None
        self._channel: paramiko.Channel | None = None
        self.banner = ""
        self.pool = pool if pool is not None else SESSIONS
        self.logins = 0  # logins this object made (a session taken from the pool is not one)

    @property
    def key(self) -> SessionKey:
        """Whose session this is: (fqdn, address, port, username)."""
        return (self.fqdn, self.address, self.port, self.username)

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> CucmCli:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        """True while the session is usable."""
        return (
            self._channel is not None
            and not self._channel.closed
            and self._transport is not None
            and self._transport.is_active()
        )

    def open(self) -> None:
        """Take a live session of this node from the pool, or connect, log in, wait for the prompt, pagination off."""
        if self.is_open:
            return
        self._discard()
        while (idle := self.pool.take(self.key)) is not None:
            self._transport, self._channel = idle.transport, idle.channel
            if self._alive():
                log.debug(
                    "ssh %s: reusing the session opened earlier (idle %.0f s)", self.fqdn, time.monotonic() - idle.since
                )
                return
            self._discard()
        self._login()

    def _alive(self) -> bool:
        """Liveness check of a kept session: an empty line brings the prompt back within a few seconds."""
        if not self.is_open:
            return False
        assert self._channel is not None
        try:
            while self._channel.recv_ready():  # whatever the node said while idle (a broadcast message)
                self._channel.recv(65536)
            self._channel.sendall(b"\n")
            self._read_until_prompt("(liveness check)", min(10.0, self.command_timeout), confirm=None, input_text=None)
        except (CucmConnectionError, CliCommandError, OSError, EOFError, paramiko.SSHException):
            log.info("ssh %s: the session kept from earlier is gone; logging in again", self.fqdn)
            return False
        return True

    def log_in(self) -> None:
        """Log in now, never taking a session from the pool (:meth:`SessionPool.log_in_ahead`)."""
        self._login()

    def discard(self) -> None:
        """Log out now, never keeping the session in the pool."""
        self._discard()

    def _login(self) -> None:
        started = time.monotonic()
        self._transport = open_transport(
            fqdn=self.fqdn,
            address=self.address,
            port=self.port,
            username=self.username,
            password=self._password,
            known_hosts=self.known_hosts,
            host_key_check=self.host_key_check,
            timeout=self.connect_timeout,
        )
        try:
            channel = self._transport.open_session(timeout=self.connect_timeout)
            channel.get_pty(term="vt100", width=250, height=50)
            channel.invoke_shell()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._discard()
            raise CucmConnectionError(
                f"could not open an interactive shell: {exc}", node=self.fqdn, operation="ssh shell"
            ) from exc
        self._channel = channel
        self.logins += 1
        self.pool.count_login(self.key)
        try:
            self.banner = clean(
                self._read_until_prompt("(login)", self.login_timeout, confirm=None, input_text=None)[0]
            )
        except CliCommandError as exc:
            self._discard()
            raise CucmConnectionError(
                f"no admin: prompt within {self.login_timeout:.0f} s of logging in",
                node=self.fqdn,
                operation="ssh login",
                hint="the CLI can take minutes to start; raise ssh.login_timeout if the node is slow",
            ) from exc
        log.info("ssh %s: CLI ready after %.1f s", self.fqdn, time.monotonic() - started)
        if self.pagination_off:
            self.run("set cli pagination off", reconnect=False)

    def close(self) -> None:
        """Done with the session (idempotent): kept in the pool at the prompt while pooling, else logged out."""
        transport, channel = self._transport, self._channel
        if (
            self.is_open
            and transport is not None
            and channel is not None
            and self.pool.give(self.key, transport, channel)
        ):
            self._transport = self._channel = None
            return
        self._discard()

    def _discard(self) -> None:
        """Log out and close the transport, never keeping the session (a dropped or confused one)."""
        _close_quietly(self._transport, self._channel, say_exit=self.is_open)
        self._channel = None
        self._transport = None

    # -- commands ------------------------------------------------------------------------------------

    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        confirm: str | None = None,
        input_text: str | None = None,
        answers: Sequence[tuple[re.Pattern[str], str]] = (),
        reconnect: bool | None = None,
    ) -> CliResult:
        """Run ``command`` and return its cleaned output.

        ``confirm`` answers a ``(y/n)`` / ``(yes|no)`` prompt (``"y"``/``"yes"`` — the form follows
        the prompt); without it such a prompt is answered no and the result is failed.
        ``input_text`` answers a "Paste the Certificate and Hit Enter" prompt. ``answers`` are
        ``(prompt pattern, answer)`` pairs for named questions, tried before ``confirm``: a
        question that is not asked needs no answer. ``reconnect`` (default: whether the command
        only reads, :func:`read_only`): when the session drops, log in once more and repeat it.
        """
        again = read_only(command) if reconnect is None else reconnect
        try:
            return self._run_once(command, timeout=timeout, confirm=confirm, input_text=input_text, answers=answers)
        except CucmConnectionError as exc:
            if not again or not exc.message.startswith("the SSH session dropped"):
                raise
            log.warning("ssh %s: %s; logging in again and repeating it (it changes nothing)", self.fqdn, exc.message)
        self.open()
        return self._run_once(command, timeout=timeout, confirm=confirm, input_text=input_text, answers=answers)

    def _run_once(
        self,
        command: str,
        *,
        timeout: float | None,
        confirm: str | None,
        input_text: str | None,
        answers: Sequence[tuple[re.Pattern[str], str]],
    ) -> CliResult:
        if not self.is_open:
            self.open()
        assert self._channel is not None
        started = time.monotonic()
        try:
            self._channel.sendall((command + "\n").encode())
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._discard()
            raise self._dropped(command, exc) from exc
        raw, reason = self._read_until_prompt(
            command, timeout or self.command_timeout, confirm=confirm, input_text=input_text, answers=answers
        )
        output = _strip_echo_and_prompt(clean(raw), command)
        failed = bool(reason) or looks_failed(output)
        if failed and not reason:
            reason = "the CLI reported a failure"
        log.info(
            "ssh %s: %r -> %s (%.0f ms)",
            self.fqdn,
            command,
            "failed" if failed else "ok",
            (time.monotonic() - started) * 1000,
        )
        return CliResult(node=self.fqdn, command=command, output=output, failed=failed, reason=reason)

    def generate_csr(self, unit: str, *, include_ou: bool | None = None) -> CliResult:
        """``set csr gen <unit>``, keeping the subject the unit's current certificate has.

        12.5 and 14 before SU1 ask "Include OU in CSR (yes|no)?" (later releases do not ask).
        The answer decides whether the CSR subject carries the OU. With ``include_ou`` None,
        certops first reads the current certificate (``show cert own <unit>``) and answers
        ``yes`` when its subject has an OU and ``no`` when it has none, so the CA is asked to
        sign the subject the node already presents; when it cannot be read, ``yes`` (CUCM's
        own subject has an OU; cisco-uc-get-cert answers ``yes``). Any other confirmation is
        answered no and fails the command; so does output without "Successfully Generated CSR".
        """
        if include_ou is None:
            include_ou = self.current_subject_has_ou(unit)
        result = self.run(f"set csr gen {unit}", answers=[(INCLUDE_OU, "yes" if include_ou else "no")])
        if not result.failed and "successfully generated csr" not in result.output.lower():
            return CliResult(
                node=self.fqdn,
                command=result.command,
                output=result.output,
                failed=True,
                reason="the CLI did not confirm 'Successfully Generated CSR'",
            )
        return result

    def start_drf_backup(self, features: Sequence[str], device: str) -> CliResult:
        """``utils disaster_recovery backup network <featurelist> <device_name>`` on the publisher.

        Cisco's CLI reference: ``featurelist`` is comma-separated (``utils disaster_recovery
        show_registration`` lists them), ``device_name`` a backup device configured in DRS. The
        command only starts the job; ``utils disaster_recovery status backup`` follows it. Output
        without "Backup initiated successfully" [INF: the exact text] fails the result.
        """
        if not features or any(not re.fullmatch(r"[A-Za-z0-9_]+", f) for f in features):
            raise ValueError(f"DRF features are names such as UCM or CDR_CAR, not {list(features)!r}")
        if not re.fullmatch(r"\S+", device):
            raise ValueError(f"a DRS backup device name has no spaces: {device!r}")
        result = self.run(f"utils disaster_recovery backup network {','.join(features)} {device}")
        if not result.failed and "initiated successfully" not in result.output.lower():
            return CliResult(
                node=self.fqdn,
                command=result.command,
                output=result.output,
                failed=True,
                reason="the CLI did not confirm 'Backup initiated successfully'",
            )
        return result

    def current_subject_has_ou(self, unit: str) -> bool:
        """Whether ``show cert own <unit>`` shows a certificate whose subject has an OU (True if unreadable)."""
        shown = self.run(f"show cert own {unit}")
        if shown.failed:
            log.warning(
                "ssh %s: cannot read the current %s certificate; answering the OU question yes", self.fqdn, unit
            )
            return True
        try:
            return subject_has_ou(extract_pem(shown.output))
        except ValueError:
            log.warning("ssh %s: no readable %s certificate shown; answering the OU question yes", self.fqdn, unit)
            return True

    # -- the channel ------------------------------------------------------------------------------------

    def _dropped(self, command: str, exc: BaseException | None = None) -> CucmConnectionError:
        detail = f": {exc}" if exc else ""
        return CucmConnectionError(
            f"the SSH session dropped while running '{command}'{detail}",
            node=self.fqdn,
            operation=f"cli '{command}'",
            hint="check the node; a rerun continues where it stopped",
        )

    def _read_until_prompt(
        self,
        command: str,
        timeout: float,
        *,
        confirm: str | None,
        input_text: str | None,
        answers: Sequence[tuple[re.Pattern[str], str]] = (),
    ) -> tuple[str, str]:
        """Read until the prompt; answer pagers and prompts. Returns (raw output, failure reason)."""
        channel = self._channel
        assert channel is not None
        deadline = time.monotonic() + timeout
        out = ""
        scan_from = 0
        reason = ""
        while True:
            tail = out[scan_from:]
            if PROMPT.search(tail):
                return out, reason
            answer: str | None = None
            tail_clean = clean(tail)
            named = next((reply for pattern, reply in answers if pattern.search(tail_clean)), None)
            if named is not None:
                answer = named + "\n"
            elif _PAGER_MORE.search(tail_clean):
                answer = " "
            elif _PAGER_OPTIONS.search(tail_clean):
                answer = "n"
            elif (m := _CONFIRM.search(tail_clean)) is not None:
                long_form = m["opts"].lower() != "y/n"
                if confirm is not None:
                    yes = confirm.strip().lower().startswith("y")
                    answer = ("yes" if yes else "no") if long_form else ("y" if yes else "n")
                else:
                    answer = "no" if long_form else "n"
                    reason = f"unexpected confirmation prompt {m['q']!r}: answered no"
                answer += "\n"
            elif _PASTE.search(tail_clean):
                if input_text is None:
                    reason = "the CLI asked for a certificate to paste, but none was given"
                    answer = "\n"
                else:
                    answer = input_text.rstrip("\n") + "\n\n"
            if answer is not None:
                try:
                    channel.sendall(answer.encode())
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    self._discard()
                    raise self._dropped(command, exc) from exc
                scan_from = len(out)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._discard()
                raise CliCommandError(
                    f"no admin: prompt after {timeout:.0f} s",
                    node=self.fqdn,
                    command=command,
                    output=clean(out)[-2000:],
                    hint="the command may still run on the node; check it before rerunning",
                )
            channel.settimeout(min(remaining, 0.5))
            try:
                data = channel.recv(65536)
            except TimeoutError:
                continue
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self._discard()
                raise self._dropped(command, exc) from exc
            if not data:
                self._discard()
                raise self._dropped(command)
            out += data.decode("utf-8", errors="replace")


def _strip_echo_and_prompt(text: str, command: str) -> str:
    lines = text.split("\n")
    # Drop everything up to and including the echoed command line.
    for i, line in enumerate(lines):
        if line.rstrip().endswith(command.strip()):
            lines = lines[i + 1 :]
            break
    while lines and (not lines[-1].strip() or lines[-1].strip() == "admin:"):
        lines.pop()
    return "\n".join(lines).strip("\n") + ("\n" if lines else "")
