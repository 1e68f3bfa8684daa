"""The approval form in a real browser: Debian's chromium (headless), driven by playwright-core
(tests/browser/, installed by scripts/setup), on the Prefect UI of the test's server. A person opens
the paused run, sees the CSRs, pastes a wrong chain (asked again, the reasons first), then the right
one (the renewal completes)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from flows.renew import renew
from tests.flows.conftest import FAST, start_in_thread, wait_paused

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

BROWSER = Path(__file__).resolve().parents[1] / "browser"
CHROMIUM = Path("/usr/bin/chromium")


def _in_the_ui(ui_url: str, run_id: str, chain: Path | None = None, approver: str = "") -> dict[str, object]:
    """What the Resume form of ``run_id`` shows; with ``chain``, paste it, give the name and submit."""
    assert CHROMIUM.exists(), "chromium is missing: run scripts/setup (apt-get install chromium)"
    assert (BROWSER / "node_modules" / "playwright-core").is_dir(), "playwright-core is missing: run scripts/setup"
    node = shutil.which("node")
    assert node, "node is missing: run scripts/setup"
    args = [node, str(BROWSER / "approve_in_ui.js"), ui_url, run_id]
    if chain is not None:
        args += [str(chain), approver]
    done = subprocess.run(args, cwd=BROWSER, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    shown: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return shown


def _chain_for_all(env, unit, **kw) -> str:
    nodes = env.fleet.cluster("c1").nodes
    leaves = [env.ca.sign(n.csrs[unit].pem, unit, **kw).leaf_pem for n in nodes if unit in n.csrs]
    return "".join(leaves) + "".join(env.ca.chain_pems)


def test_a_person_approves_in_the_prefect_ui_a_wrong_chain_is_asked_again_reasons_first_the_right_one_completes(
    make_env, prefect_server, tmp_path
):
    env = make_env(ca="person")
    fut = start_in_thread(renew, str(env.inventory_path), "c1", "CAPF", settings=FAST, return_state=True)
    run = wait_paused(env)
    csr = env.fleet.cluster("c1").publisher.csrs["CAPF"].pem

    first = _in_the_ui(prefect_server.ui_url, str(run.id))
    text = str(first["description"])
    assert "Signed certificate needed: CAPF on cluster c1" in text
    assert csr.strip().splitlines()[1] in text  # the CSR itself, to copy to the CA
    assert "TLS Web Server Authentication" in text
    assert first["labels"] == [
        "Decision (Optional)",
        "Signed certificates and their chain (PEM) (Optional)",
        "Your name",
        "Comment (Optional)",
    ]

    wrong = tmp_path / "wrong.pem"
    wrong.write_text(_chain_for_all(env, "CAPF", extra_san="not-requested.example.com"))
    _in_the_ui(prefect_server.ui_url, str(run.id), wrong, "alice")
    again = wait_paused(env, not_key=run.state.state_details.pause_key)
    second = str(_in_the_ui(prefect_server.ui_url, str(again.id))["description"])
    refused = second.index("The previous chain was NOT accepted")
    assert refused < second.index("not-requested.example.com") < second.index("What to do")
    assert [e for e in env.fleet.events() if e["operation"] == "identity_uploaded"] == []

    right = tmp_path / "right.pem"
    right.write_text(_chain_for_all(env, "CAPF"))
    _in_the_ui(prefect_server.ui_url, str(again.id), right, "alice")
    state = fut.result(timeout=180)
    assert state.is_completed(), state.message
    assert state.result().approver == "alice"
    assert [e["node"] for e in env.fleet.events() if e["operation"] == "identity_uploaded"] == [env.pub]
