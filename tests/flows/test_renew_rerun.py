"""A renewal that stops (a failure, or a process killed) and is run again continues where it stopped:
no new CSR, no repeated upload, restart or phone reset — asserted with the simulator's event log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from prefect import get_client
from prefect.states import Crashed

from certops.errors import CucmApiError
from certops.renewal.steps import RenewalStopped
from flows.approval import approve_run, pending_approval
from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread, wait_paused

pytestmark = [
    pytest.mark.prefect,
]

ROOT = Path(__file__).resolve().parents[2]


def _count(env, op, key=("node",)):
    return Counter(tuple(e.get(k) for k in key) for e in env.fleet.events() if e["operation"] == op)


def test_rerun_after_an_upload_failure_reuses_the_csrs_and_does_not_upload_twice(make_env):
    env = make_env(ca="auto")
    sub = "cucm-sub1.c1.certops.test"
    env.fleet.set_fault("upload-error", node=sub, times=1)
    with pytest.raises(CucmApiError):
        renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert _count(env, "identity_uploaded") == Counter({(env.pub,): 1})
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.status == "completed"
    assert _count(env, "csr_generated") == Counter({(env.pub,): 1, (sub,): 1})
    assert _count(env, "identity_uploaded") == Counter({(env.pub,): 1, (sub,): 1})


def test_rerun_after_a_failed_restart_repeats_no_restart_that_succeeded(make_env):
    env = make_env(ca="auto")
    env.fleet.set_fault("restart-fails", node=env.pub, service="Cisco Tftp")
    with pytest.raises(RenewalStopped):
        renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    env.fleet.clear_faults()
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.status == "completed"
    restarts = _count(env, "service_restart_started", ("node", "service"))
    assert restarts[(env.pub, "Cisco Tftp")] == 2  # the one that failed, then once more
    assert all(n == 1 for (node, svc), n in restarts.items() if (node, svc) != (env.pub, "Cisco Tftp"))
    assert sum(_count(env, "csr_generated").values()) == 2
    assert sum(_count(env, "identity_uploaded").values()) == 2
    # the phones reset themselves after the first run's uploads (automatic); the rerun watched them
    # come back and reset none
    phones = {p.name for p in env.fleet.cluster("c1").phones}
    assert {e["detail"]["phone"] for e in env.fleet.events(operation="phone_auto_reset")} == phones
    assert sum(_count(env, "phone_reset").values()) == 0
    assert report.phones_outcome is not None and f"{len(phones)}/{len(phones)} back" in report.phones_outcome


def test_rerun_restarts_a_service_whose_restart_request_never_reached_the_node(make_env):
    # The restart is recorded as attempted just before its request; a request lost on its way (or a
    # run killed between the record and the request) leaves the service running with the OLD
    # certificate. The rerun must not take "running" for "restarted": the node's uptime tells.
    env = make_env(ca="auto", fleet={"phone_interaction": "manual"})
    env.fleet.set_fault("restart-lost", node=env.pub, service="Cisco CallManager")
    with pytest.raises(CucmApiError, match="HTTP 503") as first:
        renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert env.fleet.events(operation="restart_request_lost"), first.value
    assert _count(env, "service_restart_started", ("node", "service"))[(env.pub, "Cisco CallManager")] == 0
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.status == "completed"
    restarts = _count(env, "service_restart_started", ("node", "service"))
    assert restarts[(env.pub, "Cisco CallManager")] == 1
    assert all(n == 1 for n in restarts.values()), restarts
    assert all(p.after is not None for p in report.nodes)


def test_rerun_after_phones_timed_out_does_not_reset_them_again(make_env):
    env = make_env(ca="auto")
    env.fleet.set_fault("phones-never-reregister", cluster="c1")
    with pytest.raises(RenewalStopped):
        renew(str(env.inventory_path), "c1", "TVS", settings=FAST.model_copy(update={"registration_timeout": 2.0}))
    env.fleet.clear_faults()
    for phone in env.fleet.cluster("c1").phones:  # a person fixed the phones (e.g. ITL reset)
        env.fleet.cluster("c1").reset_phone(phone)
    resets_before = sum(_count(env, "phone_reset").values())
    report = renew(str(env.inventory_path), "c1", "TVS", settings=FAST)
    assert report.status == "completed"
    assert sum(_count(env, "phone_reset").values()) == resets_before
    assert sum(_count(env, "service_restart_started").values()) == sum(
        1 for e in env.fleet.events() if e["operation"] == "service_restart_started"
    )
    assert sum(_count(env, "csr_generated").values()) == 2


def test_process_killed_while_awaiting_approval_rerun_keeps_the_csrs(make_env, prefect_server):
    env = make_env(ca="person")
    child_env = prefect_server.child_env()
    child_env.update(
        {
            k: os.environ[k]
            for k in ("CUCM_SIM_OS_PASSWORD", "CUCM_SIM_APP_PASSWORD", "CERTOPS_STATE_DIR", "CERTOPS_AUDIT_LOG")
        }
    )
    code = (
        "import sys\n"
        "from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings\n"
        "from certops.renewal.settings import RenewalSettings\n"
        "from flows.renew import renew\n"
        "with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):\n"
        "    renew(sys.argv[1], 'c1', 'tomcat', settings=RenewalSettings.model_validate_json(sys.argv[2]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(env.inventory_path), FAST.model_dump_json()],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = wait_paused(env, timeout=90)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    csrs_before = _count(env, "csr_generated")
    assert sum(csrs_before.values()) == 3
    # what zombie detection does for a run whose process died: mark it Crashed
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(first.id, Crashed(message="process killed"), force=True)
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=FAST)
    second = wait_paused(env, timeout=60)
    assert second.id != first.id
    pending = pending_approval(str(second.id))
    blobs = [env.ca.sign(pem, "tomcat").leaf_pem.encode() for pem in pending.csrs.values()]
    blobs += [p.encode() for p in env.ca.chain_pems]
    assert approve_run(str(second.id), blobs, [f"f{i}" for i in range(len(blobs))], approver="dave") == []
    assert fut.result(timeout=120).status == "completed"
    assert _count(env, "csr_generated") == csrs_before  # no CSR was regenerated
    assert time.monotonic()


def test_every_node_makes_its_csr_at_once_and_one_nodes_failure_keeps_the_others_csrs_for_the_rerun(
    make_env, monkeypatch
):
    import certops.renewal.steps as steps

    env = make_env(ca="auto")
    sub = "cucm-sub1.c1.certops.test"
    real = steps.ensure_csr

    def failing_on_sub(api, **kw):
        if api.fqdn == sub:
            raise CucmApiError("certmgr answered 500 to the CSR request (test)", node=sub, operation="generate CSR")
        return real(api, **kw)

    monkeypatch.setattr(steps, "ensure_csr", failing_on_sub)
    with pytest.raises(CucmApiError, match=sub):
        renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    made = _count(env, "csr_generated")
    assert sub not in {n for (n,) in made} and sum(made.values()) == len(env.node_names()) - 1
    assert _count(env, "identity_uploaded") == Counter()  # nothing uploaded while a node lacked its CSR
    monkeypatch.setattr(steps, "ensure_csr", real)
    assert renew(str(env.inventory_path), "c1", "tomcat", settings=FAST).status == "completed"
    # the rerun made only the missing CSR: the others were recorded although a node failed
    assert _count(env, "csr_generated") == Counter({(n,): 1 for n in env.node_names()})


def test_every_csr_goes_to_the_ca_at_once_and_a_refused_one_does_not_send_the_others_again(make_env, monkeypatch):
    import tasks.renewal as task_mod
    from certops.errors import CaRejected

    env = make_env(ca="auto")
    sub = "cucm-sub1.c1.certops.test"
    real_backend = task_mod.ca_backend
    sent: list[str] = []
    refuse = {sub}

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def submit(self, csr_pem, *, unit, node, cluster):
            sent.append(node)
            if node in refuse:
                raise CaRejected(f"the CA refused the CSR for {unit} on {node} (test)", backend="test")
            return self.inner.submit(csr_pem, unit=unit, node=node, cluster=cluster)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(task_mod, "ca_backend", lambda inv, cluster: Counting(real_backend(inv, cluster)))
    with pytest.raises(CaRejected, match=sub):
        renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert sorted(sent) == sorted(env.node_names())  # every node's CSR was sent, the refusal did not stop them
    assert _count(env, "identity_uploaded") == Counter()  # nothing uploaded while a node lacked its chain
    refuse.clear()
    sent.clear()
    assert renew(str(env.inventory_path), "c1", "tomcat", settings=FAST).status == "completed"
    assert sent == [sub]  # the others' tickets were kept: their CSRs went to the CA once
    assert _count(env, "csr_generated") == Counter({(n,): 1 for n in env.node_names()})


def test_every_node_is_verified_at_once_and_one_that_still_serves_the_old_certificate_is_all_the_rerun_reads(
    make_env, monkeypatch
):
    import certops.renewal.steps as steps
    from certops.errors import VerificationError

    env = make_env(ca="auto")
    real = steps.verify_served
    verified: list[str] = []
    stale = {env.pub}  # the publisher, first in the plan, still serves the old certificate

    def publisher_stale(api, node, unit, *, leaf_fp, old_fp, **kw):
        verified.append(node.fqdn)
        if node.fqdn in stale:
            raise VerificationError(
                "serves the OLD certificate (test)", node=node.fqdn, unit=unit, hint="rerun the renewal"
            )
        return real(api, node, unit, leaf_fp=leaf_fp, old_fp=old_fp, **kw)

    monkeypatch.setattr(steps, "verify_served", publisher_stale)
    with pytest.raises(VerificationError, match=env.pub):
        renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert sorted(verified) == sorted(env.node_names())  # the publisher's failure stopped no other node's check
    restarts = _count(env, "service_restart_started", ("node", "service"))
    stale.clear()
    verified.clear()
    assert renew(str(env.inventory_path), "c1", "tomcat", settings=FAST).status == "completed"
    assert verified == [env.pub]  # the others were recorded verified although the publisher failed
    assert _count(env, "service_restart_started", ("node", "service")) == restarts  # nothing restarted again
