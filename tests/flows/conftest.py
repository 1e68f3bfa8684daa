"""Fixtures for the renewal flow tests: a simulated cluster, its inventory, a test CA, a Prefect server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from certops.ca.local import LabCa
from certops.renewal.settings import RenewalSettings
from simulator.fleet import SimulatedFleet
from simulator.options import FleetOptions
from tests.flows.support import TestCa

# the simulator's events that change nothing on the cluster: a dry run or a refusal may cause these only
SIM_READ_EVENTS = frozenset({"fleet_started", "ssh_login", "ris_request", "ris_rate_limited"})

FAST = RenewalSettings(
    lock_wait_timeout=120,
    lock_poll=0.3,
    drf_wait_timeout=20,
    drf_poll=0.3,
    restart_timeout=8,
    restart_poll=0.1,
    phone_batch_size=10,
    phone_batch_pause=0.0,
    registration_timeout=8,
    registration_interval=0.4,
    ris_requests_per_minute=15,
    ca_poll_interval=0.05,
    ca_poll_timeout=10,
    approval_poll_interval=1,
)


@dataclass
class RenewalEnv:
    """One test's world: the fleet, the inventory file, the CA, where state and audit go."""

    fleet: SimulatedFleet
    inventory_path: Path
    ca: TestCa
    backend: Any
    state_dir: Path
    audit_path: Path
    settings: RenewalSettings = FAST
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cluster(self) -> str:
        return "c1"

    @property
    def pub(self) -> str:
        return self.fleet.cluster("c1").publisher.fqdn

    def node_names(self) -> list[str]:
        return [n.fqdn for n in self.fleet.cluster("c1").nodes]

    def changes(self, *, since: int = 0) -> list[dict[str, Any]]:
        """State-changing events of the simulator (everything but reads)."""
        return [e for e in self.fleet.events()[since:] if e["operation"] not in SIM_READ_EVENTS]


def _fleet_options(state_dir: Path, **over: Any) -> FleetOptions:
    base: dict[str, Any] = {
        "nodes": 3,
        "restart_seconds": 0.2,
        "tomcat_restart_seconds": 0.3,
        "phones_per_cluster": 6,
        "reregister_seconds": 0.3,
        "cli_banner_seconds": 0.0,
        "drf_backup_seconds": 2.0,
        "state_dir": state_dir,
    }
    base.update(over)
    return FleetOptions(**base)


def _clear_claims() -> None:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        for var in client.read_variables():
            if var.name.startswith("certops-claim-"):
                client.delete_variable_by_name(var.name)


@pytest.fixture
def make_env(tmp_path, monkeypatch, prefect_server) -> Iterator[Any]:
    """Build a RenewalEnv: ``make_env(ca="auto"|"person", fleet={...}, cluster={...}, policy={...})``."""
    fleets: list[SimulatedFleet] = []

    def build(
        ca: str = "auto",
        fleet: dict[str, Any] | None = None,
        cluster: dict[str, Any] | None = None,
        policy: dict[str, Any] | None = None,
    ) -> RenewalEnv:
        fl = SimulatedFleet(_fleet_options(tmp_path / f"sim{len(fleets)}", **(fleet or {})))
        fl.start()
        fleets.append(fl)
        inv = fl.inventory_dict()
        lab_dir = tmp_path / "lab-ca"
        inv["ca_backends"] = {
            "manual": {"type": "manual", "instructions": "the corporate CA portal"},
            "lab": {"type": "lab", "directory": str(lab_dir)},
        }
        inv["defaults"]["ca"] = "lab" if ca == "auto" else "manual"
        if policy:
            inv["defaults"]["policy"] = policy
        if cluster:
            inv["clusters"][0].update(cluster)
        path = tmp_path / "inventory.yaml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        test_ca = TestCa()  # the CA a person takes the CSRs to (manual backend)
        lab = LabCa(lab_dir)
        # the nodes will serve certificates from these CAs after the renewal: trust them too
        with fl.ca_bundle_path.open("a") as fh:
            fh.write(test_ca.chain_pems[1])
            fh.write(lab.root_pem)
        backend = lab
        env = RenewalEnv(fl, path, test_ca, backend, tmp_path / "state", tmp_path / "audit.jsonl")
        return env

    monkeypatch.setenv("CUCM_SIM_OS_PASSWORD", "admin-pw")
    monkeypatch.setenv("CUCM_SIM_APP_PASSWORD", "app-pw")
    monkeypatch.setenv("CERTOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CERTOPS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    _clear_claims()
    try:
        yield build
    finally:
        for fl in fleets:
            fl.stop()
        _clear_claims()
        assert os.environ.get("CERTOPS_STATE_DIR")


def served_fingerprint(env: RenewalEnv, fqdn: str, unit: str) -> str:
    """SHA-256 of the certificate the simulated node serves for ``unit`` right now."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(env.fleet.node(fqdn).served(unit).cert.public_bytes(Encoding.DER)).hexdigest()


def start_in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in a thread; returns a Future (``.result(timeout)`` re-raises the flow's error)."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    # the Prefect settings (PREFECT_API_URL of the test server) live in a context variable,
    # which a new thread does not inherit: without the copy the flow would start an ephemeral server
    ctx = contextvars.copy_context()
    pool = ThreadPoolExecutor(max_workers=1)
    fut = pool.submit(ctx.run, fn, *args, **kwargs)
    pool.shutdown(wait=False)
    return fut


def wait_paused(env: RenewalEnv, *, timeout: float = 60.0, not_key: str | None = None) -> Any:
    """The flow run of this test's inventory once it is Paused (optionally under a new pause key)."""
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(flow_run_filter=flt):
                if run.parameters.get("inventory_path") != str(env.inventory_path):
                    continue
                key = run.state.state_details.pause_key if run.state else None
                if not_key is None or key != not_key:
                    return run
        time.sleep(0.3)
    raise AssertionError("the renewal did not pause for approval in time")


def read_run(run_id: Any) -> Any:
    """The flow run as the server sees it now."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)
