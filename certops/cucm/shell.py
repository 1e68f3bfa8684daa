"""The CUCM CLI over SSH: the channel (prompt, pager, confirmations) and the driver ``CucmCli``.

cucm-interfaces.md §5.1: there is no exec channel, so certops opens an interactive shell and
reads until the ``admin:`` prompt (Cisco's own pyATS/unicon pattern
``^(.*?)([\\r\\n]|\\x1b\\[K)admin:\\s*``), waits generously for the first prompt (login is slow),
turns pagination off (``set cli pagination off``) and still answers any pager, answers a
confirmation prompt only when the command expects one, strips ANSI escapes and ``\\r``, and
gives every command a timeout. A dropped session is a ``CucmConnectionError``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paramiko
from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from certops.cucm._ssh import open_transport
from certops.cucm.parsers import clean, extract_pem, looks_failed
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
        """Connect, log in, wait for the first prompt and turn pagination off."""
        if self.is_open:
            return
        self.close()
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
            self.close()
            raise CucmConnectionError(
                f"could not open an interactive shell: {exc}", node=self.fqdn, operation="ssh shell"
            ) from exc
        self._channel = channel
        try:
            self.banner = clean(
                self._read_until_prompt("(login)", self.login_timeout, confirm=None, input_text=None)[0]
            )
        except CliCommandError as exc:
            self.close()
            raise CucmConnectionError(
                f"no admin: prompt within {self.login_timeout:.0f} s of logging in",
                node=self.fqdn,
                operation="ssh login",
                hint="the CLI can take minutes to start; raise ssh.login_timeout if the node is slow",
            ) from exc
        log.info("ssh %s: CLI ready after %.1f s", self.fqdn, time.monotonic() - started)
        if self.pagination_off:
            self.run("set cli pagination off")

    def close(self) -> None:
        """Close the shell and the transport (idempotent); says ``exit`` first when the shell is usable."""
        if self.is_open and self._channel is not None:
            # Say goodbye and let the node close its side first (up to a second): a session cut
            # mid-conversation leaves the node's CLI to notice on its own.
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self._channel.sendall(b"exit\n")
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    self._channel.settimeout(max(0.01, deadline - time.monotonic()))
                    try:
                        if not self._channel.recv(65536):
                            break
                    except TimeoutError:
                        break
        if self._channel is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self._channel.close()
        if self._transport is not None:
            self._transport.close()
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
    ) -> CliResult:
        """Run ``command`` and return its cleaned output.

        ``confirm`` answers a ``(y/n)`` / ``(yes|no)`` prompt (``"y"``/``"yes"`` — the form follows
        the prompt); without it such a prompt is answered no and the result is failed.
        ``input_text`` answers a "Paste the Certificate and Hit Enter" prompt. ``answers`` are
        ``(prompt pattern, answer)`` pairs for named questions, tried before ``confirm``: a
        question that is not asked needs no answer.
        """
        if not self.is_open:
            self.open()
        assert self._channel is not None
        started = time.monotonic()
        try:
            self._channel.sendall((command + "\n").encode())
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self.close()
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
                    self.close()
                    raise self._dropped(command, exc) from exc
                scan_from = len(out)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
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
                self.close()
                raise self._dropped(command, exc) from exc
            if not data:
                self.close()
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
