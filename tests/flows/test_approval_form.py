"""The approval form a person fills in the Prefect UI: what the server stores (schema, description)."""

from __future__ import annotations

import json

import pytest
from prefect.flow_runs import resume_flow_run
from prefect.input import read_flow_run_input

from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread, wait_paused

pytestmark = [pytest.mark.prefect]


def _stored(run, what: str):
    keyset = run.state.state_details.run_input_keyset
    value = read_flow_run_input(keyset[what], flow_run_id=run.id)
    return json.loads(value) if isinstance(value, str) and what == "schema" else value


def _chain_for_all(env, unit, **kw):
    leaves = [
        env.ca.sign(n.csrs[unit].pem, unit, **kw).leaf_pem for n in env.fleet.cluster("c1").nodes if unit in n.csrs
    ]
    return "".join(leaves) + "".join(env.ca.chain_pems)


def test_the_form_labels_fields_as_a_person_would_and_requires_the_approvers_name(make_env):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "CAPF", settings=FAST, return_state=True)
    run = wait_paused(env)
    schema = _stored(run, "schema")
    props = schema["properties"]
    # a required field is never shown as "(Optional)": the UI reads that from "required"
    assert schema.get("required") == ["approver"]
    assert props["approver"]["title"] == "Your name"
    assert props["approver"]["minLength"] == 1 and props["approver"]["pattern"] == r"^\S.*$"
    assert "default" not in props["approver"]
    assert props["chain_pem"]["title"] == "Signed certificates and their chain (PEM)"
    assert "needed to approve" in props["chain_pem"]["description"]
    assert [p["title"] for p in props.values()] == [
        "Decision",
        "Signed certificates and their chain (PEM)",
        "Your name",
        "Comment",
    ]
    # the server refuses a form without a name, and the run keeps waiting for a real answer
    with pytest.raises(RuntimeError, match="Cannot resume"):
        resume_flow_run(run.id, run_input={"chain_pem": _chain_for_all(env, "CAPF"), "approver": ""})
    resume_flow_run(run.id, run_input={"decision": "deny", "approver": "carol", "comment": "form test"})
    assert fut.result(timeout=60).is_cancelled()


def test_on_a_re_ask_the_reasons_the_last_chain_was_refused_stand_first_and_the_steps_name_the_ekus(make_env):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "CAPF", settings=FAST, return_state=True)
    run = wait_paused(env)
    first = str(_stored(run, "description"))
    assert "TLS Web Server Authentication (1.3.6.1.5.5.7.3.1)" in first  # the EKUs, by name and OID
    assert "Digital Signature" in first and "CA:TRUE" in first
    assert "NOT accepted" not in first
    bad = _chain_for_all(env, "CAPF", extra_san="not-requested.example.com")
    resume_flow_run(run.id, run_input={"chain_pem": bad, "approver": "bob"})
    again = wait_paused(env, not_key=run.state.state_details.pause_key)
    text = str(_stored(again, "description"))
    refused = text.index("The previous chain was NOT accepted")
    reason = text.index("not-requested.example.com")
    assert text.index("## Signed certificate needed") < refused < reason < text.index("### What to do")
    assert reason < text.index("### CSR for")
    resume_flow_run(again.id, run_input={"decision": "deny", "approver": "bob", "comment": "form test"})
    assert fut.result(timeout=60).is_cancelled()
