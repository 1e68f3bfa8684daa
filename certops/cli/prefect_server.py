"""``python -m certops.cli.prefect_server server start …``: Prefect's own ``prefect`` command, for the embedded server.

The embedded server (``certops.renewal.server.PrefectServerProcess``) keeps its database in SQLite.
Prefect begins a SQLite write transaction ``DEFERRED`` unless the endpoint asks for ``IMMEDIATE``
(``with_for_update=True``), and its concurrency-limit endpoints — the renewal's cluster lock and the
shared RisPort70 budget — do not ask: they read the limit, then write it. When another connection
commits between that read and that write (the server's own task-state and event writes, another
renewal's claim), SQLite refuses the write at once with ``SQLITE_BUSY_SNAPSHOT``, without waiting
its busy timeout, and the client receives a 503 and must ask again. Measured on the renewal
benchmark: the release at the end of a run met such refusals for 0.06–0.29 s.

Here every write transaction of the server begins ``IMMEDIATE``: it takes SQLite's one write lock at
``BEGIN``, so a second writer waits (SQLite's busy timeout, 60 s in Prefect) instead of failing. This
is what Prefect's own server code asks of transactions that read then write; it changes nothing for
a server on PostgreSQL, and nothing for transactions Prefect already begins ``IMMEDIATE``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any


def immediate_sqlite_writes() -> None:
    """Make the SQLite configuration of Prefect's server begin every write transaction ``IMMEDIATE``."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    original: Callable[..., AbstractAsyncContextManager[Any]] = AioSqliteConfiguration.begin_transaction
    if getattr(original, "certops_immediate", False):
        return

    @asynccontextmanager
    async def begin_transaction(
        self: AioSqliteConfiguration, session: Any, with_for_update: bool = False
    ) -> AsyncGenerator[Any, None]:
        async with original(self, session, with_for_update=True) as transaction:
            yield transaction

    begin_transaction.certops_immediate = True  # type: ignore[attr-defined]
    AioSqliteConfiguration.begin_transaction = begin_transaction  # type: ignore[method-assign]


def main() -> int:
    """Run ``prefect`` with the arguments given, after :func:`immediate_sqlite_writes`."""
    immediate_sqlite_writes()
    from prefect.cli import app

    sys.argv[0] = "prefect"
    app()  # cyclopts: exits with the command's status
    return 0


if __name__ == "__main__":
    sys.exit(main())
