"""``certops renew --cluster C --due``: every due unit of a cluster in Cisco's order, in one plan.

- ``--dry-run`` reads the cluster's certificates (read-only), prints the order and why for each
  position, the due units left out (ITLRecovery goes alone), the units not due with their days
  left, and what happens about the DRF backup after. Exit 0 when every node was read, 1 when some
  could not be (what is due there is not known), 2 for bad input.
- Without it the ``renew-cluster`` flow runs (``PREFECT_API_URL``, else an embedded server): each
  unit's ``renew`` flow in order, then the DRF backup. Exit 0 when the plan ran to the end and the
  backup was taken or said to be due; 1 when the plan stopped (it says what was done and what was
  not) or the backup attempt failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from certops.cli.renew import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, _err, _prefect_api, _quiet_expected_tracebacks


def run_renew_due(
    inventory_path: Path,
    cluster: str,
    *,
    dry_run: bool = False,
    offline: bool = False,
    on_busy: str = "wait",
    approval_timeout_days: float = 7.0,
    as_json: bool = False,
) -> int:
    """The ``renew --due`` command; returns the exit code."""
    from certops.errors import CertopsError
    from certops.renewal.adapters import load_inventory

    try:
        inv = load_inventory(inventory_path)
        inv.cluster(cluster)
    except (CertopsError, KeyError) as exc:
        _err(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}")
        return EXIT_BAD_INPUT
    if offline:
        _err(
            "error: --due --offline cannot tell what is due without reading the cluster's certificates; "
            "leave --offline out (the look is read-only)"
        )
        return EXIT_BAD_INPUT
    if dry_run:
        return _dry_run(inv, cluster, as_json=as_json)
    if on_busy not in ("wait", "refuse"):
        _err("error: --on-busy is 'wait' or 'refuse'")
        return EXIT_BAD_INPUT
    from certops.renewal.settings import RenewalSettings

    try:
        with _prefect_api():
            from flows.renew_cluster import renew_cluster

            _quiet_expected_tracebacks()
            state: Any = renew_cluster(
                str(inventory_path),
                cluster,
                approval_timeout_days=approval_timeout_days,
                settings=RenewalSettings.from_environment(on_busy=on_busy),
                return_state=True,
            )
            if not state.is_completed():
                why = state.result(raise_on_failure=False)
                _err(f"cluster plan stopped: {why if isinstance(why, BaseException) else state.message}")
                return EXIT_FAILED
            report = state.result()
    except CertopsError as exc:
        _err(f"cluster plan failed: {exc}")
        return EXIT_FAILED
    typer.echo(report.model_dump_json(indent=2) if as_json else report.to_text())
    if report.drf_backup is not None and report.drf_backup.status == "failed":
        _err(f"DRF BACKUP NOT TAKEN: {report.drf_backup.text}")
        return EXIT_FAILED
    return EXIT_OK


def _dry_run(inv: Any, cluster: str, *, as_json: bool) -> int:
    """Read the cluster's certificates, plan its due units and print the order and why."""
    from certops.due import select_due
    from certops.fleet import read_fleet_certificates
    from certops.planning import due_units, plan_cluster

    found = read_fleet_certificates(inv, clusters=[cluster], max_workers=8, per_cluster=4)
    for f in found.failures:
        _err(f"warning: {f.node} could not be read ({f.operation}): {f.reason}")
    due, not_due = due_units(select_due(found, inv), cluster)
    unread = [f"{f.node}: {f.operation}: {f.reason}" for f in found.failures]
    plan = plan_cluster(inv, cluster, due, not_due, unread=unread)
    typer.echo(plan.model_dump_json(indent=2) if as_json else plan.render())
    return EXIT_FAILED if found.failures else EXIT_OK
