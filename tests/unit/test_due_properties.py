"""Due selection invariants over arbitrary fleets (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from certops.due import select_due
from certops.units import SCANNED_UNITS, UNITS
from tests.unit.test_due_factories import cert, inventory, report

CLUSTERS = {"c1": 3, "c2": 2}
NODES = {c: [("pub" if i == 0 else f"sub{i}") + f".{c}.example.com" for i in range(n)] for c, n in CLUSTERS.items()}

certificates = st.lists(
    st.builds(
        lambda c, i, unit, days, ss: cert(
            cluster=c, node=NODES[c][i % len(NODES[c])], unit=unit, days=days, self_signed=ss
        ),
        st.sampled_from(sorted(CLUSTERS)),
        st.integers(0, 2),
        st.sampled_from(SCANNED_UNITS),
        st.floats(-30, 400, allow_nan=False),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(certificates)
def test_every_due_certificate_is_covered_once_and_itl_units_never_start_together(certs):
    plan = select_due(report(certs), inventory(CLUSTERS))
    keys = [(c.cluster, c.unit) for c in [*plan.start, *plan.queued]]
    assert len(keys) == len(set(keys))
    due = {(s.cluster, s.unit) for s in plan.due}
    assert due == set(keys)
    for c in [*plan.start, *plan.queued]:
        assert set(c.nodes) == {s.node for s in plan.due if (s.cluster, s.unit) == (c.cluster, c.unit)}
    started_groups = [(c.cluster, c.exclusion_group) for c in plan.start if c.exclusion_group]
    assert len(started_groups) == len(set(started_groups))
    for q in plan.queued:
        assert UNITS[q.unit].exclusion_group is not None
        assert any(s.cluster == q.cluster and s.unit == q.queued_behind for s in plan.start)
    assert [s.certificate.not_after for s in plan.statuses] == sorted(s.certificate.not_after for s in plan.statuses)
