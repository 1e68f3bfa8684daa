"""A Prefect server too busy to answer: how to recognise it, and how certops asks again — one answer for every caller.

A SQLite Prefect server under many runs at once answers 503 ("database is locked") or 429/502 after
the client's own retries; concurrency-slot calls wrap that in Prefect's ``ConcurrencySlotAcquisitionError``
(a private class: recognised by name and message).

Prefect's client waits ``2 ** attempt`` seconds after a 503 before it asks again (2 s the first
time, and once more after its last attempt even with retries set to 0). SQLite's refusal of a
write that lost to another (the run's own task-state and log writes among them) is immediate and
worth asking again at once, so certops's own small writes on the renewal's path — the lock's claim,
the RisPort70 budget's take — are sent once per try (:func:`send_once`) and asked again after
:data:`BUSY_FIRST_PAUSE`, doubling to 15 s, for up to :data:`BUSY_SERVER_WAIT` seconds
(:func:`asking_again`). Measured on a plain ``prefect server start``: a claim released at the end of
a renewal met such a 503 in about one run in two and waited Prefect's 2 s. The embedded server
(``certops.cli.prefect_server``) begins its writes IMMEDIATE and no longer refuses them; a server
the user started with ``prefect server start`` still does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

BUSY_STATUSES = (429, 502, 503)
_BUSY = re.compile(r"\b(429|502|503)\b|Service Unavailable|Too Many Requests|database is locked", re.I)

BUSY_SERVER_WAIT = 300.0
"""Seconds a call waits out a Prefect server too busy to answer before the error stands."""

BUSY_FIRST_PAUSE = 0.05
"""Seconds before asking a busy server again, doubling to :data:`BUSY_LONGEST_PAUSE`."""

BUSY_LONGEST_PAUSE = 15.0

T = TypeVar("T")


def server_busy(exc: BaseException) -> bool:
    """True for a Prefect server too busy to answer (after the client's own retries): 429/502/503."""
    if isinstance(exc, httpx.HTTPStatusError):  # Prefect's PrefectHTTPStatusError among them
        return exc.response.status_code in BUSY_STATUSES
    return type(exc).__name__ == "ConcurrencySlotAcquisitionError" and bool(_BUSY.search(str(exc)))


def worth_asking_again(exc: BaseException) -> bool:
    """A busy server (:func:`server_busy`) or a connection that dropped or timed out: ask again."""
    return isinstance(exc, httpx.TransportError) or server_busy(exc)


def can_send_once(client: Any) -> bool:
    """Whether ``client`` (a sync Prefect client) lends its ``httpx.Client`` for :func:`send_once`.

    Not when it has none, nor when it may need CSRF tokens and cannot add them itself.
    """
    http = getattr(client, "_client", None)
    if not isinstance(http, httpx.Client):
        return False
    return not getattr(http, "enable_csrf_support", False) or callable(getattr(http, "_add_csrf_headers", None))


def send_once(client: Any, method: str, path: str, *, json: Any = None) -> httpx.Response:
    """``method path`` (relative to the API URL) sent once through ``client``'s own ``httpx.Client``.

    The base URL, headers and TLS settings are the Prefect client's, and a change request carries
    the CSRF token a server with CSRF protection wants (Prefect's client fetches it, or learns the
    server wants none); its retry wrapper is left out. Raises ``httpx.HTTPStatusError`` for an
    error status (404 included: callers that expect one catch it) and ``httpx.TransportError`` for
    a dropped connection. Check :func:`can_send_once` first.
    """
    http = client._client
    request = http.build_request(method, path, json=json)
    csrf = getattr(http, "_add_csrf_headers", None) if method.upper() != "GET" else None
    if csrf is not None:
        csrf(request)
    response = httpx.Client.send(http, request)
    if csrf is not None and response.status_code == 403 and "Invalid CSRF token" in response.text:
        http.csrf_token = None  # expired on the server: a new one, once
        csrf(request)
        response = httpx.Client.send(http, request)
    response.raise_for_status()
    return response


def asking_again(
    call: Callable[[], T],
    *,
    wait: float | None = None,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """``call()``, asked again while the server is busy or the connection drops (only for idempotent calls).

    Pauses :data:`BUSY_FIRST_PAUSE` seconds, doubling to :data:`BUSY_LONGEST_PAUSE`; once the next
    pause would pass ``wait`` seconds (:data:`BUSY_SERVER_WAIT`), the error stands. Any other error
    is raised at once.
    """
    nap = sleep or time.sleep
    deadline = time.monotonic() + (BUSY_SERVER_WAIT if wait is None else wait)
    pause = BUSY_FIRST_PAUSE
    while True:
        try:
            return call()
        except Exception as exc:
            if not worth_asking_again(exc) or time.monotonic() + pause > deadline:
                raise
        nap(pause)
        pause = min(pause * 2, BUSY_LONGEST_PAUSE)
