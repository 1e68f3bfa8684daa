"""Prefect flows: thin orchestration over the certops library."""
