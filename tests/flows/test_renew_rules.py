"""The rules a renewal never breaks, proven against the simulator on a real Prefect server."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from prefect.flow_runs import resume_flow_run

from certops import audit
from certops.errors import PolicyViolation
from certops.renewal.steps import RenewalStopped
from flows.renew import renew
from tests.flows.conftest import FAST, read_run, start_in_thread, wait_paused

pytestmark = [
    pytest.mark.prefect,
]


def _ops(env, op, **match):
    return [e for e in env.fleet.events() if e["operation"] == op and all(e.get(k) == v for k, v in match.items())]


def _pending_csrs(env, unit):
    return {n.fqdn: n.csrs[unit].pem for n in env.fleet.cluster("c1").nodes if unit in n.csrs}


def _chain_for_all(env, unit, **kw):
    parts = []
    for pem in _pending_csrs(env, unit).values():
        signed = env.ca.sign(pem, unit, **kw)
        parts.append(signed.leaf_pem)
    return "".join(parts) + "".join(env.ca.chain_pems)


def test_callmanager_and_tvs_started_together_never_overlap(make_env):
    env = make_env(ca="auto")
    for _round in range(2):
        a = start_in_thread(renew, str(env.inventory_path), "c1", "CallManager", settings=FAST)
        b = start_in_thread(renew, str(env.inventory_path), "c1", "TVS", settings=FAST)
        assert a.result(timeout=120).status == "completed"
        assert b.result(timeout=120).status == "completed"
    events = env.fleet.events()
    # split the event log into renewals: a CSR after the previous renewal's uploads starts a new one
    segments: list[dict] = []
    for i, e in enumerate(events):
        if e["operation"] == "csr_generated":
            if not segments or segments[-1]["uploaded"]:
                segments.append({"start": i, "unit": e["unit"], "uploaded": False})
            assert e["unit"] == segments[-1]["unit"], f"{e['unit']} CSR inside a {segments[-1]['unit']} renewal"
        if e["operation"] == "identity_uploaded":
            assert e["unit"] == segments[-1]["unit"], f"{e['unit']} upload inside a {segments[-1]['unit']} renewal"
            segments[-1]["uploaded"] = True
    assert sorted(s["unit"] for s in segments) == ["CallManager", "CallManager", "TVS", "TVS"]
    phones = len(env.fleet.cluster("c1").phones)
    # each renewal starts only once every phone re-registered after the previous renewal's reset
    for prev, nxt in itertools.pairwise(segments):
        between = events[prev["start"] : nxt["start"]]
        # the phones reset themselves (automatic, the simulator's default): certops watched, reset none
        assert not any(e["operation"] == "phone_reset" for e in between)
        reset_at = max(i for i, e in enumerate(between) if e["operation"] == "phone_auto_reset")
        registered = {e["detail"]["phone"] for e in between[reset_at:] if e["operation"] == "phone_registered"}
        assert len(registered) == phones


def test_sso_enabled_refuses_tomcat_with_instructions_and_changes_nothing(make_env):
    env = make_env(ca="auto")
    env.fleet.set_fault("sso", cluster="c1")
    with pytest.raises(PolicyViolation) as err:
        renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert "SAML SSO is enabled" in str(err.value) and "disable SAML SSO" in str(err.value)
    assert _ops(env, "csr_generated") == [] and _ops(env, "identity_uploaded") == []


def test_mixed_mode_updates_the_ctl_on_the_publisher_once_before_any_restart(make_env):
    env = make_env(ca="auto")
    env.fleet.set_fault("mixed-mode", cluster="c1")
    report = renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    assert report.ctl_updated
    events = env.fleet.events()
    ctl = [i for i, e in enumerate(events) if e["operation"] == "ctl_updated"]
    restarts = [i for i, e in enumerate(events) if e["operation"] == "service_restart_started"]
    assert len(ctl) == 1 and events[ctl[0]]["node"] == env.pub
    assert ctl[0] < min(restarts)
    # TVS does not update the CTL, even in mixed mode
    renew(str(env.inventory_path), "c1", "TVS", settings=FAST)
    assert len(_ops(env, "ctl_updated")) == 1


def test_failed_restart_stops_before_the_next_node_and_says_where(make_env):
    env = make_env(ca="auto", fleet={"phone_interaction": "manual"})  # else the phones reset themselves
    env.fleet.set_fault("restart-fails", node=env.pub, service="Cisco Tftp")
    with pytest.raises(RenewalStopped) as err:
        renew(str(env.inventory_path), "c1", "CallManager", settings=FAST)
    msg = str(err.value)
    assert env.pub in msg and "Cisco Tftp" in msg and "cucm-sub1.c1.certops.test" in msg
    subs = [e for e in _ops(env, "service_restart_started") if e["node"] != env.pub]
    assert subs == []
    assert _ops(env, "phone_reset") == []


def test_phones_that_never_reregister_fail_the_run_loudly(make_env):
    env = make_env(ca="auto")
    env.fleet.set_fault("phones-never-reregister", cluster="c1")
    settings = FAST.model_copy(update={"registration_timeout": 3.0})
    with pytest.raises(RenewalStopped, match=r"only 0 of 6 phones re-registered"):
        renew(str(env.inventory_path), "c1", "TVS", settings=settings)


def test_slow_phone_reregistration_is_waited_for(make_env):
    env = make_env(ca="auto", fleet={"reregister_seconds": 2.5})
    report = renew(str(env.inventory_path), "c1", "CAPF", settings=FAST)
    assert report.status == "completed" and report.phones_baseline == 6
    assert len(_ops(env, "phone_registered")) >= 6


def test_drf_backup_starting_while_waiting_for_approval_delays_the_ipsec_uploads(make_env):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "ipsec", settings=FAST)
    run = wait_paused(env)
    env.fleet.set_fault("drf-backup", cluster="c1", seconds=2.0)
    resume_flow_run(run.id, run_input={"chain_pem": _chain_for_all(env, "ipsec"), "approver": "alice"})
    report = fut.result(timeout=120)
    assert report.status == "completed" and report.approver == "alice"
    events = env.fleet.events()
    finished = max(i for i, e in enumerate(events) if e["operation"] == "drf_backup_finished")
    uploads = [i for i, e in enumerate(events) if e["operation"] in ("trust_uploaded", "identity_uploaded")]
    assert uploads and min(uploads) > finished


def test_drf_backup_starting_between_two_ipsec_restarts_delays_the_next_restart_until_it_ends(make_env, monkeypatch):
    from certops.renewal import steps

    env = make_env(ca="auto")
    real = steps.restart_and_confirm
    started: list[str] = []

    def first_then_backup(api, name, *args, **kwargs):
        took = real(api, name, *args, **kwargs)
        if not started:  # an operator starts a DRF backup right after the first restart
            env.fleet.set_fault("drf-backup", cluster="c1", seconds=2.0)
        started.append(name)
        return took

    monkeypatch.setattr(steps, "restart_and_confirm", first_then_backup)
    report = renew(str(env.inventory_path), "c1", "ipsec", settings=FAST)
    assert report.status == "completed"
    events = env.fleet.events()
    restarts = [i for i, e in enumerate(events) if e["operation"] == "service_restart_started"]
    began = min(i for i, e in enumerate(events) if e["operation"] == "drf_backup_started")
    finished = max(i for i, e in enumerate(events) if e["operation"] == "drf_backup_finished")
    assert len(restarts) > 1 and restarts[0] < began
    assert min(restarts[1:]) > finished  # no restart while the backup ran


def test_wrong_chain_is_refused_with_reasons_and_asked_again_nothing_uploaded(make_env):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=FAST)
    run = wait_paused(env)
    bad = _chain_for_all(env, "tomcat", extra_san="not-requested.example.com")
    resume_flow_run(run.id, run_input={"chain_pem": bad, "approver": "bob"})
    again = wait_paused(env, not_key=run.state.state_details.pause_key)
    assert again.id == run.id
    assert _ops(env, "identity_uploaded") == [] and _ops(env, "trust_uploaded") == []
    records = [r for r in audit.read(env.audit_path) if r.operation == "approval_rejected"]
    assert records and "not-requested.example.com" in records[0].detail
    resume_flow_run(run.id, run_input={"chain_pem": _chain_for_all(env, "tomcat"), "approver": "bob"})
    assert fut.result(timeout=120).status == "completed"
    assert len(_ops(env, "csr_generated")) == 3  # the CSRs were not regenerated for the second attempt


def test_denial_ends_the_run_cancelled_with_the_reason_and_nothing_uploaded(make_env):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "CAPF", settings=FAST, return_state=True)
    run = wait_paused(env)
    resume_flow_run(run.id, run_input={"decision": "deny", "approver": "carol", "comment": "wrong CA profile"})
    state = fut.result(timeout=60)
    assert state.is_cancelled() and "wrong CA profile" in state.message
    assert _ops(env, "identity_uploaded") == []
    deny = [r for r in audit.read(env.audit_path) if r.operation == "deny"]
    assert deny and deny[0].who == "carol" and deny[0].detail == "wrong CA profile"
    # the lock is free again: another CAPF renewal can start at once
    env2 = renew(
        str(env.inventory_path),
        "c1",
        "CAPF",
        settings=FAST.model_copy(update={"on_busy": "refuse"}),
        approval_timeout_days=1 / 86400,
        return_state=True,
    )
    assert "deadline" in env2.message


def test_approval_deadline_fails_the_run_with_a_clear_message(make_env):
    env = make_env(ca="person")
    t0 = time.monotonic()
    state = renew(
        str(env.inventory_path), "c1", "tomcat", settings=FAST, approval_timeout_days=3 / 86400, return_state=True
    )
    assert state.is_failed()
    assert "nobody approved by the deadline" in state.message or "deadline" in state.message
    assert time.monotonic() - t0 < 60
    assert _ops(env, "identity_uploaded") == []
    assert read_run(state.state_details.flow_run_id).state.is_failed()
    assert dt.datetime.now(dt.UTC)


def test_outside_the_maintenance_window_nothing_is_uploaded_unless_the_expiry_is_urgent(make_env):
    now = dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(hours=3)).time().replace(second=0, microsecond=0)
    end = (now + dt.timedelta(hours=4)).time().replace(second=0, microsecond=0)
    env = make_env(ca="auto", cluster={"maintenance_windows": [{"start": start.isoformat(), "end": end.isoformat()}]})
    settings = FAST.model_copy(update={"window_wait": False})
    with pytest.raises(PolicyViolation, match="outside the maintenance windows"):
        renew(str(env.inventory_path), "c1", "tomcat", settings=settings)  # tomcat expires in 20 days
    assert _ops(env, "identity_uploaded") == [] and _ops(env, "trust_uploaded") == []
    import yaml

    inv = yaml.safe_load(env.inventory_path.read_text())
    inv["defaults"]["policy"] = {"urgent_days": 30}
    env.inventory_path.write_text(yaml.safe_dump(inv))
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=settings)
    assert report.status == "completed"
    assert len(_ops(env, "csr_generated")) == 3  # the second run reused the first run's CSRs


def test_outside_the_window_the_run_waits_for_it_and_changes_nothing_before_it_opens(make_env):
    opens = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=6)
    closes = opens + dt.timedelta(hours=1)
    window = {"start": opens.time().isoformat(), "end": closes.time().isoformat(), "timezone": "UTC"}
    env = make_env(ca="auto", cluster={"maintenance_windows": [window]})
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)  # expires in 20 days: not urgent
    assert report.status == "completed"
    changes = _ops(env, "trust_uploaded") + _ops(env, "identity_uploaded") + _ops(env, "service_restart_started")
    assert changes
    assert min(dt.datetime.fromisoformat(e["time"]) for e in changes) >= opens


def test_sso_wait_for_person_pauses_until_a_person_confirms_sso_is_disabled(make_env):
    env = make_env(ca="auto", policy={"sso_policy": "wait_for_person"})
    env.fleet.set_fault("sso", cluster="c1")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "tomcat", settings=FAST)
    run = wait_paused(env)
    assert run.state.state_details.pause_key == "sso-1"
    assert _ops(env, "csr_generated") == []
    env.fleet.cluster("c1").set_sso(False)
    resume_flow_run(run.id, run_input={"confirm": "SSO is disabled", "approver": "frank"})
    assert fut.result(timeout=120).status == "completed"
    records = [r for r in audit.read(env.audit_path) if r.operation == "sso_confirmed_disabled"]
    assert [r.who for r in records] == ["frank"]


def test_tomcat_refused_before_any_upload_when_the_pinned_ca_bundle_lacks_the_new_root(make_env):
    env = make_env(ca="auto")
    bundle = env.fleet.ca_bundle_path
    original = bundle.read_text()
    bundle.write_text(original.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")  # sim CA only
    with pytest.raises(PolicyViolation, match="does not contain"):
        renew(str(env.inventory_path), "c1", "tomcat", settings=FAST)
    assert _ops(env, "identity_uploaded") == [] and _ops(env, "trust_uploaded") == []
    bundle.write_text(original)
    assert renew(str(env.inventory_path), "c1", "tomcat", settings=FAST).status == "completed"
    assert len(_ops(env, "csr_generated")) == 3


def _run_messages(run_id):
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200)
    return [entry.message for entry in logs]


def test_a_run_waiting_for_the_maintenance_window_says_what_since_when_at_most_how_long_and_when_it_opened(make_env):
    # 45 s out: preflight, CSRs and the lab CA's signature finish well before it even on a busy machine
    opens = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=45)
    window = {"start": opens.time().isoformat(), "end": (opens + dt.timedelta(hours=1)).time().isoformat()}
    env = make_env(ca="auto", cluster={"maintenance_windows": [{**window, "timezone": "UTC"}]})
    settings = FAST.model_copy(update={"wait_progress_interval": 10.0})
    report = renew(str(env.inventory_path), "c1", "tomcat", settings=settings)
    assert report.status == "completed"
    messages = _run_messages(report.run_id)
    first = next(m for m in messages if "waiting for the maintenance window" in m)
    assert "cluster c1 [tomcat]" in first and "(since " in first and "at most" in first
    assert any("the maintenance window is open" in m and "waited" in m for m in messages)


def test_a_renewal_keeps_what_its_process_held_out_of_collections_until_it_ends(make_env, monkeypatch):
    import gc

    from certops.renewal import steps

    env = make_env(ca="auto")
    real = steps.restart_and_confirm
    frozen: list[int] = []

    def counting(*args, **kwargs):
        frozen.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "restart_and_confirm", counting)
    report = renew(str(env.inventory_path), "c1", "ipsec", settings=FAST)
    assert report.status == "completed"
    assert frozen and min(frozen) > 0  # during the restarts the process's objects are frozen
    assert gc.get_freeze_count() == 0  # and given back when the renewal ends
