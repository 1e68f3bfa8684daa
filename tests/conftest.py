"""Shared pytest configuration: fixture modules live in tests/fixtures/, one per real server."""

import os
import signal

# Every flow in the tests runs on a real Prefect server started by a fixture. A thread or process
# that lost track of it must fail loudly instead of starting a silent temporary server, where no
# concurrency limit exists (set before Prefect is imported anywhere).
os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"

# The host lock of a renewal (certops.hostlock) lives in $CERTOPS_LOCK_DIR, host-wide by default:
# each test session gets its own, so concurrent sessions on one machine (cluster "c1" in every
# test) never wait for each other's locks. Child processes and workers inherit it.
if "CERTOPS_LOCK_DIR" not in os.environ:
    import tempfile

    os.environ["CERTOPS_LOCK_DIR"] = tempfile.mkdtemp(prefix="certops-test-locks-")


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
