"""HTTPS connections kept between the steps of one renewal (keep-alive across tasks).

Every step of a renewal opens the node it works on and closes it when done: without this, each
one makes a new TLS connection, and with it a new login (HTTP Basic) that the node's Tomcat
checks. A renewal of one unit on a six-node cluster made about forty of them; on a real cluster
over a WAN each costs a TCP and TLS round trip or more, and each login is work for the node.

While a :func:`reuse_connections` scope is held (the renewal flow holds one for the whole run,
beside its CLI sessions), a ``NodeHttp`` whose step ends gives its httpx client back here instead
of closing it, and the next ``NodeHttp`` for the same node, port, account and TLS settings takes it,
with the connection still open when it is fresh. What keeps this safe:

- A client is lent to one ``NodeHttp`` at a time; two steps on one node at once get two clients.
- The key names the address, port, FQDN (SNI and host check), account (username and a digest of
  the password, kept in memory only), the TLS context (one per CA bundle version) and timeout: a
  client is never lent to a step that would have made a different one.
- httpx closes a connection idle for more than five seconds (:data:`KEEPALIVE_EXPIRY`, httpx's
  own default) before it would send on it, and one the node has closed (a Tomcat restart ends every connection); a
  step then connects anew, as it would have without the pool. [INF: CUCM's Tomcat keep-alive
  timeout is not documented; httpx's five seconds stay below the usual Tomcat defaults.]
- When the last scope ends, or before a long wait (a person's approval, another run holding
  the cluster: :meth:`ClientPool.close_idle`), every idle client is closed.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

from certops.cucm.scoped import ScopedPool

if TYPE_CHECKING:
    import httpx

KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept before the client closes it (httpx's default, made explicit)."""

ClientKey = tuple[str, str, str, bytes, int, float]
"""(base URL, FQDN, username, password digest, id of the TLS context, timeout)."""


def client_key(*, base_url: str, fqdn: str, username: str, secret: str, context_id: int, timeout: float) -> ClientKey:
    """The pool key of a client with these settings (the password enters only as a SHA-256 digest)."""
    return (base_url, fqdn, username, hashlib.sha256(secret.encode()).digest(), context_id, timeout)


class ClientPool(ScopedPool):
    """httpx clients of this process kept between steps while a :meth:`scope` is held. Thread-safe.

    ``made`` counts the clients made while pooling, per key (what a renewal spent, for tests and
    benchmarks); ``lent`` counts the times an idle one was lent again.
    """

    def __init__(self, keepalive_expiry: float = KEEPALIVE_EXPIRY) -> None:
        super().__init__()
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[ClientKey, list[httpx.Client]] = {}
        self.made: dict[ClientKey, int] = {}
        self.lent = 0

    def take(self, key: ClientKey) -> httpx.Client | None:
        """An idle client of ``key`` (None: none, or pooling is off)."""
        with self._lock:
            if self._scopes == 0:
                return None
            idle = self._idle.get(key)
            while idle:
                client = idle.pop()
                if not client.is_closed:
                    self.lent += 1
                    return client
            return None

    def made_one(self, key: ClientKey) -> None:
        """Record a client made for ``key`` (only while pooling)."""
        with self._lock:
            if self._scopes > 0:
                self.made[key] = self.made.get(key, 0) + 1

    def give(self, key: ClientKey, client: httpx.Client) -> bool:
        """Keep ``client`` for the next step of its key; False (the caller closes it) when pooling is off."""
        with self._lock:
            if self._scopes == 0 or client.is_closed:
                return False
            self._idle.setdefault(key, []).append(client)
            return True

    def close_idle(self) -> int:
        """Close every idle client now (e.g. before a long wait); returns how many."""
        with self._lock:
            idle = [c for clients in self._idle.values() for c in clients]
            self._idle.clear()
        for client in idle:
            with contextlib.suppress(Exception):  # a connection already gone is as good as closed
                client.close()
        return len(idle)


CLIENTS = ClientPool()
"""This process's pool of HTTPS clients."""


def reuse_connections() -> contextlib.AbstractContextManager[ClientPool]:
    """Keep HTTPS connections open between the steps of this process while inside."""
    return CLIENTS.scope()
