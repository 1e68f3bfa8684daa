"""Thin Prefect task of the DRF backup after a regeneration (``certops.renewal.drf_backup``)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from certops.errors import CucmError
from certops.renewal.adapters import load_inventory, open_node
from certops.renewal.drf_backup import DrfBackupOutcome, backup_due, take_backup


@task(name="drf-backup-after-renewal", cache_policy=NO_CACHE)
def drf_backup_after(inventory_path: str, cluster: str, units: list[str]) -> DrfBackupOutcome:
    """Take the DRF backup on the publisher when the inventory names a device; else say it is due now.

    Never retried blindly (a second backup start would be refused while the first runs); never
    raises for what the cluster answers: the outcome says what happened and what a person must do.
    """
    log = get_run_logger()
    inv = load_inventory(inventory_path)
    cl = inv.cluster(cluster)
    if cl.drf_backup is None:
        out = backup_due(cl.name, units)
        log.warning("%s", out.text)
        return out
    try:
        with open_node(inv, cl.name, cl.publisher.fqdn) as api:
            out = take_backup(api, cluster=cl.name, units=units, cfg=cl.drf_backup, log=log.info)
    except CucmError as exc:
        out = backup_due(cl.name, units).model_copy(
            update={
                "status": "failed",
                "device": cl.drf_backup.device,
                "features": list(cl.drf_backup.features),
                "text": f"The DRF backup of cluster {cl.name} was NOT taken: the publisher could not be reached "
                f"({exc.message}). Take one by hand now (Disaster Recovery System > Backup).",
            }
        )
    (log.info if out.status == "taken" else log.warning)("%s", out.text)
    return out
