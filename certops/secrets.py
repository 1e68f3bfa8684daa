"""Secret resolution hooks.

The library never imports Prefect. Where certops runs under Prefect, the orchestration layer
registers a resolver that reads Prefect Secret blocks (``register_block_resolver``); elsewhere a
reference to a Secret block is a clear configuration error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from certops.errors import ConfigError

if TYPE_CHECKING:
    from certops.inventory import CredentialRef

_block_resolver: Callable[[str], str] | None = None


def register_block_resolver(resolver: Callable[[str], str] | None) -> None:
    """Install (or, with None, remove) the function that reads a Secret block by name."""
    global _block_resolver
    _block_resolver = resolver


def resolve_block(ref: CredentialRef) -> SecretStr:
    """Read the password of ``ref`` from its Secret block through the registered resolver."""
    name = ref.password_secret_block
    if name is None:
        raise ConfigError(f"user {ref.username!r} has no password_secret_block")
    if _block_resolver is None:
        raise ConfigError(
            f"the password for user {ref.username!r} is in the Prefect Secret block {name!r}, "
            "but this command does not run under Prefect",
            hint="use password_env for CLI runs, or run the flow on a Prefect server",
        )
    try:
        return SecretStr(_block_resolver(name))
    except Exception as exc:  # the resolver is foreign code: translate at the boundary
        raise ConfigError(
            f"could not read the Prefect Secret block {name!r} for user {ref.username!r}: {type(exc).__name__}",
            hint=f"create it with: prefect block create secret (name {name!r})",
        ) from exc
