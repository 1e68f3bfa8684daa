"""The DRF backup after a regeneration (Cisco's Security Guides): take it, or say plainly that it is due.

"After any regeneration, take a DRF backup": a restore from a backup that lacks the new
certificates forces an unlock of every phone by hand (``procedure.md``, Security Guides). Where the
inventory names a backup device (``clusters[].drf_backup``), certops starts the backup on the
publisher over the CLI (``utils disaster_recovery backup network <featurelist> <device_name>``)
and follows ``utils disaster_recovery status backup`` until it ends, bounded. Otherwise the
outcome is a notice: the report, the Slack message and the terminal say the backup is due now.

[INF] The CLI reference names the command and its arguments; the success text ("Backup initiated
successfully") is as the simulator models it and SUCCESS as the good end is the interface
document's terminal status (section 6); both to confirm on a lab cluster.

Pure library (no Prefect): the node client is passed in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from certops.cucm.api import CucmNodeApi
from certops.errors import CucmError
from certops.inventory import DrfBackupConfig
from certops.renewal.waiting import Wait

Log = Callable[[str], None]

WHY = (
    "Cisco's Security Guides ask for a DRF backup after every certificate regeneration: a restore from a backup "
    "without the new certificates means unlocking every phone by hand"
)

DUE_NOW_PREFIX = "take a DRF backup of cluster"
"""How the renewal's after-word about the backup starts (report warnings; Slack's "To do now")."""

_TAR = re.compile(r"Tar Filename:\s*(\S+)", re.IGNORECASE)


def _no_log(_: str) -> None:
    return None


class DrfBackupOutcome(BaseModel):
    """What happened about the DRF backup after a regeneration.

    ``status``: ``taken`` (the backup ended SUCCESS), ``failed`` (refused, ended otherwise, or still
    running at the bound), ``due`` (no backup device in the inventory: a person must take it now).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str
    status: str
    units: list[str] = Field(default_factory=list)
    device: str | None = None
    features: list[str] = Field(default_factory=list)
    tar: str | None = None
    seconds: float | None = None
    text: str  # one plain paragraph for the report, Slack and the terminal

    @property
    def needs_person(self) -> bool:
        """True when a person must still take the backup (due, or the attempt failed)."""
        return self.status != "taken"


def backup_due(cluster: str, units: list[str]) -> DrfBackupOutcome:
    """The notice when no backup device is configured: a DRF backup is due now, and why."""
    return DrfBackupOutcome(
        cluster=cluster,
        status="due",
        units=list(units),
        text=(
            f"A DRF backup of cluster {cluster} is due NOW (after the renewal of {', '.join(units)}): {WHY}. "
            "Take it in Disaster Recovery System > Backup > Manual Backup, or name a backup device in the "
            "inventory (clusters[].drf_backup.device) and certops takes it after each renewal."
        ),
    )


def _tar(raw: str) -> str | None:
    m = _TAR.search(raw)
    return m.group(1) if m else None


def take_backup(
    api: CucmNodeApi,
    *,
    cluster: str,
    units: list[str],
    cfg: DrfBackupConfig,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: Log = _no_log,
) -> DrfBackupOutcome:
    """Start a DRF backup to ``cfg.device`` on the publisher (``api``) and wait, bounded, until it ends.

    A job already running is waited out first (it may not hold the new certificates). Never raises
    for what the cluster answers: a refusal, an unknown status or a backup still running at the bound
    is a ``failed`` outcome that says what to do.
    """
    bound = cfg.timeout_minutes * 60.0
    where = f"cluster {cluster} [DRF backup]"
    base = {"cluster": cluster, "units": list(units), "device": cfg.device, "features": list(cfg.features)}
    t0 = clock()

    def failed(what: str) -> DrfBackupOutcome:
        return DrfBackupOutcome(
            **base,
            status="failed",
            seconds=clock() - t0,
            text=(
                f"The DRF backup of cluster {cluster} to device {cfg.device} was NOT taken: {what}. "
                f"Take one by hand now (Disaster Recovery System > Backup): {WHY}."
            ),
        )

    wait = Wait(where, "the DRF job already running to end", bound=bound, log=log, clock=clock)
    before: str | None = None
    while True:
        try:
            busy = [(op, st) for op in ("backup", "restore") if (st := api.drf_status(op)).running]
            before = _tar(api.drf_status("backup").raw) if not busy else None
        except CucmError as exc:
            return failed(f"the DRF status could not be read ({exc.message})")
        if not busy:
            wait.done("no DRF job runs")
            break
        wait.tick(f"a DRF {busy[0][0]} runs ({busy[0][1].percentage}%)")
        if clock() - t0 >= bound:
            return failed(f"a DRF {busy[0][0]} was still running after {cfg.timeout_minutes:.0f} min")
        sleep(cfg.poll_seconds)
    command = f"utils disaster_recovery backup network {','.join(cfg.features)} {cfg.device}"
    try:
        api.start_drf_backup(list(cfg.features), cfg.device)
    except CucmError as exc:
        said = [ln.strip() for ln in str(getattr(exc, "output", "") or "").splitlines() if ln.strip()]
        answer = next((ln for ln in said if "drfclimsg" in ln.lower()), said[0] if said else exc.message)
        return failed(f"'{command}' was refused: {answer}")
    log(f"{where}: started '{command}' on the publisher")
    wait = Wait(where, f"the DRF backup to {cfg.device}", bound=bound, log=log, setting="drf_backup.timeout_minutes")
    wait.start("utils disaster_recovery status backup")
    while True:
        try:
            st = api.drf_status("backup")
        except CucmError as exc:
            return failed(f"the backup's status could not be read ({exc.message})")
        tar = _tar(st.raw)
        ours = tar is not None and tar != before
        if ours and not st.running:
            if (st.status or "").upper() == "SUCCESS":
                wait.done(f"the DRF backup ended SUCCESS ({tar})")
                return DrfBackupOutcome(
                    **base,
                    status="taken",
                    tar=tar,
                    seconds=clock() - t0,
                    text=(
                        f"DRF backup of cluster {cluster} taken after the renewal of {', '.join(units)}: "
                        f"{tar} on device {cfg.device} (features {','.join(cfg.features)}), Status SUCCESS."
                    ),
                )
            wait.done(f"the DRF backup ended {st.status}")
            return failed(f"the backup {tar} ended with Status {st.status} (utils disaster_recovery status backup)")
        if clock() - t0 >= bound:
            return failed(
                f"the backup was still running after {cfg.timeout_minutes:.0f} min "
                f"({st.percentage if st.percentage is not None else '?'}% complete); it may still end well: "
                "check utils disaster_recovery status backup"
            )
        wait.tick(f"{st.percentage if st.percentage is not None else '?'}% complete")
        sleep(cfg.poll_seconds)
