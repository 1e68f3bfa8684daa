"""Is a Prefect server error "too busy to answer" (worth asking again) — one answer for every caller.

A SQLite Prefect server under many runs at once answers 503 ("database is locked") or 429/502 after
the client's own retries; concurrency-slot calls wrap that in Prefect's ``ConcurrencySlotAcquisitionError``
(a private class: recognised by name and message).
"""

from __future__ import annotations

import re

BUSY_STATUSES = (429, 502, 503)
_BUSY = re.compile(r"\b(429|502|503)\b|Service Unavailable|Too Many Requests|database is locked", re.I)


def server_busy(exc: BaseException) -> bool:
    """True for a Prefect server too busy to answer (after the client's own retries): 429/502/503."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):  # Prefect's PrefectHTTPStatusError among them
        return exc.response.status_code in BUSY_STATUSES
    return type(exc).__name__ == "ConcurrencySlotAcquisitionError" and bool(_BUSY.search(str(exc)))
