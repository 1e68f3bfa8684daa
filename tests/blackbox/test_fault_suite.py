"""The fault suite as black-box tests: real ``certops`` processes, the session's Prefect server, the
simulator's event log as the only witness (``tests/blackbox/fault_suite.py`` defines the figures).

Each test prints its figure line (``fault-suite[...]: overlaps=0 repeated_disruptive_steps=0
uploads_from_bad_input=0 secrets_found=0``; ``-`` where the scenario does not measure a figure).
``benchmarks/fault_suite.py`` runs the same scenarios at 50 concurrent starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.blackbox import scenarios

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(900)]


def _prefect_env(prefect_server) -> dict[str, str]:
    return {"PREFECT_API_URL": prefect_server.api_url}


def test_ten_concurrent_callmanager_and_tvs_renewals_never_overlap_repeat_a_step_or_leak_a_secret(
    prefect_server, tmp_path: Path
):
    figures = scenarios.concurrent_starts(
        tmp_path, _prefect_env(prefect_server), prefect_server.process.home, starts=10
    )
    print(figures.line("fault-suite[10 concurrent starts]"))
    assert (figures.overlaps, figures.repeated_disruptive_steps, figures.secrets_found, figures.runs_failed) == (
        0,
        0,
        0,
        0,
    ), figures.notes


def test_renewals_killed_with_sigkill_and_rerun_repeat_no_disruptive_step(prefect_server, tmp_path: Path):
    figures = scenarios.killed_and_rerun(tmp_path, _prefect_env(prefect_server), prefect_server.process.home)
    print(figures.line("fault-suite[kill -9 and rerun]"))
    assert (figures.repeated_disruptive_steps, figures.secrets_found, figures.runs_failed) == (0, 0, 0), figures.notes


def test_bad_chains_offered_for_approval_upload_nothing_and_a_pasted_key_is_kept_nowhere(
    prefect_server, tmp_path: Path
):
    figures = scenarios.bad_chains(tmp_path, _prefect_env(prefect_server), prefect_server.process.home)
    print(figures.line("fault-suite[bad chains]"))
    assert (figures.uploads_from_bad_input, figures.secrets_found, figures.runs_failed) == (0, 0, 0), figures.notes
