"""Shared pytest configuration: fixture modules live in tests/fixtures/, one per real server."""

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.pebble",
    "tests.fixtures.prefect_server",
    "tests.fixtures.postgres",
    "tests.fixtures.slack",
]
