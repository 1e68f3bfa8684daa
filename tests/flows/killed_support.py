"""Kill a renewal's process with SIGKILL at an exact point of the simulator's event log.

The renewal runs in a child Python process (``flows.renew.renew`` against the test Prefect
server). The simulator runs in the test process, so a hook on its event log sends SIGKILL to the
child *synchronously*, while the simulated node is still handling the request that made the
event: the node has changed, and the run never learns it (the answer never reaches it). The hook
returns only once the child is dead, so the node goes on with a process that is gone, however
slowly the machine tears it down. That is the hardest place for a process to die, and it is
deterministic.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.fleet import SimulatedFleet

ROOT = Path(__file__).resolve().parents[2]

_CHILD = (
    "import sys\n"
    "from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings\n"
    "from certops.renewal.settings import RenewalSettings\n"
    "from flows.renew import renew\n"
    "with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):\n"
    "    renew(sys.argv[1], sys.argv[2], sys.argv[3], settings=RenewalSettings.model_validate_json(sys.argv[4]))\n"
)

CHILD_VARS = ("CUCM_SIM_OS_PASSWORD", "CUCM_SIM_APP_PASSWORD", "CERTOPS_STATE_DIR", "CERTOPS_AUDIT_LOG")


@dataclass(frozen=True)
class KillPoint:
    """Kill at the ``nth`` event ``operation`` (1 = the first), optionally only on ``node``/``service``."""

    operation: str
    nth: int = 1
    node: str | None = None
    service: str | None = None

    def matches(self, event: dict[str, Any]) -> bool:
        """True when ``event`` is of this point's kind (the count is kept by the switch)."""
        return (
            event["operation"] == self.operation
            and (self.node is None or event["node"] == self.node)
            and (self.service is None or event["service"] == self.service)
        )


@dataclass
class KillSwitch:
    """Hooks the fleet's event log; SIGKILLs ``pid`` when the kill point's event is recorded."""

    fleet: SimulatedFleet
    point: KillPoint
    pid: int | None = None
    fired: threading.Event = field(default_factory=threading.Event)
    event: dict[str, Any] | None = None
    _seen: int = 0
    _original: Callable[..., dict[str, Any]] | None = None

    def install(self) -> KillSwitch:
        """Wrap the event log's ``add`` (the simulator records each change through it)."""
        assert self.fleet.runtime is not None
        log = self.fleet.runtime.events
        original = log.add
        self._original = original

        def add(*args: Any, **kwargs: Any) -> dict[str, Any]:
            event = original(*args, **kwargs)
            if not self.fired.is_set() and self.pid is not None and self.point.matches(event):
                self._seen += 1
                if self._seen == self.point.nth:
                    # marked fired before the kill: a test that sees the child gone always finds it fired
                    self.event = event
                    self.fired.set()
                    os.kill(self.pid, signal.SIGKILL)  # before the node answers the request
                    _until_dead(self.pid)
            return event

        log.add = add  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        """Put the event log's ``add`` back."""
        if self._original is not None:
            assert self.fleet.runtime is not None
            del self.fleet.runtime.events.add  # the instance attribute; the class method shows again
            self._original = None


def _until_dead(pid: int, timeout: float = 60.0) -> None:
    """Return once ``pid`` has died (a zombie, or gone): its sockets are closed then.

    SIGKILL is delivered at once, but a loaded machine may take a while to tear the process down;
    meanwhile its connections stay open, and the simulated node, carrying on with the request,
    would still reach it (a CLI restart would then complete although its session "died"). Waiting
    here, inside the event's hook, keeps the node where the event left it until the process is gone.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not die within {timeout:.0f} s of SIGKILL")


def start_child(
    inventory: Path, cluster: str, unit: str, settings_json: str, child_env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``renew(inventory, cluster, unit)`` in a new Python process; its output goes to ``log_path``."""
    env = dict(child_env)
    env.update({k: os.environ[k] for k in CHILD_VARS})
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(inventory), cluster, unit, settings_json],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def running_runs_of(inventory: Path) -> list[Any]:
    """The RUNNING flow runs whose ``inventory_path`` parameter is ``inventory``.

    Matched by inventory: a worker's session server also holds the runs of every earlier test.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=flt, limit=200)
    return [r for r in runs if r.parameters.get("inventory_path") == str(inventory)]


def running_run_of(inventory: Path, *, timeout: float = 10.0) -> Any:
    """The RUNNING flow run whose ``inventory_path`` parameter is ``inventory`` (the killed one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = running_runs_of(inventory)
        if runs:
            assert len(runs) == 1, runs
            return runs[0]
        time.sleep(0.2)
    raise AssertionError(f"no RUNNING renewal run for {inventory} on the server")


def mark_crashed(run_id: Any) -> None:
    """What zombie detection (a heartbeat automation) does for a run whose process died."""
    from prefect import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Crashed(message="process killed (SIGKILL)"), force=True)
