"""Captured answers a twin gives instead of the simulator's: :class:`ReplayBook`.

A twin (``simulator.twin.TwinFleet``) fills one book per cluster from its capture: for a node,
an interface (``cli`` or ``certmgr``) and a request (the CLI command, or ``GET <path>?<query>``
as the capture's recorder labels it), the captured status and body, and a predicate "the twin's
state is still as it was captured" (for example: SSO as captured, no CSR pending for the unit).
The CLI and certmgr handlers ask :func:`lookup`; a cluster without a book (every fleet not made
from a capture) keeps the simulator's answers. This module imports nothing from the simulator's
handlers, so they can import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.state import SimulatedNode


def always(_node: SimulatedNode) -> bool:
    """The predicate of an answer no twin state changes."""
    return True


@dataclass(frozen=True)
class Replay:
    """One captured answer and when it still holds."""

    status: int | None  # HTTP status; None for the CLI
    body: str  # as captured (redacted as the capture wrote it)
    content_type: str = ""
    holds: Callable[[SimulatedNode], bool] = always


class ReplayBook:
    """Captured answers by (node FQDN, interface, request)."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str, str], Replay] = {}

    @staticmethod
    def key(fqdn: str, interface: str, request: str) -> tuple[str, str, str]:
        """The book's key: FQDN lowercased, the request's words single-spaced (CLI: lowercased too)."""
        words = request.split()
        if interface == "cli":
            words = [w.lower() for w in words]
        return fqdn.lower(), interface, " ".join(words)

    def add(self, fqdn: str, interface: str, request: str, replay: Replay) -> None:
        """Answer ``request`` on ``fqdn``'s ``interface`` with ``replay`` while its predicate holds."""
        self._answers[self.key(fqdn, interface, request)] = replay

    def answer(self, node: SimulatedNode, interface: str, request: str) -> Replay | None:
        """The captured answer for ``request`` on ``node``, or None (no such answer, or the state moved on)."""
        found = self._answers.get(self.key(node.fqdn, interface, request))
        if found is None or not found.holds(node):
            return None
        return found

    def __len__(self) -> int:
        return len(self._answers)


def lookup(node: SimulatedNode, interface: str, request: str) -> Replay | None:
    """The captured answer ``node``'s cluster replays for ``request``; None for clusters without a book."""
    book: ReplayBook | None = getattr(node.cluster, "twin_replay", None)
    if book is None:
        return None
    return book.answer(node, interface, request)
