"""The platform CLI of a simulated node (cucm-interfaces.md §5): prompt, pager, commands.

A :class:`CliSession` runs over anything with ``send``/``recv`` (a paramiko channel). It prints
the slow start banner, then ``admin:``; it echoes what is typed, pages long output until
``set cli pagination off``, asks for confirmation where the real CLI does, and answers the
commands certops needs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from simulator import certmgr, pki
from simulator.replay import lookup
from simulator.soap import run_sql
from simulator.state import TRUST_STORES, SimulatedNode

PROMPT = "admin:"
PAGER = "\x1b[1mPress <enter> for 1 line, <space> for one page, or <q> to quit\x1b[0m"
LESS_PAGER = "options: q=quit, n=next, p=prev, b=begin, e=end (lines {first} - {last} of {total}) : "
FAILED = "Executed command unsuccessfully"
INCLUDE_OU = "Include OU in CSR (yes|no)?"
"""cucm-interfaces.md §5.1 and cisco-uc-get-cert's expect list; asked by ``set csr gen`` on 12.5 and 14 before SU1."""
SYSTEM_SSH = "System SSH"  # `utils service list` prints it first, on every node; no service Control Center lists


class Channel(Protocol):
    """What the session needs from an SSH channel."""

    def send(self, data: bytes) -> int: ...
    def recv(self, nbytes: int) -> bytes: ...
    def close(self) -> None: ...


class SessionClosed(Exception):
    """The client went away (or the session was dropped on purpose)."""


