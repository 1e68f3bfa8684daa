"""The fault suite: certops driven from the outside, judged only by what the simulated CUCM saw.

Everything certops does here runs in real ``certops`` CLI processes (``certops renew``,
``certops pending``, ``certops approve``) against a real Prefect server and the simulator; the
witness is the simulator's event log, never certops's own reports. Four figures:

- ``overlaps``: CallManager/TVS (ITL group) renewals on one cluster whose activity overlapped:
  the next one made its first CSR before the previous one's last upload, or before every phone
  had registered again after the previous one's phone reset;
- ``repeated_disruptive_steps``: within one renewal (across a kill -9 and its rerun), a node got
  the same identity or trust upload, service restart or CTL update twice, or a phone was reset twice;
- ``uploads_from_bad_input``: uploads before a good chain was offered, or of a certificate from a
  bad chain (weak intermediate, SHA-1 leaf, private key pasted, two leaves, untrusted root);
- ``secrets_found``: (file, secret) pairs where a simulator, Slack or pasted private-key secret
  appears in any file certops wrote: state directory, audit log, lock directory, the Prefect
  server's home (its database and log), captured stdout/stderr, the Slack stand-in's messages.

Used by ``tests/blackbox/test_fault_suite.py`` (10 concurrent starts) and
``benchmarks/fault_suite.py`` (50, prints the figure line, never asserts).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions
from simulator.slack import SlackServer

REPO = Path(__file__).resolve().parents[2]
CERTOPS = [str(Path(sys.executable).parent / "certops")]

OS_PASSWORD = "fs-os-Zq8vT3nW"
APP_PASSWORD = "fs-app-Kp4xR7mY"
SLACK_TOKEN = "xoxb-fault-suite-9J2hL6sD"

ITL_GROUP = ("CallManager", "CallManager-ECDSA", "TVS", "ITLRecovery")
PHONE_RESETS = ("phone_reset", "phone_auto_reset")  # asked for by certops, or the phones' own (automatic)

# short waits for the simulator (the product defaults are for real clusters); certops renew reads them
SETTINGS: dict[str, Any] = {
    "lock_wait_timeout": 600,
    "lock_poll": 1.0,
    "drf_wait_timeout": 60,
    "drf_poll": 0.5,
    "restart_timeout": 30,
    "restart_poll": 0.2,
    "phone_batch_size": 10,
    "phone_batch_pause": 0.0,
    "registration_timeout": 60,
    "registration_interval": 0.5,
    "ris_requests_per_minute": 15,
    "ca_poll_interval": 0.1,
    "ca_poll_timeout": 30,
    "approval_poll_interval": 0.5,
}


@dataclass
class Figures:
    """The fault suite's four figures (None: not measured by this scenario)."""

    overlaps: int | None = None
    repeated_disruptive_steps: int | None = None
    uploads_from_bad_input: int | None = None
    secrets_found: int | None = None
    runs_failed: int = 0  # renewals that did not complete (every node's new identity in the event log)
    notes: list[str] = field(default_factory=list)

    def line(self, label: str = "fault-suite") -> str:
        """``fault-suite: overlaps=0 repeated_disruptive_steps=0 uploads_from_bad_input=0 secrets_found=0``."""

        def v(x: int | None) -> str:
            return "-" if x is None else str(x)

        return (
            f"{label}: overlaps={v(self.overlaps)} repeated_disruptive_steps={v(self.repeated_disruptive_steps)} "
            f"uploads_from_bad_input={v(self.uploads_from_bad_input)} secrets_found={v(self.secrets_found)} "
            f"runs_failed={self.runs_failed}"
        )

    def add(self, other: Figures) -> Figures:
        """Sum two sets of figures (None + None stays None)."""

        def s(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Figures(
            s(self.overlaps, other.overlaps),
            s(self.repeated_disruptive_steps, other.repeated_disruptive_steps),
            s(self.uploads_from_bad_input, other.uploads_from_bad_input),
            s(self.secrets_found, other.secrets_found),
            self.runs_failed + other.runs_failed,
            [*self.notes, *other.notes],
        )


# --- the world: simulator, inventory, Slack stand-in, environment of the certops processes ---------


@dataclass
class Cli:
    """One ``certops`` process; its stdout and stderr go to files (scanned for secrets)."""

    name: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def wait(self, timeout: float) -> int:
        """Wait for the process; kill it past ``timeout`` (then AssertionError with its output)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"{self.name} did not end within {timeout:.0f} s:\n{self.text()[-3000:]}") from None

    def text(self) -> str:
        """stdout then stderr."""
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


@dataclass
class World:
    """One scenario's simulator, files and certops processes."""

    root: Path
    fleet: SimulatedFleet
    inventory: Path
    env: dict[str, str]
    slack: SlackServer
    prefect_home: Path
    secrets: dict[str, str] = field(default_factory=dict)
    clis: list[Cli] = field(default_factory=list)

    def certops(self, *args: str, name: str) -> Cli:
        """Start ``certops ARGS`` with this world's environment."""
        out_dir = self.root / "captured"
        out_dir.mkdir(exist_ok=True)
        out, err = out_dir / f"{name}.out", out_dir / f"{name}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen([*CERTOPS, *args], cwd=REPO, env=self.env, stdout=o, stderr=e)
        cli = Cli(name, proc, out, err)
        self.clis.append(cli)
        return cli

    def renew(self, cluster: str, unit: str, *, name: str | None = None) -> Cli:
        """``certops renew -i INVENTORY -c CLUSTER -u UNIT``."""
        return self.certops(
            "renew", "-i", str(self.inventory), "-c", cluster, "-u", unit, name=name or f"renew-{cluster}-{unit}"
        )

    def run(self, *args: str, name: str, timeout: float = 120.0) -> tuple[int, str]:
        """Run ``certops ARGS`` to its end; (exit code, stdout + stderr)."""
        cli = self.certops(*args, name=name)
        return cli.wait(timeout), cli.text()

    def events(self) -> list[dict[str, Any]]:
        """The simulator's event log so far."""
        return self.fleet.events()

    def close(self) -> None:
        """Stop what this world started (processes still running are killed)."""
        for c in self.clis:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait(timeout=10)
        self.fleet.stop()
        self.slack.stop()
        keep = os.environ.get("FS_KEEP_DIR")  # keep every file of the scenario (event log, outputs) to look at
        if keep:
            import shutil

            shutil.copytree(self.root, Path(keep) / f"{self.root.name}-{int(time.time())}", dirs_exist_ok=True)


def build_world(
    root: Path,
    prefect_env: dict[str, str],
    prefect_home: Path,
    *,
    clusters: int,
    nodes: int = 2,
    phones: int = 4,
    ca: str = "lab",
    mixed_mode: bool = True,
    fleet_options: dict[str, Any] | None = None,
) -> World:
    """Start the simulator (``clusters`` x ``nodes``) and the Slack stand-in; write the inventory."""
    root.mkdir(parents=True, exist_ok=True)
    opts = FleetOptions(
        clusters=clusters,
        nodes=nodes,
        username="admin",
        password=OS_PASSWORD,
        app_username="ccmadmin",
        app_password=APP_PASSWORD,
        restart_seconds=0.2,
        tomcat_restart_seconds=0.3,
        phones_per_cluster=phones,
        reregister_seconds=0.3,
        cli_banner_seconds=0.0,
        state_dir=root / "sim",
        **(fleet_options or {}),
    )
    fleet = SimulatedFleet(opts).start()
    slack = SlackServer(token=SLACK_TOKEN).start()
    inv = fleet.inventory_dict(password_env="FS_OS_PASSWORD", app_password_env="FS_APP_PASSWORD")
    inv["ca_backends"] = {
        "lab": {"type": "lab", "directory": str(root / "lab-ca")},
        "manual": {"type": "manual", "instructions": "the corporate CA portal"},
    }
    inv["defaults"]["ca"] = ca
    inv["notifications"] = {"slack": {"token_env": "FS_SLACK_TOKEN", "channel": "#uc-certs", "base_url": slack.api_url}}
    path = root / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    if ca == "lab":  # the nodes will serve certificates of the lab CA: certops verifies them with it
        from certops.ca.local import LabCa

        with fleet.ca_bundle_path.open("a") as fh:
            fh.write(LabCa(root / "lab-ca").root_pem)
    if mixed_mode:
        fleet.set_fault("mixed-mode")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CERTOPS_", "CUCM_"))}
    env.update(prefect_env)
    env.update(
        {
            "FS_OS_PASSWORD": OS_PASSWORD,
            "FS_APP_PASSWORD": APP_PASSWORD,
            "FS_SLACK_TOKEN": SLACK_TOKEN,
            "CERTOPS_STATE_DIR": str(root / "state"),
            "CERTOPS_AUDIT_LOG": str(root / "audit.jsonl"),
            "CERTOPS_LOCK_DIR": str(root / "locks"),
            "CERTOPS_RENEWAL_SETTINGS": json.dumps({**SETTINGS, **json.loads(os.environ.get("FS_SETTINGS", "{}"))}),
            "PREFECT_HOME": str(root / "prefect-client"),  # results and local settings of the certops processes
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    secrets = {
        "simulator OS admin password": OS_PASSWORD,
        "simulator application user password": APP_PASSWORD,
        "Slack bot token": SLACK_TOKEN,
        "OS admin Basic credentials": base64.b64encode(f"admin:{OS_PASSWORD}".encode()).decode(),
        "application user Basic credentials": base64.b64encode(f"ccmadmin:{APP_PASSWORD}".encode()).decode(),
    }
    return World(root, fleet, path, env, slack, prefect_home, secrets)


# --- the figures, from the event log --------------------------------------------------------------


@dataclass
class Span:
    """One renewal of ``unit`` on ``cluster`` in the event log: from its first CSR to the next renewal."""

    cluster: str
    unit: str
    start: int
    last_own: int  # the last event tagged with this unit (CSR, trust or identity upload)
    end: int = -1  # exclusive: where the next renewal on the cluster starts (or the end of the log)


def _unit_of(event: dict[str, Any]) -> str | None:
    if event["operation"] in ("csr_generated", "identity_uploaded"):
        return str(event["unit"])
    if event["operation"] == "trust_uploaded" and event["unit"]:
        return str(event["unit"]).removesuffix("-trust")
    return None


def spans(events: list[dict[str, Any]]) -> list[Span]:
    """Every renewal per cluster and unit, in order of their first CSR."""
    out: dict[tuple[str, str], Span] = {}
    for i, e in enumerate(events):
        unit = _unit_of(e)
        if unit is None:
            continue
        key = (e["cluster"], unit)
        if key not in out:
            if e["operation"] != "csr_generated":
                continue
            out[key] = Span(e["cluster"], unit, i, i)
        out[key].last_own = i
    ordered = sorted(out.values(), key=lambda s: s.start)
    for s in ordered:
        later = [o.start for o in ordered if o.cluster == s.cluster and o.start > s.start]
        s.end = min(later) if later else len(events)
    return ordered


def count_overlaps(events: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Pairs of ITL-group renewals on one cluster that overlapped (see the module docstring)."""
    found: list[str] = []
    group = [s for s in spans(events) if s.unit in ITL_GROUP]
    for a in group:
        for b in group:
            if a is b or a.cluster != b.cluster or b.start < a.start:
                continue
            if b.start <= a.last_own:
                found.append(f"{a.cluster}: {b.unit} made a CSR before {a.unit}'s last upload")
                continue
            between = [e for e in events[a.last_own : b.start] if e["cluster"] == a.cluster]
            # a reset certops asked for, or the phones' own after the upload (automatic)
            if not any(e["operation"] in PHONE_RESETS for e in between):
                found.append(f"{a.cluster}: {b.unit} started before {a.unit}'s phones reset")
                continue
            last_reset = {e["detail"]["phone"]: i for i, e in enumerate(between) if e["operation"] in PHONE_RESETS}
            back = {
                phone
                for phone, at in last_reset.items()
                if any(
                    e["operation"] == "phone_registered" and e["detail"]["phone"] == phone for e in between[at + 1 :]
                )
            }
            if set(last_reset) != back:
                found.append(f"{a.cluster}: {b.unit} started before every phone registered again after {a.unit}")
    return len(found), found


def _disruptive_key(e: dict[str, Any]) -> tuple[Any, ...] | None:
    op = e["operation"]
    if op == "identity_uploaded":
        return ("identity", e["node"], e["unit"])
    if op == "trust_uploaded":
        return ("trust", e["node"], e["unit"], e["detail"]["common_name"])
    if op == "service_restart_started":
        return ("restart", e["node"], e["service"])
    if op == "ctl_updated":
        return ("ctl", e["node"])
    if op == "phone_reset":
        return ("reset", e["cluster"], e["detail"]["phone"])
    return None


def count_repeats(events: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Disruptive steps a node (or phone) got twice within one renewal."""
    found: list[str] = []
    total = 0
    for s in spans(events):
        own = [e for e in events[s.start : s.end] if e["cluster"] == s.cluster]
        counts = Counter(k for e in own if (k := _disruptive_key(e)) is not None)
        twice = {k: n for k, n in counts.items() if n > 1}
        if twice:
            total += sum(n - 1 for n in twice.values())
            found += [f"{s.cluster} {s.unit} (events {s.start}-{s.end}): {k} x{n}" for k, n in twice.items()]
            found += [
                f"    {e['time']} {e['operation']} {e['node']} {e['unit'] or ''} {e['service'] or ''}"
                for e in own
                if e["operation"] not in ("platform_locked",)
            ]
    return total, found


def uploads_of(events: Iterable[dict[str, Any]], cluster: str | None = None) -> list[dict[str, Any]]:
    """Trust and identity uploads (of ``cluster``)."""
    return [
        e
        for e in events
        if e["operation"] in ("trust_uploaded", "identity_uploaded") and (cluster is None or e["cluster"] == cluster)
    ]


def count_secrets(world: World, extra_roots: Iterable[Path] = ()) -> tuple[int, list[str]]:
    """(file, secret) pairs: every file certops wrote, captured output and the Slack stand-in's messages."""
    roots = [
        world.root / "state",
        world.root / "audit.jsonl",
        world.root / "locks",
        world.root / "captured",
        world.root / "prefect-client",
        world.prefect_home,
        *extra_roots,
    ]
    files: list[Path] = []
    for r in roots:
        if r.is_file():
            files.append(r)
        elif r.is_dir():
            files += [p for p in r.rglob("*") if p.is_file()]
    needles = {name: value.encode() for name, value in world.secrets.items()}
    found: list[str] = []
    canary = str(world.inventory).encode()  # every flow run's parameters name it: proves the database was read
    canary_seen = False
    for f in files:
        try:
            data = f.read_bytes()
        except OSError:
            continue
        found += [f"{name} in {f}" for name, needle in needles.items() if needle in data]
        canary_seen = canary_seen or (f.is_relative_to(world.prefect_home) and canary in data)
    if not canary_seen:
        raise AssertionError(f"the Prefect server's database under {world.prefect_home} was not among the files read")
    slack_text = [m.all_text() for m in world.slack.messages] + [
        (f.content or b"").decode(errors="replace") for f in world.slack.files.values()
    ]
    for i, text in enumerate(slack_text):
        found += [f"{name} in Slack message {i}" for name, value in world.secrets.items() if value in text]
    return len(found), found


# --- kill -9 at an exact point of the event log ------------------------------------------------------


@dataclass(frozen=True)
class KillAt:
    """SIGKILL the renewal of ``cluster`` at its ``nth`` event ``operation`` (optionally on ``node``)."""

    cluster: str
    operation: str
    nth: int = 1
    node: str | None = None


class Killer:
    """Hooks the simulator's event log; SIGKILLs a process while the node handles the matching request."""

    def __init__(self, fleet: SimulatedFleet) -> None:
        self.fleet = fleet
        self.targets: dict[str, tuple[KillAt, int]] = {}
        self.seen: Counter[str] = Counter()
        self.fired: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        assert fleet.runtime is not None
        log = fleet.runtime.events
        original = log.add

        def add(*args: Any, **kwargs: Any) -> dict[str, Any]:
            event = original(*args, **kwargs)
            with self.lock:
                target = self.targets.get(event["cluster"])
                if target is not None and event["cluster"] not in self.fired:
                    point, pid = target
                    if event["operation"] == point.operation and point.node in (None, event["node"]):
                        self.seen[event["cluster"]] += 1
                        if self.seen[event["cluster"]] == point.nth:
                            os.kill(pid, signal.SIGKILL)
                            self.fired[event["cluster"]] = event
            return event

        log.add = add  # type: ignore[method-assign]

    def arm(self, point: KillAt, pid: int) -> None:
        """Kill ``pid`` at ``point``."""
        with self.lock:
            self.targets[point.cluster] = (point, pid)

    def uninstall(self) -> None:
        """Put the event log back."""
        assert self.fleet.runtime is not None
        del self.fleet.runtime.events.add


def mark_crashed_runs(prefect_env: dict[str, str], clusters: set[str], inventory: Path) -> int:
    """What zombie detection does: the RUNNING renewal runs of ``inventory`` whose process died -> Crashed."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    n = 0
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(flow_run_filter=flt):
            p = run.parameters
            if p.get("inventory_path") == str(inventory) and p.get("cluster") in clusters:
                client.set_flow_run_state(run.id, Crashed(message="process killed (SIGKILL)"), force=True)
                n += 1
    return n


# --- bad chains -----------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FS")])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class SuiteCa:
    """A root and an intermediate (optionally weak) that sign CSRs like a corporate CA."""

    def __init__(self, label: str, *, intermediate_bits: int = 2048, root_key: Any = None) -> None:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        self.root_key = root_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root_name = _name(f"{label} Root")
        self.root = self._ca(self.root_name, self.root_name, self.root_key.public_key(), self.root_key, None, now)
        self.int_key = rsa.generate_private_key(public_exponent=65537, key_size=intermediate_bits)
        self.intermediate = self._ca(
            _name(f"{label} Issuing"), self.root_name, self.int_key.public_key(), self.root_key, 0, now
        )

    @staticmethod
    def _ca(subject: x509.Name, issuer: x509.Name, public: Any, signer: Any, path: int | None, now: Any) -> Any:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(signer, hashes.SHA256())
        )

    def leaf(self, csr_pem: str, unit: str, *, sha1: bool = False) -> x509.Certificate:
        """Sign the CSR for ``unit`` (key usages from the unit table, SANs kept); ``sha1``: a SHA-1 signature."""
        from tests.flows.support import unit_leaf_builder

        csr = x509.load_pem_x509_csr(csr_pem.encode())
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        builder = unit_leaf_builder(csr, unit, self.intermediate.subject, self.int_key.public_key(), now)
        try:
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        except x509.ExtensionNotFound:
            pass
        leaf = builder.sign(self.int_key, hashes.SHA256())
        if sha1:  # cryptography refuses to sign with SHA-1: re-sign the same certificate the old way
            from certops.x509.legacy import legacy_sign

            return legacy_sign(leaf, self.int_key, "sha1")
        return leaf

    def chain_pems(self) -> list[str]:
        """Intermediate then root."""
        return [_pem(self.intermediate), _pem(self.root)]


@dataclass
class BadOffer:
    """One bad input: its files' text and the serials of the certificates in it that must never be uploaded."""

    kind: str
    text: str
    serials: set[str]
    key_body: str | None = None  # a line of a pasted private key (searched for as a secret)


def _serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def bad_offers(good: SuiteCa, csrs: dict[str, str], unit: str) -> list[BadOffer]:
    """The five bad chains for the CSRs of one renewal (node -> CSR PEM)."""
    offers: list[BadOffer] = []
    weak = SuiteCa("FS Weak", intermediate_bits=1024, root_key=good.root_key)
    leaves = [weak.leaf(c, unit) for c in csrs.values()]
    offers.append(
        BadOffer(
            "weak intermediate",
            "".join(_pem(x) for x in leaves) + "".join(weak.chain_pems()),
            {_serial(x) for x in leaves} | {_serial(weak.intermediate)},
        )
    )
    leaves = [good.leaf(c, unit, sha1=True) for c in csrs.values()]
    offers.append(
        BadOffer(
            "SHA-1 leaf", "".join(_pem(x) for x in leaves) + "".join(good.chain_pems()), {_serial(x) for x in leaves}
        )
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    leaves = [good.leaf(c, unit) for c in csrs.values()]
    offers.append(
        BadOffer(
            "private key pasted",
            "".join(_pem(x) for x in leaves) + key_pem + "".join(good.chain_pems()),
            {_serial(x) for x in leaves},
            key_body=key_pem.splitlines()[3],
        )
    )
    first = next(iter(csrs.values()))
    twins = [good.leaf(first, unit), good.leaf(first, unit)]
    others = [good.leaf(c, unit) for c in list(csrs.values())[1:]]
    offers.append(
        BadOffer(
            "two leaves",
            "".join(_pem(x) for x in [*twins, *others]) + "".join(good.chain_pems()),
            {_serial(x) for x in [*twins, *others]},
        )
    )
    impostor = SuiteCa("FS Impostor")  # a root of the same name as the real one, which signed nothing here
    impostor_root = SuiteCa._ca(
        good.root_name,
        good.root_name,
        impostor.root_key.public_key(),
        impostor.root_key,
        None,
        dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
    )
    leaves = [good.leaf(c, unit) for c in csrs.values()]
    offers.append(
        BadOffer(
            "untrusted root",
            "".join(_pem(x) for x in leaves) + _pem(good.intermediate) + _pem(impostor_root),
            {_serial(x) for x in leaves} | {_serial(impostor_root)},
        )
    )
    return offers


def good_offer(good: SuiteCa, csrs: dict[str, str], unit: str) -> str:
    """Every node's leaf, the intermediate and the root."""
    return "".join(_pem(good.leaf(c, unit)) for c in csrs.values()) + "".join(good.chain_pems())


def pending_csrs(fleet: SimulatedFleet, cluster: str, unit: str) -> dict[str, str]:
    """The CSRs pending on the nodes for ``unit`` (what a person downloads from each node)."""
    out: dict[str, str] = {}
    for n in fleet.cluster(cluster).nodes:
        pending = n.csrs.get(unit)
        if pending is not None:
            out[n.fqdn] = pending.csr.public_bytes(serialization.Encoding.PEM).decode()
    return out


def wait_for(what: str, check: Callable[[], Any], timeout: float, poll: float = 0.3) -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what`` past ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(poll)
