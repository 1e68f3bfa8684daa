"""A completed renewal leaves its report on the Prefect run, as an artifact a person opens in the UI.

The report is written while the run's claim on the cluster is released (two requests to the server
at once); what is judged is that it is there, on this run, with this renewal's outcome.
"""

from __future__ import annotations

import uuid

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.renew import renew
from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]


def test_a_completed_renewal_leaves_its_report_as_an_artifact_of_its_own_run(make_env):
    env = make_env(ca="auto")
    report = renew(str(env.inventory_path), "c1", "CAPF", settings=FAST)
    assert report.status == "completed" and report.run_id
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["renewal-c1-capf"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(report.run_id)]),
            )
        )
    assert len(arts) == 1
    text = str(arts[0].data)
    assert "CAPF" in text and "c1" in text
    assert report.nodes[0].fqdn in text
    assert "completed" in text.lower()
