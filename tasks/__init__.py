"""Prefect tasks: thin wrappers, one side effect each."""
