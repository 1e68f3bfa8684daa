"""Pieces of the renewal without a server: the RisPort70 budget, leaf matching, the approval text."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from certops.renewal.state import RenewalState
from certops.renewal.steps import RateBudget, csr_artifact, match_leaves
from flows.approval import approval_description, csrs_from_description
from tests.flows.support import TestCa


def _csr(cn: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def test_budget_waits_once_the_requests_of_the_last_minute_are_spent():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    budget = RateBudget(3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        budget.take()
    assert slept == []
    now[0] = 10.0
    budget.take()
    assert round(now[0]) == 60  # the 4th request waits until the 1st is a minute old


def test_pasted_leaves_are_matched_to_their_nodes_by_public_key_in_any_order():
    ca = TestCa()
    csrs = {n: csr_artifact("c1", n, "tomcat", _csr(n)) for n in ("pub.example", "sub.example")}
    signed = {n: ca.sign(a.pem, "tomcat") for n, a in csrs.items()}
    pasted = signed["sub.example"].leaf_pem + ca.chain_pems[1] + signed["pub.example"].leaf_pem + ca.chain_pems[0]
    chains = match_leaves(csrs, [pasted.encode()], source="test")
    assert set(chains) == {"pub.example", "sub.example"}
    for node, chain in chains.items():
        assert chain.leaf_pem == signed[node].leaf_pem
        assert len(chain.chain_pems) == 2  # intermediate and root; the other node's leaf is not in it


def test_approval_description_carries_every_csr_for_the_ui_and_for_certops_approve():
    state = RenewalState(cluster="c1", unit="CAPF")
    p = state.node("pub.example", "publisher")
    p.csr = csr_artifact("c1", "pub.example", "CAPF", _csr("pub.example"))
    state.approval_problems = ["pub.example: the SANs differ"]
    text = approval_description(state, instructions="portal X", deadline=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert p.csr.pem.strip() in text and "portal X" in text and "CA:TRUE" in text
    assert "The previous chain was NOT accepted" in text and "the SANs differ" in text
    assert csrs_from_description(text) == {"cluster": "c1", "unit": "CAPF", "csrs": {"pub.example": p.csr.pem}}
