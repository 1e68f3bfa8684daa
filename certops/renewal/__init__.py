"""The renewal, without Prefect: state, steps on a node, the report, the server process."""
