"""IM and Presence trust: the CA certificates go to the IM&P database publisher and replicate from there.

Cisco (procedure.md, "What Cisco's Security Guides add", IM&P units): the CA root and intermediates of
a ``cup*`` certificate are uploaded to the IM&P database publisher (``cup-trust`` / ``cup-xmpp-trust``);
then Cisco Intercluster Sync Agent is restarted there, and the trust reaches the other IM&P nodes in
"about 30 minutes". certops does not trust that figure: it reads every IM&P node's trust store until
each holds every CA certificate, bounded by ``RenewalSettings.imp_trust_replication_timeout``, and
otherwise says exactly which node, which trust store and which certificate did not arrive.

Library code: no Prefect. The reader (one node's trust store as PEM texts) and the clock are passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509

from certops.renewal import waiting
from certops.renewal.steps import RenewalStopped, pem_fingerprint

SYNC_AGENT = "Cisco Intercluster Sync Agent"
"""The service restarted on the IM&P database publisher after a trust upload (GUIDE IM&P)."""

TrustReader = Callable[[str], list[str]]
"""``fqdn -> PEM texts`` of the unit's trust store on that node (raises ``CertopsError`` when unreadable)."""


@dataclass(frozen=True)
class Missing:
    """One CA certificate not (yet) in one node's trust store."""

    node: str
    store: str
    subject: str
    fingerprint: str

    def line(self) -> str:
        """``imp2.example.com: cup-xmpp-trust lacks 'CN=Lab Root' (sha256 0a1b2c3d4e5f…)``."""
        return f"{self.node}: {self.store} lacks '{self.subject}' (sha256 {self.fingerprint[:12]}…)"


@dataclass(frozen=True)
class Unreadable:
    """A node whose trust store could not be read at the last look."""

    node: str
    reason: str

    def line(self) -> str:
        """``imp2.example.com: trust store not readable (…)``."""
        return f"{self.node}: its trust store could not be read ({self.reason})"


def _subject(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


def missing_on(node: str, store: str, present_pems: Iterable[str], wanted_pems: Iterable[str]) -> list[Missing]:
    """The certificates of ``wanted_pems`` that ``present_pems`` (one node's ``store``) does not hold."""
    present = {pem_fingerprint(p) for p in present_pems}
    out: list[Missing] = []
    for pem in wanted_pems:
        fp = pem_fingerprint(pem)
        if fp not in present:
            out.append(Missing(node=node, store=store, subject=_subject(pem), fingerprint=fp))
    return out


def look(
    nodes: Iterable[str], store: str, wanted_pems: list[str], read: TrustReader
) -> tuple[list[Missing], list[Unreadable]]:
    """One look at every node: what each lacks, and which could not be read."""
    from certops.errors import CertopsError

    missing: list[Missing] = []
    unreadable: list[Unreadable] = []
    for fqdn in nodes:
        try:
            present = read(fqdn)
        except CertopsError as exc:
            unreadable.append(Unreadable(node=fqdn, reason=exc.message))
            continue
        missing += missing_on(fqdn, store, present, wanted_pems)
    return missing, unreadable


def wait_replicated(
    *,
    cluster: str,
    unit: str,
    publisher: str,
    store: str,
    nodes: list[str],
    wanted_pems: list[str],
    read: TrustReader,
    timeout: float,
    poll: float,
    log: waiting.Log,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait until every node of ``nodes`` holds every certificate of ``wanted_pems`` in ``store``.

    Reads each node's store at once, then every ``poll`` seconds, for at most ``timeout`` seconds
    (progress lines as every :class:`waiting.Wait`). Returns the seconds waited. When the bound
    passes, raises :class:`RenewalStopped` naming each node, store and certificate that did not
    arrive (and each node that could not be read), what was done and what to do.
    """
    wait = waiting.Wait(
        f"cluster {cluster} [{unit}]",
        f"the CA certificates in {store} on the IM&P database publisher {publisher} to replicate to {', '.join(nodes)}",
        bound=timeout,
        log=log,
        setting="imp_trust_replication_timeout",
        clock=clock,
    )
    while True:
        missing, unreadable = look(nodes, store, wanted_pems, read)
        if not missing and not unreadable:
            waited = wait.elapsed
            wait.done(f"every IM&P node holds the CA certificates in {store}")
            return waited
        if not wait.started:
            wait.start(_state(missing, unreadable, len(nodes)))
        elif wait.expired:
            raise not_replicated(cluster, unit, publisher, store, missing, unreadable, timeout)
        else:
            wait.tick(_state(missing, unreadable, len(nodes)))
        sleep(poll)


def _state(missing: list[Missing], unreadable: list[Unreadable], total: int) -> str:
    late = {m.node for m in missing} | {u.node for u in unreadable}
    return f"{total - len(late)} of {total} IM&P nodes hold them; not yet: {', '.join(sorted(late))}"


def not_replicated(
    cluster: str,
    unit: str,
    publisher: str,
    store: str,
    missing: list[Missing],
    unreadable: list[Unreadable],
    timeout: float,
) -> RenewalStopped:
    """The refusal when the bound passed: what did not replicate, what was done, what to do."""
    what = "; ".join([m.line() for m in missing] + [u.line() for u in unreadable])
    return RenewalStopped(
        f"cluster {cluster} [{unit}]: the CA certificates uploaded to {store} on the IM&P database publisher "
        f"{publisher} did not reach every IM&P node within {waiting.duration(timeout)} "
        f"(imp_trust_replication_timeout) after {SYNC_AGENT} restarted there: {what}. Done: the upload to "
        f"{publisher} and the {SYNC_AGENT} restart. Not done: every identity upload, restart and verification "
        f"of {unit} (no node got the new certificate)",
        hint=f"look at {SYNC_AGENT} on {publisher} and at the IM&P database replication "
        "('utils dbreplication runtimestate' on the IM&P publisher); then a plain rerun of the same certops "
        f"renew restarts {SYNC_AGENT} once more and waits again (nothing is uploaded twice, the CSRs are kept), "
        "or raise imp_trust_replication_timeout",
    )


def union_in_order(pem_lists: Iterable[Iterable[str]]) -> list[str]:
    """Every PEM of the lists once, first seen first (the nodes' chains usually share their CA)."""
    seen: set[str] = set()
    out: list[str] = []
    for pems in pem_lists:
        for pem in pems:
            fp = pem_fingerprint(pem)
            if fp not in seen:
                seen.add(fp)
                out.append(pem)
    return out