class CliSession:
    """One interactive CLI session on one node."""

    def __init__(
        self, node: SimulatedNode, channel: Channel, height: int = 24, drop: Callable[[], None] | None = None
    ) -> None:
        self.node = node
        self.chan = channel
        self.page = max(5, height - 1)
        self.paging = True
        self._buf = b""
        self._after_cr = False
        self._drop = drop or channel.close
        self.opts = node.runtime.options

    # ----- terminal I/O -------------------------------------------------------------------------
    def write(self, text: str) -> None:
        """Send ``text`` with CRLF line ends."""
        try:
            self.chan.send(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())
        except (OSError, EOFError) as exc:
            raise SessionClosed from exc

    def _fill(self) -> None:
        try:
            data = self.chan.recv(4096)
        except (OSError, EOFError) as exc:
            raise SessionClosed from exc
        if not data:
            raise SessionClosed
        self._buf += data

    def read_line(self) -> str:
        """Read one typed line, echoing it."""
        while True:
            self._skip_lf_after_cr()
            for i, b in enumerate(self._buf):
                if b in (10, 13):
                    line = self._buf[:i].decode(errors="replace")
                    rest = self._buf[i + 1 :]
                    self._after_cr = b == 13
                    self._buf = rest
                    self._skip_lf_after_cr()
                    line = self._edit(line)
                    self.write(line + "\n")
                    return line
            self._fill()

    def _skip_lf_after_cr(self) -> None:
        # "\r\n" counts as one Enter even when the "\n" arrives in a later packet
        if self._after_cr and self._buf:
            if self._buf[:1] == b"\n":
                self._buf = self._buf[1:]
            self._after_cr = False

    @staticmethod
    def _edit(line: str) -> str:
        out: list[str] = []
        for ch in line:
            if ch in ("\x7f", "\x08"):
                if out:
                    out.pop()
            else:
                out.append(ch)
        return "".join(out)

    def read_key(self) -> str:
        """Read one key press (the pager)."""
        while True:
            self._skip_lf_after_cr()
            if self._buf:
                break
            self._fill()
        key, self._buf = self._buf[:1], self._buf[1:]
        self._after_cr = key == b"\r"
        self._skip_lf_after_cr()
        return key.decode(errors="replace")

    def output(self, text: str, pager: str = "more") -> None:
        """Print command output, paging it while pagination is on; may drop the session (fault).

        ``pager`` ``more``: "Press <enter> for 1 line, <space> for one page, or <q> to quit";
        ``less``: "options: q=quit, n=next, p=prev, b=begin, e=end (lines x - y of z) :".
        """
        lines = text.rstrip("\n").split("\n") if text else []
        if self.node.faults.ssh_drops > 0:
            with self.node.runtime.lock:
                self.node.faults.ssh_drops -= 1
            self.node._event("ssh_dropped", detail={"lines_sent": len(lines) // 2})
            self.write("\n".join(lines[: len(lines) // 2]) + "\n")
            self._drop()
            raise SessionClosed
        if not self.paging or len(lines) <= self.page:
            if lines:
                self.write("\n".join(lines) + "\n")
            return
        if pager == "less":
            self._less(lines)
            return
        shown = 0
        budget = self.page
        while shown < len(lines):
            chunk = lines[shown : shown + budget]
            self.write("\n".join(chunk) + "\n")
            shown += len(chunk)
            if shown >= len(lines):
                break
            self.write(PAGER)
            key = self.read_key()
            self.write("\r\x1b[K")
            if key in ("q", "Q"):
                break
            budget = 1 if key in ("\r", "\n") else self.page

    def _less(self, lines: list[str]) -> None:
        top = 0
        total = len(lines)
        while True:
            end = min(total, top + self.page)
            self.write("\n".join(lines[top:end]) + "\n")
            if end >= total:
                return
            self.write(LESS_PAGER.format(first=top + 1, last=end, total=total))
            key = self.read_key()
            self.write("\r\x1b[K")
            if key in ("q", "Q"):
                return
            if key == "p":
                top = max(0, top - self.page)
            elif key == "b":
                top = 0
            elif key == "e":
                top = max(0, total - self.page)
            else:  # n, space, enter
                top = end

    def confirm(self, question: str) -> bool:
        """Ask ``question`` and read y/n (or yes/no)."""
        self.write(question)
        answer = self.read_line().strip().lower()
        return answer in ("y", "yes")

    # ----- session ------------------------------------------------------------------------------
    def run(self) -> None:
        """Banner, then the command loop until ``quit``/``exit`` or the client leaves."""
        try:
            self.write("Command Line Interface is starting up, please wait ...\n")
            time.sleep(self.opts.cli_banner_seconds)
            self.write(
                "\n   Welcome to the Platform Command Line Interface\n\n"
                "VMware Installation:\n\t2 vCPU: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\n"
                "\tDisk 1: 110GB, Partitions aligned\n\t8192 Mbytes RAM\n\n"
            )
            while True:
                self.write(PROMPT + " ")
                line = self.read_line().strip()
                if not line:
                    continue
                if line in ("quit", "exit"):
                    break
                delay = self.opts.latency + self.node.faults.latency
                if delay > 0:
                    time.sleep(delay)
                self.command(line)
        except SessionClosed:
            return

    def command(self, line: str) -> None:
        """Run one command line."""
        words = line.split()
        low = [w.lower() for w in words]
        node = self.node
        captured = lookup(node, "cli", line)  # a twin's captured answer, while its state is as captured
        if captured is not None:
            self.output(captured.body)
            return
        if low[:4] == ["set", "cli", "pagination", "off"]:
            self.paging = False
            self.write("Automatic pagination is turned off\n")
        elif low[:4] == ["set", "cli", "pagination", "on"]:
            self.paging = True
            self.write("Automatic pagination is turned on\n")
        elif low[:3] == ["show", "version", "active"]:
            self.output(
                f"Active Master Version: {node.cluster.full_version}\n"
                "Active Version Installed Software Options:\nNo Installed Software Options Found.\n"
            )
        elif low[:4] == ["show", "cert", "list", "own"]:
            self.output(self._cert_list())
        elif low[:4] == ["show", "cert", "list", "trust"]:
            self.output(self._trust_list(), pager="less")
        elif low[:3] == ["show", "cert", "trust"] and len(words) == 4:
            self._show_trust(words[3])
        elif low[:3] == ["show", "cert", "own"] and len(words) == 4:
            unit = words[3].split("/")[0]
            if unit not in node.units:
                self.output(f"Invalid unit: {words[3]}\n{FAILED}\n")
            else:
                self.output(cert_details(node.identity(unit).cert))
        elif low[:3] == ["show", "csr", "own"] and len(words) == 4:
            pending = node.csrs.get(words[3].split("/")[0])
            self.output(pending.pem if pending else f"No CSR found for {words[3]}\n{FAILED}\n")
        elif low[:3] == ["utils", "service", "list"]:
            self.output(self._service_list())
        elif low[:2] == ["utils", "service"] and len(low) >= 4 and low[2] in ("restart", "start", "stop"):
            self._service_control(low[2], " ".join(words[3:]))
        elif low[:3] == ["utils", "ctl", "update"] and len(low) == 4 and low[3] == "ctlfile":
            self._ctl_update()
        elif low[:2] == ["show", "ctl"]:
            self._show_ctl()
        elif low[:3] == ["utils", "disaster_recovery", "status"] and len(low) == 4 and low[3] in ("backup", "restore"):
            self._drf_status(low[3])
        elif low[:4] == ["utils", "disaster_recovery", "backup", "network"]:
            self._drf_backup(words[4:])
        elif low == ["show", "myself"]:
            self._show_myself()
        elif low[:3] == ["utils", "sso", "status"]:
            self._sso_status()
        elif low[:3] == ["set", "csr", "gen"] and len(words) == 4:
            self._csr_gen(words[3])
        elif low[:3] == ["set", "cert", "import"] and len(words) == 5 and low[3] in ("own", "trust"):
            self._cert_import(low[3], words[4])
        elif low[:2] == ["run", "sql"] and len(words) > 2:
            self._sql(line.split(None, 2)[2])
        else:
            self.write(f"{FAILED}\nInvalid command: {line}\n")

    # ----- commands -----------------------------------------------------------------------------
    def _line_style(self) -> bool:
        """``show cert list own|trust`` in one line per file (15) or in blocks (before 15).

        A twin answers in the style its capture recorded (``cli.cert_list``: ``lines``/``blocks``).
        """
        captured = getattr(self.node.cluster, "twin_shapes", {}).get("cli.cert_list")
        if captured in ("lines", "blocks"):
            return bool(captured == "lines")
        return self.node.cluster.version_tuple >= (15, 0)

    def _cert_list(self) -> str:
        node = self.node
        out = []
        lines = self._line_style()
        for unit, ident in node.identities().items():
            cert = ident.cert
            self_signed = cert.issuer == cert.subject
            if lines:
                what = (
                    "Self-signed certificate generated by system"
                    if self_signed
                    else f"Certificate Signed by {pki.common_name(cert.issuer)}"
                )
                out.append(f"{unit}/{unit}.pem: {what}")
            else:
                out += [
                    f"Unit: {unit}",
                    "Type: own",
                    f"Name: {unit}.pem",
                    f"Issuer: {pki.common_name(cert.issuer)}",
                    f"Expires: {pki.java_date(cert.not_valid_after_utc)}",
                    "",
                ]
        return "\n".join(out) + "\n"

    def _trust_list(self) -> str:
        """``show cert list trust``: one line per file on 15, blocks before 15, as ``show cert list own``.

        cucm-interfaces.md §5.2 says only "same style, for trust stores"; the description text
        ("Trust Certificate <CN>") and the block's ``Type: trust-certs`` are [INF].
        """
        out = []
        lines = self._line_style()
        for store, certs in self.node.trust.items():
            for cn in sorted(certs):
                if lines:
                    out.append(f"{store}/{trust_file_name(cn)}: Trust Certificate {cn}")
                else:
                    cert = certs[cn]
                    out += [
                        f"Unit: {store}",
                        "Type: trust-certs",
                        f"Name: {trust_file_name(cn)}",
                        f"Issuer: {pki.common_name(cert.issuer)}",
                        f"Expires: {pki.java_date(cert.not_valid_after_utc)}",
                        "",
                    ]
        return "\n".join(out) + "\n" if out else "No trust certificates found\n"

    def _show_trust(self, name: str) -> None:
        """``show cert trust <store>/<file>`` (cucm-interfaces.md §5.2): the details block, then the PEM.

        The name is what ``show cert list trust`` lists (``tomcat-trust/Lab_Root_CA.pem``). An
        unknown store or file fails with "Invalid certificate name" [INF: the real wording is not known].
        """
        store, _, filename = name.partition("/")
        certs = self.node.trust.get(store, {})
        cert = next((c for cn, c in certs.items() if trust_file_name(cn) == filename), None)
        if cert is None:
            self.output(f"Invalid certificate name: {name}\n{FAILED}\n")
            return
        self.output(cert_details(cert))

    def _service_list(self) -> str:
        out = ["Requesting service status, please wait...", f"{SYSTEM_SSH} [STARTED]"]
        with self.node.runtime.lock:
            for name, svc in self.node.services.items():
                status = svc.current_status()
                token = {"Started": "STARTED", "Starting": "STARTING", "Stopped": "STOPPED"}[status]
                reason = svc.current_reason()
                out.append(f"{name}[{token}]" + (f"  {reason}" if reason and token == "STOPPED" else ""))
        return "\n".join(out) + "\n"

    def _service_control(self, action: str, name: str) -> None:
        node = self.node
        svc = next((s for n, s in node.services.items() if n.lower() == name.lower()), None)
        if svc is None:
            self.write(f"Service Manager is running\nInvalid service name: {name}\n{FAILED}\n")
            return
        name = svc.name
        if not svc.activated:
            self.write(f"Service Manager is running\n{name}[STOPPED]  Service Not Activated\n{FAILED}\n")
            return
        if action != "restart":
            node.start_stop(name, "Start" if action == "start" else "Stop")
            state = node.services[name].current_status().upper()
            self.write(f"Service Manager is running\n{name}[{state}]\n")
            return
        self.output(
            "Do not press Ctrl+C while the service is restarting. If the service has not restarted properly, "
            "execute the same command again.\nService Manager is running"
        )
        seconds, token = node.begin_restart(name, via="cli")
        self.write(f"{name}[STOPPING]\n")
        time.sleep(seconds / 2)
        self.write(
            f"{name}[STOPPING]\nCommanded Out of Service\n{name}[NOTRUNNING]\n"
            f"Service Manager is running\n{name}[STARTING]\n"
        )
        time.sleep(seconds / 2)
        if node.finish_restart(name, token):
            self.write(f"{name}[STARTING]\n{name}[STARTED]\n")
        else:
            reason = node.services[name].reason
            self.write(f"{name}[STOPPED]  {reason}\n{FAILED}\n")

    def _ctl_update(self) -> None:
        node = self.node
        if not node.is_publisher:
            self.write(f"This command can be run only on the publisher node\n{FAILED}\n")
            return
        if not node.cluster.mixed_mode:
            self.write(
                "The cluster is not in mixed mode (Cluster Security Mode 0); "
                f"run utils ctl set-cluster mixed-mode first\n{FAILED}\n"
            )
            return
        if not self.confirm("This operation updates the CTLFile. Do you want to continue? (y/n):"):
            self.write("Operation cancelled\n")
            return
        self.write("Updating CTL file\n")
        node.cluster.update_ctl(node)
        self.write(
            "CTL file Updated\nPlease Restart the TFTP and Cisco CallManager services on all nodes in the cluster "
            "that run these services\n"
        )

    def _show_ctl(self) -> None:
        cluster = self.node.cluster
        if not cluster.mixed_mode:
            self.output(
                "Length of CTL file: 0\n"
                "CTL File not found. "
                "Please run CTLClient plugin or run the CLI - utils ctl.. to generate the CTL file.\n"
            )
        else:
            self.output(
                f"Length of CTL file: 5120\nThe CTL File was last modified on {pki.java_date(pki.utcnow())}\n"
                f"CTL updates: {cluster.ctl_updates}\n"
            )

    def _drf_status(self, operation: str) -> None:
        node = self.node
        if not node.is_publisher:
            self.write(
                f"drfCliMsg: Unable to connect to Master Agent host: {node.fqdn}, "
                "the DRF Master runs on the publisher\n"
            )
            return
        job = node.cluster.drf
        if job is None or job.operation != operation:
            self.output(f"drfCliMsg: No {operation} status available\n")
            return
        pct = job.percent()
        status = "RUNNING" if job.running else job.result
        rows = []
        for n in node.cluster.nodes:
            for comp in ("PLATFORM", "CLM", "CCMDB", "TCT") if n.role != "imp" else ("PLATFORM", "SYSTEM"):
                comp_status = status if pct < 100 and job.running else "SUCCESS"
                kind = "CCM" if n.role != "imp" else "CUP"
                log = f"activelog/platform/drf/log/{job.tar[:-4]}_{n.hostname}_{comp.lower()}.log"
                rows.append(f"{kind} {n.hostname} {comp} {comp_status} {pki.java_date(pki.utcnow())} {log}")
        self.output(
            f"Status: {status}\nTar Filename: {job.tar}\nStorage Location: NETWORK\nOperation: {operation}\n"
            f"Percentage Complete: {pct if job.running else 100}\n" + "\n".join(rows) + "\n"
        )

    def _drf_backup(self, args: list[str]) -> None:
        """``utils disaster_recovery backup network <featurelist> <device_name>`` (CLI reference, 10.0+).

        ``featurelist`` is comma-separated. Publisher only (the DRF Master). The success and
        refusal texts are [INF]: the CLI reference names the command, not its output.
        """
        node = self.node
        if len(args) != 2:
            self.output(
                f"{FAILED}\nusage: utils disaster_recovery backup network featurelist device_name\n"
                "  featurelist: comma-separated features (utils disaster_recovery show_registration)\n"
            )
            return
        if not node.is_publisher:
            self.write(
                f"drfCliMsg: Unable to connect to Master Agent host: {node.fqdn}, "
                "the DRF Master runs on the publisher\n"
            )
            return
        got = node.cluster.start_backup([f for f in args[0].split(",") if f], args[1])
        if isinstance(got, str):
            self.output(f"{got}\n{FAILED}\n")
            return
        self.output(
            "drfCliMsg: Backup initiated successfully. Please run 'utils disaster_recovery status backup' "
            "command to see the status\n"
        )

    def _show_myself(self) -> None:
        """``show myself``: the logged-in account [INF: the field spacing; the four fields are Cisco's]."""
        opts = self.opts
        self.output(
            f"Machine Name    : {self.node.fqdn.split('.')[0]}\n"
            f"account name    : {opts.username}\n"
            f"privilege level : {opts.os_admin_privilege}\n"
            "command count   : disabled\n"
            "logging setting : disabled\n"
        )

    def _sso_status(self) -> None:
        if self.node.cluster.sso_enabled:
            self.output(
                "SSO Status: SAML SSO Enabled\nIdP Metadata Imported Date = Fri Apr 09 09:09:00 UTC 2026\n"
                "SP Metadata Exported Date = Fri Apr 02 15:00:42 UTC 2026\n"
                "SSO Test Result Date = Fri Apr 09 09:10:39 UTC 2026\n"
                "SAML SSO Test Status = passed\nRecovery URL Status = enabled\n"
                "Entity ID = http://idp.certops.test/adfs/services/trust\n"
            )
        else:
            self.output("SSO Status: SAML SSO Disabled\n")

    def asks_include_ou(self) -> bool:
        """Whether ``set csr gen`` asks "Include OU in CSR (yes|no)?": 12.5 and 14 before SU1 [INF]."""
        cluster = self.node.cluster
        return cluster.version_tuple < (14, 0) or (cluster.version_tuple == (14, 0) and cluster.service_update < 1)

    def _csr_gen(self, unit: str) -> None:
        node = self.node
        if unit not in node.units:
            self.write(f"Invalid unit: {unit}\n{FAILED}\n")
            return
        ecdsa = unit.endswith("-ECDSA")
        body = {"service": unit, "keyType": "ec" if ecdsa else "rsa", "keyLength": 256 if ecdsa else 2048}
        err, request = certmgr.validate_csr_request(node, body)
        if err is not None:
            self.write(f"{err[1]['message']}\n{FAILED}\n")
            return
        if self.asks_include_ou():
            self.write(INCLUDE_OU)
            answer = self.read_line().strip().lower()
            if answer not in ("yes", "y", "no", "n"):  # a refused answer keeps the pending CSR [INF]
                self.write(f"Invalid input {answer!r}: answer yes or no\n{FAILED}\n")
                return
            request["include_ou"] = answer in ("yes", "y")
        node.add_csr(unit, certmgr.make_pending_csr(node, request))
        self.write(f"Successfully Generated CSR for {unit}.\n")

    def _read_pem(self) -> str:
        """The pasted text: every line up to the first empty one (the "Hit Enter") [INF].

        Reading to the empty line, not to the first ``-----END``, keeps a second pasted
        certificate from being run line by line as commands.
        """
        self.write("Paste the Certificate and Hit Enter\n")
        lines: list[str] = []
        while True:
            line = self.read_line().strip()
            if not line:
                if lines:
                    return "\n".join(lines) + "\n"
                continue
            lines.append(line)

    def _cert_import(self, kind: str, unit: str) -> None:
        node = self.node
        base = unit.removesuffix("-trust")
        if base not in node.units:
            self.write(f"Invalid unit: {unit}\n{FAILED}\n")
            return
        pem = self._read_pem()
        count = pem.count(certmgr.PEM_BEGIN)
        if count > 1:  # refused whole [INF]: nothing imported, nothing of the paste run as a command
            store = f"{base}-trust" if kind == "trust" else base
            node._event("upload_refused", unit=store, detail={"reason": "several_pems", "count": count})
            self.write(
                f"Only one certificate can be imported at a time, but {count} were pasted; "
                f"nothing was imported for {store}. Import each certificate with its own command.\n{FAILED}\n"
            )
            return
        if kind == "trust":
            status, body = certmgr.upload_trust(node, {"service": [base], "certificates": [pem], "description": "CLI"})
            if status == 200:
                self.write(f"Successfully imported certificate for {base}-trust.\n")
            else:
                self.write(f"{body['message']}\n{FAILED}\n")
            return
        pending = node.csrs.get(base)
        release = (*node.cluster.version_tuple, node.cluster.service_update)
        if pending is not None and pending.request.get("distribution") == "multi-server" and release >= (14, 0, 2):
            # 14SU2 guide: a multi-server certificate cannot be uploaded through the CLI [INF: the wording]
            node._event("upload_refused", unit=base, detail={"reason": "multi_server_cli"})
            self.write(
                "Multi-server certificates cannot be imported from the CLI on this release; "
                f"use Cisco Unified OS Administration.\n{FAILED}\n"
            )
            return
        chain = [pem, *self._intermediates_in_trust(base, pem)]
        status, body = certmgr.upload_identity(node, {"service": base, "certificates": chain})
        if status == 200:
            self.write(
                f"Successfully imported certificate for {base}.\n"
                f"Please restart services related to {base} for the new certificate to become active.\n"
            )
        else:
            self.write(f"{body['message']}\n{FAILED}\n")

    def _intermediates_in_trust(self, unit: str, pem: str) -> list[str]:
        """The pasted leaf's issuing CAs below the root, as found in the unit's trust store(s) [INF].

        ``set cert import own`` takes one certificate, so the node builds the chain it serves from
        the CA certificates imported into ``<unit>-trust`` first (the reason Cisco's procedure has
        the intermediates uploaded there before the leaf); a leaf whose chain is not there gets the
        certmgr refusal as on REST.
        """
        try:
            current = pki.load_certificate(pem)
        except ValueError:
            return []
        stores = TRUST_STORES.get(unit, (f"{unit}-trust",))
        certs = [c for store in stores for c in self.node.trust.get(store, {}).values()]
        out: list[str] = []
        for _ in range(8):
            issuer = next((c for c in certs if pki.signed_by(current, c)), None)
            if issuer is None or issuer.issuer == issuer.subject:
                break
            out.append(pki.cert_pem(issuer))
            current = issuer
        return out

    def _sql(self, query: str) -> None:
        try:
            cols, rows = run_sql(self.node.cluster, query)
        except ValueError as exc:
            self.write(f"{exc}\n{FAILED}\n")
            return
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
        lines = [" ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
        lines.append(" ".join("=" * w for w in widths))
        lines += [" ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        self.output("\n".join(lines) + "\n", pager="less")


class _Tape:
    """A channel that keeps what is sent and has nothing to read (for :func:`answer`)."""

    def __init__(self) -> None:
        self.sent = b""

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def recv(self, nbytes: int) -> bytes:
        return b""

    def close(self) -> None:
        return None


def answer(node: SimulatedNode, line: str) -> str:
    """What the simulator prints for ``line`` on ``node``, pagination off (a command that asks a
    question gets no answer). Twins compare it with the captured output."""
    tape = _Tape()
    session = CliSession(node, tape)
    session.paging = False
    with contextlib.suppress(SessionClosed):
        session.command(line)
    return tape.sent.decode(errors="replace").replace("\r\n", "\n")


def trust_file_name(common_name: str) -> str:
    """The file name a trust certificate has in its store: its CN, spaces as ``_``, then ``.pem`` [INF]."""
    return f"{common_name.replace(' ', '_')}.pem"


def cert_details(cert: x509.Certificate) -> str:
    """``show cert own <unit>``: the details block, then the PEM."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_line = f"Key: RSA ({key.key_size} bits) (1.2.840.113549.1.1.1)"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_line = f"Key: EC ({key.curve.name}) (1.2.840.10045.2.1)"
    else:
        key_line = "Key: unknown"
    alg = cert.signature_hash_algorithm.name.upper() if cert.signature_hash_algorithm else "?"
    sig = f"{alg}with{'RSA' if 'RSA' in cert.signature_algorithm_oid._name.upper() else 'ECDSA'}"
    sans = pki.dns_sans(cert)
    lines = [
        "[",
        "  Version: V3",
        f"  Serial Number: {cert.serial_number:X}",
        f"  SignatureAlgorithm: {sig} ({cert.signature_algorithm_oid.dotted_string})",
        f"  Issuer Name: {cert.issuer.rfc4514_string()}",
        f"  Validity From: {pki.java_date(cert.not_valid_before_utc)}",
        f"           To:   {pki.java_date(cert.not_valid_after_utc)}",
        f"  Subject Name: {cert.subject.rfc4514_string()}",
        f"  {key_line}",
        "  Extensions: ",
        f"    SubjectAltName: {', '.join(sans)}",
        "]",
        pki.cert_pem(cert).rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"
