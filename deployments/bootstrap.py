"""Prepare a Prefect server for certops, once per server (safe to run again).

    PREFECT_API_URL=http://prefect:4200/api \\
    python deployments/bootstrap.py --inventory /etc/certops/inventory.yaml --pool certops

1. the process work pool the workers poll (created if missing);
2. the per-cluster global concurrency limits that keep CallManager/TVS/ITLRecovery renewals of a
   cluster apart (created, or repaired to ACTIVE with limit 1);
3. the zombie-detection automation: a flow run whose heartbeats stop for ``--zombie-seconds``
   (default 600; flow runs beat every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, 180 s by default in 3.9)
   without reaching a final, paused or suspended state is marked CRASHED (Prefect has no such
   automation by default; a worker killed mid-run would otherwise leave the run RUNNING forever).
   Paused and suspended runs are excluded on purpose: a renewal waiting days for a person has no
   process and sends no heartbeats.

Then deploy: ``prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ZOMBIE_AUTOMATION = "certops: crash flow runs whose heartbeats stopped"


def ensure_work_pool(name: str) -> bool:
    """Create the process work pool ``name`` unless it exists; True when created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def ensure_zombie_automation(seconds: int = 600) -> bool:
    """Create the zombie-detection automation unless one with its name exists; True when created."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    try:
        _found: Any = Automation.read(name=ZOMBIE_AUTOMATION)  # sync context: returns, does not await
        return False
    except ValueError:
        pass  # not found
    _made: Any = Automation(
        name=ZOMBIE_AUTOMATION,
        description="A flow run that stopped sending heartbeats (worker or process killed) is marked Crashed.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
                "prefect.flow-run.Paused",
                "prefect.flow-run.Suspended",
            },
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=dt.timedelta(seconds=seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {seconds} s: the process running this flow is gone (marked by certops)",
            )
        ],
    ).create()
    return True


def main(argv: list[str] | None = None) -> int:
    """Bootstrap the server the environment points at; print what was created."""
    ap = argparse.ArgumentParser(description="Prepare a Prefect server for certops (idempotent).")
    ap.add_argument("--inventory", required=True, type=Path, help="the inventory YAML (for the per-cluster locks)")
    ap.add_argument("--pool", default="certops", help="process work pool name (default certops)")
    ap.add_argument(
        "--zombie-seconds",
        type=int,
        default=600,
        help="heartbeat silence before Crashed (default 600; must exceed twice PREFECT_FLOWS_HEARTBEAT_FREQUENCY)",
    )
    args = ap.parse_args(argv)

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    from certops.inventory_file import load_inventory
    from flows import _locks

    beat = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
    if beat and args.zombie_seconds <= 2 * beat:
        print(
            f"error: --zombie-seconds {args.zombie_seconds} would crash healthy runs: flow runs send a heartbeat "
            f"every {beat} s (PREFECT_FLOWS_HEARTBEAT_FREQUENCY); use more than {2 * beat}",
            file=sys.stderr,
        )
        return 2
    inv = load_inventory(args.inventory)
    print(f"work pool {args.pool}: {'created' if ensure_work_pool(args.pool) else 'exists'}")
    created = _locks.ensure_limits(inv, repair=True)
    print(f"cluster locks: {len(created)} created, all active with limit 1")
    made = ensure_zombie_automation(args.zombie_seconds)
    print(f"zombie-detection automation: {'created' if made else 'exists'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
