"""Shared pytest configuration: fixture modules live in tests/fixtures/, one per real server."""

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

# Every flow in the tests runs on a real Prefect server started by a fixture. A thread or process
# that lost track of it must fail loudly instead of starting a silent temporary server, where no
# concurrency limit exists (set before Prefect is imported anywhere).
os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"

# ``certops renew`` without PREFECT_API_URL starts an embedded server; with four pytest-xdist
# workers on two cores, several of them start at once and their first start (a new database,
# migrated) took over the product's 180 s default in a clean-clone run: the tests allow longer.
os.environ.setdefault("CERTOPS_PREFECT_STARTUP_TIMEOUT", "400")

# What certops keeps host-wide or per user by default, each pytest process (a plain session, and
# each pytest-xdist worker on its own: a worker does NOT take the controller's) gets in a scratch
# folder of its own, removed at exit. Every test's cluster is "c1": with one lock folder for all,
# a renewal in one worker waits for or is refused by another worker's host lock (certops.hostlock,
# default /tmp/certops-locks); a `certops pending/approve` without PREFECT_API_URL would find
# another worker's embedded server (certops.renewal.server, default /tmp/certops-servers); state,
# audit log, scan reports (default ~/.certops/...) and the Prefect client's home (~/.prefect) would
# be shared with other sessions and with the user. Tests and child processes may still set their own.
_SCRATCH = Path(tempfile.mkdtemp(prefix=f"certops-test-{os.environ.get('PYTEST_XDIST_WORKER', 'session')}-"))
atexit.register(shutil.rmtree, _SCRATCH, True)
for _name, _where in {
    "CERTOPS_LOCK_DIR": "locks",
    "CERTOPS_RUNTIME_DIR": "servers",
    "CERTOPS_STATE_DIR": "state",
    "CERTOPS_AUDIT_LOG": "audit.jsonl",
    "CERTOPS_REPORT_DIR": "scans",
    "PREFECT_HOME": "prefect-home",
    "CERTOPS_CACHE_DIR": "cache",  # the Prefect database template, the self-signed verdicts (certops.cachedir)
}.items():
    os.environ[_name] = str(_SCRATCH / _where)

# The terminal size: GNU readline, which pytest imports, exports COLUMNS=80 and LINES=24 into the
# process environment when its input is no terminal (os.environ does not show them, children get
# them): every pytest-xdist worker then had COLUMNS=80 and certops' tables (as wide as $COLUMNS when
# set, else 200 off a terminal) wrapped their node names. A test that wants a width sets COLUMNS.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)
    os.unsetenv(_name)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (CI's time limit, a supervisor) becomes KeyboardInterrupt, so that pytest tears down
    every fixture — Prefect servers, simulators, pebble, PostgreSQL, browsers — instead of dying
    and leaving them running."""
    raise KeyboardInterrupt(f"stopped by signal {signum}")


signal.signal(signal.SIGTERM, _terminated)

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.pebble",
    "tests.fixtures.prefect_server",
    "tests.fixtures.postgres",
    "tests.fixtures.slack",
    "tests.fixtures.cisco_schemas",
]
