"""A renewal whose process is killed (SIGKILL) at any step continues on rerun: no new CSR, no disruptive
step repeated — proved with real kills of a child process, from the simulator's event log.

Each case starts ``flows.renew.renew`` (CallManager, mixed mode, lab CA: no approval) in a child
process against the test Prefect server and kills it with SIGKILL the moment the simulator records
the chosen event — while the node is still answering the request that made it, so the run never
learns that the step happened on the node (``tests/flows/killed_support.py``). The killed run stays
RUNNING on the server; the test marks it Crashed (what a zombie automation does), then reruns the
same renewal (same cluster, unit and state directory) in this process and checks the event log.

What a rerun may repeat, from the code (``tasks.renewal.restart_service``, docs/renewal.md
"Reruns"): a restart in flight at the kill was recorded as attempted (with the time) before it was
requested; the rerun takes it as done when the node shows the service started after that time
(Control Center's UpTime; so it is not repeated), and restarts it once more when it does not run or
the node cannot tell. Nothing else is repeated.

The CTL update is the one other step a rerun may repeat: it is recorded as attempted before it is
requested, and an unconfirmed one is repeated once (a CTL missing the new certificate in mixed
mode breaks phones; a second update re-signs the same file). A Tomcat restart that died with its
SSH session leaves the node's HTTPS down; the rerun finishes it once, over the CLI, in preflight.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from certops.units import UNITS
from flows.renew import renew
from tests.flows.conftest import FAST, RenewalEnv, served_fingerprint
from tests.flows.killed_support import KillPoint, KillSwitch, mark_crashed, running_run_of, start_child

pytestmark = [pytest.mark.prefect]

PUB = "cucm-pub.c1.certops.test"

SUB = "cucm-sub1.c1.certops.test"

HAPROXY = "Cisco HAProxy"  # restarted over SSH (CLI): the simulator's restart runs in the SSH session


@dataclass(frozen=True)
class Case:
    """Renew ``unit``, SIGKILL at ``point``; ``repeats``: (node, service) the rerun must restart again."""

    unit: str
    point: KillPoint
    sim: dict[str, Any] = field(default_factory=dict)
    repeats: frozenset[tuple[str, str]] = frozenset()
    ctl_repeated: bool = False
    multi_server: bool = False  # the inventory renews the unit as one multi-server certificate


TOMCAT = "Cisco Tomcat"
MANUAL: dict[str, Any] = {"phone_interaction": "manual"}

CASES = {
    "first-csr-generated": Case("CallManager", KillPoint("csr_generated")),
    "second-node-csr-generated": Case("CallManager", KillPoint("csr_generated", nth=2)),
    "first-identity-uploaded": Case("CallManager", KillPoint("identity_uploaded")),
    "second-node-identity-uploaded": Case("CallManager", KillPoint("identity_uploaded", nth=2)),
    "ctl-updated": Case("CallManager", KillPoint("ctl_updated"), ctl_repeated=True),
    # Phone Interaction on Certificate Update manual: certops resets the phones itself
    "first-phone-reset": Case("CallManager", KillPoint("phone_reset"), MANUAL),
    "fourth-phone-reset": Case("TVS", KillPoint("phone_reset", nth=4), MANUAL),
    # automatic (the default): killed while the phones reset themselves; the rerun watches, resets none
    "first-phone-auto-reset": Case("CallManager", KillPoint("phone_auto_reset")),
    "publisher-tomcat-restart-started": Case(
        "tomcat",
        KillPoint("service_restart_started", node=PUB, service=TOMCAT),
        repeats=frozenset({(PUB, TOMCAT)}),
    ),
    "first-trust-uploaded": Case("CallManager", KillPoint("trust_uploaded")),
    "second-trust-uploaded": Case("CallManager", KillPoint("trust_uploaded", nth=2)),
    "publisher-restart-started": Case("CallManager", KillPoint("service_restart_started", node=PUB)),
    "publisher-restart-finished": Case("CallManager", KillPoint("service_restart_finished", node=PUB)),
    "subscriber-restart-started": Case("CallManager", KillPoint("service_restart_started", node=SUB)),
    # a CLI restart dies with its SSH session, so the service never comes back: the rerun finds it
    # attempted and not running, and restarts it once more (docs/renewal.md "Reruns")
    "publisher-cli-restart-started": Case(
        "CallManager",
        KillPoint("service_restart_started", node=PUB, service=HAPROXY),
        repeats=frozenset({(PUB, HAPROXY)}),
    ),
    # the reset task returned and was recorded long before the first phone comes back (2 s)
    "first-phone-registered": Case("TVS", KillPoint("phone_registered"), {"reregister_seconds": 2.0, **MANUAL}),
    # CUCM 12.5: no certmgr REST, so the CSR ('set csr gen') and the uploads ('set cert import') go over
    # the CLI; the rerun finds the CSR with 'show csr own' and the installed leaf with 'show cert own'
    "12.5-second-node-csr-generated-over-the-cli": Case(
        "CallManager", KillPoint("csr_generated", nth=2), {"version": "12.5"}
    ),
    "12.5-first-identity-imported-over-the-cli": Case(
        "CallManager", KillPoint("identity_uploaded"), {"version": "12.5"}
    ),
    # multi-server: killed as the one upload lands on the publisher (the run never sees it, nor the
    # distribution that follows); the rerun uploads nothing again, reads the subscriber until it holds it
    "multi-server-identity-uploaded-on-the-publisher": Case(
        "CallManager", KillPoint("identity_uploaded"), multi_server=True
    ),
}


def _ops(env: RenewalEnv, operation: str) -> list[dict[str, Any]]:
    return [e for e in env.fleet.events() if e["operation"] == operation]


def _kill_at(env: RenewalEnv, unit: str, point: KillPoint, child_env: dict[str, str], log_dir: Any) -> dict[str, Any]:
    """Run the renewal in a child process and SIGKILL it at ``point``; return the event it died at."""
    switch = KillSwitch(env.fleet, point).install()
    log = log_dir / "killed-run.log"
    proc = start_child(env.inventory_path, env.cluster, unit, FAST.model_dump_json(), child_env, log)
    switch.pid = proc.pid
    try:
        # a guard against a hung child only, not a measure: on a busy 2-core box (pytest-xdist workers,
        # other sessions) the child's imports and the steps up to a second node's CSR took over 60 s;
        # this stays below the test's own time limit (pytest-timeout, 300 s) so that the log is shown
        started = time.monotonic()
        deadline = started + 240
        while not switch.fired.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"ended (rc {proc.returncode})" if proc.returncode is not None else "still ran"
                raise AssertionError(
                    f"the renewal {state} after {time.monotonic() - started:.0f} s without reaching {point}:\n"
                    f"{log.read_text()[-3000:]}"
                )
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        switch.uninstall()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert switch.event is not None
    return switch.event


@pytest.mark.parametrize("where", list(CASES))
def test_killed_renewal_continues_on_rerun_without_new_csr_or_repeated_disruptive_step(
    make_env, prefect_server, tmp_path, where
):
    case = CASES[where]
    unit = case.unit
    spec = UNITS[unit]
    env = make_env(
        ca="auto",
        fleet={"phones_per_cluster": 6, "reregister_seconds": 0.3, **case.sim},
        cluster={"multi_server": [unit]} if case.multi_server else None,
    )
    env.fleet.set_fault("mixed-mode", cluster="c1")  # CallManager: the CTL update is one of the steps
    killed_at = _kill_at(env, unit, case.point, prefect_server.child_env(), tmp_path)
    killed = running_run_of(env.inventory_path)  # no process reports it any more
    mark_crashed(killed.id)

    report = renew(str(env.inventory_path), env.cluster, unit, settings=FAST)

    assert report.status == "completed", killed_at
    assert report.run_id != str(killed.id)
    nodes = [n.fqdn for n in report.nodes]
    assert nodes[0] == PUB and SUB in nodes
    # one CSR per node, ever (multi-server: one, on the publisher): the rerun reused what the killed run made
    csr_nodes = [PUB] if case.multi_server else nodes
    assert Counter(e["node"] for e in _ops(env, "csr_generated")) == Counter(csr_nodes)
    # every CA certificate went once into each node's trust store, every identity once
    trust = Counter((e["node"], e["detail"]["common_name"]) for e in _ops(env, "trust_uploaded"))
    assert trust and set(trust.values()) == {1}, trust
    assert {node for node, _ in trust} == set(nodes)
    assert Counter(e["node"] for e in _ops(env, "identity_uploaded")) == Counter(csr_nodes)
    if case.multi_server:  # the other nodes got it from the publisher, once each
        assert Counter(e["node"] for e in _ops(env, "identity_distributed")) == Counter(n for n in nodes if n != PUB)
    ctl = 1 if spec.ctl_update_in_mixed_mode else 0
    assert len(_ops(env, "ctl_updated")) == (2 if case.ctl_repeated else ctl)
    # every service restarted exactly once per node, including one in flight when the process died,
    # unless that restart never completed (then exactly once more)
    restarts = Counter((e["node"], e["service"]) for e in _ops(env, "service_restart_started"))
    assert restarts == Counter({k: 2 if k in case.repeats else 1 for k in restarts}), restarts
    assert case.repeats <= set(restarts)
    assert {node for node, _ in restarts} == set(nodes)
    # each phone reset once (units that reset phones), and every phone registered again
    phones = {p.name for p in env.fleet.cluster("c1").phones}
    resets = Counter(e["detail"]["phone"] for e in _ops(env, "phone_reset"))
    # automatic on 14+ (the simulator's default, as Cisco's): the phones reset themselves, certops none;
    # manual, or 12.5 (no such parameter): certops resets each phone once
    automatic = case.sim.get("phone_interaction", "automatic") == "automatic" and case.sim.get("version") != "12.5"
    certops_resets = spec.reset_phones and not automatic
    assert resets == (Counter(phones) if certops_resets else Counter()), resets
    auto = {e["detail"]["phone"] for e in _ops(env, "phone_auto_reset")}
    assert auto == (phones if spec.reset_phones and automatic else set()), auto
    assert env.fleet.cluster("c1").registered_count() == len(phones)
    # every node serves the new certificate, not the old one
    for n in report.nodes:
        assert n.verified and n.before is not None and n.after is not None
        assert served_fingerprint(env, n.fqdn, unit) == n.after.fingerprint_sha256
        assert n.after.fingerprint_sha256 != n.before.fingerprint_sha256
