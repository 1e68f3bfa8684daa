"""The modules a process's first flow run imports on its way, imported ahead of it.

A first renewal in a fresh process imports Prefect's flow and task engines, FastAPI's encoder (the
flow's parameters are serialized with it), the node clients and the RisPort70 budget: about 0.3 s,
and ``flows.renew`` itself about 0.4 s more, measured on 2 cores. ``certops renew`` imports them
while its embedded Prefect server starts (``certops.cli.renew``), so they cost the run nothing;
``benchmarks/renewal_overhead.py`` imports them before it times the first unit, as that command does.
"""

from __future__ import annotations

import contextlib
import importlib
import threading

RUN_MODULES = (
    "flows.renew",
    "prefect.flow_engine",
    "prefect.task_engine",
    "fastapi.encoders",
    "certops.cucm.node",
    "tasks.ris_budget",
)
"""What the first run imports: read from ``sys.modules`` before and after a first renewal."""


def load_run_machinery() -> None:
    """Import :data:`RUN_MODULES` now; one that fails to import is left to the run, which says why."""
    for name in RUN_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def load_in_background() -> threading.Thread:
    """:func:`load_run_machinery` in a daemon thread, started; ``join`` it before the first run."""
    thread = threading.Thread(target=load_run_machinery, name="certops-load-run-machinery", daemon=True)
    thread.start()
    return thread
