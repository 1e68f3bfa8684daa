"""Shared pytest configuration: fixture modules live in tests/fixtures/, one per real server."""

import os

# Every flow in the tests runs on a real Prefect server started by a fixture. A thread or process
# that lost track of it must fail loudly instead of starting a silent temporary server, where no
# concurrency limit exists (set before Prefect is imported anywhere).
os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.pebble",
    "tests.fixtures.prefect_server",
    "tests.fixtures.postgres",
    "tests.fixtures.slack",
    "tests.fixtures.cisco_schemas",
]
