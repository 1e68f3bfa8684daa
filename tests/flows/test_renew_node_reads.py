"""A renewal reads each node's certificates once per step that needs them, judged by the simulator.

Each ``GET /snapshot/server`` is a read of every certificate the node holds (a real node answers it
in its own time, across a WAN); the simulator counts the certificate-management requests each node
answered (``SimulatedFleet.certmgr_requests``). A renewal's steps that read a node's certificates:
the preflight, the identity upload (is the leaf already there? what was there before?) and the
verification (the summary, and the check itself where the identity read back is the check: ipsec,
an ECDSA unit whose port shows no EC certificate). CallManager and TVS add the look at the cluster
for another renewal of their group in flight (before this renewal's first CSR and right after it):
one read per node and look for every unit of the group, not one per unit.
"""

from __future__ import annotations

import pytest

from flows.renew import renew
from tests.flows.conftest import FAST

pytestmark = [pytest.mark.prefect]

SNAPSHOT = ("GET", "/snapshot/server")


@pytest.mark.parametrize(
    ("unit", "reads"),
    [
        ("ipsec", 3),  # preflight, upload, verify (the identity read back is the check)
        ("tomcat-ECDSA", 3),  # preflight, upload, verify
        ("CAPF", 3),
        ("CallManager", 5),  # the same three, and two looks at the cluster for a renewal in flight
        ("TVS", 5),
    ],
)
def test_a_renewal_reads_each_nodes_certificates_once_per_step(make_env, unit, reads):
    env = make_env(ca="auto")
    before = {n: env.fleet.certmgr_requests(n) for n in env.node_names()}
    report = renew(str(env.inventory_path), "c1", unit, settings=FAST)
    assert report.status == "completed"
    renewed = [n.fqdn for n in report.nodes]
    assert renewed
    for fqdn in renewed:
        asked = env.fleet.certmgr_requests(fqdn) - before[fqdn]
        assert asked[SNAPSHOT] == reads, (fqdn, dict(asked))
        assert asked[("POST", "/identity/certificates")] == 1  # and the renewal did happen on it
    for fqdn in set(env.node_names()) - set(renewed):
        assert (env.fleet.certmgr_requests(fqdn) - before[fqdn])[SNAPSHOT] == 0  # nodes without the unit
