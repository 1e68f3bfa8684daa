"""The seams between the renewal and the adapters: inventory file, CUCM node, CA backend.

Tasks call ``open_node`` / ``ca_backend`` / ``load_inventory`` and never construct adapters
themselves, so a test (or the demo) can install a factory in-process. The defaults use the
project's adapters: ``certops.cucm.node.CucmNode.from_inventory``, ``certops.ca.make_backend``
and ``certops.inventory_file.load_inventory``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from certops.ca.base import CaBackend
from certops.cucm.api import CucmNodeApi
from certops.errors import ConfigError
from certops.inventory import Inventory

NodeFactory = Callable[[Inventory, str, str], CucmNodeApi]
CaFactory = Callable[[Inventory, str], CaBackend]

_node_factory: NodeFactory | None = None
_ca_factory: CaFactory | None = None


def set_node_factory(factory: NodeFactory | None) -> None:
    """Install (None: remove) the function that opens a node: ``(inventory, cluster, fqdn) -> api``."""
    global _node_factory
    _node_factory = factory


def set_ca_factory(factory: CaFactory | None) -> None:
    """Install (None: remove) the function that builds a cluster's CA backend."""
    global _ca_factory
    _ca_factory = factory


def open_node(inventory: Inventory, cluster: str, fqdn: str) -> CucmNodeApi:
    """A client for node ``fqdn`` of ``cluster`` (a context manager)."""
    if _node_factory is not None:
        return _node_factory(inventory, cluster, fqdn)
    from certops.cucm.node import CucmNode

    return cast(CucmNodeApi, CucmNode.from_inventory(inventory, cluster, fqdn))


def log_in_ahead(inventory: Inventory, cluster: str, fqdns: list[str]) -> int:
    """Start the CLI login of each node in the background (``CucmNode.log_in_ahead``); returns how many started.

    Nodes installed by :func:`set_node_factory` are left alone (they bring their own sessions). A node
    that cannot be built now (an unset password variable) is skipped: the step that needs it says why.
    """
    if _node_factory is not None:
        return 0
    from certops.cucm.node import CucmNode
    from certops.errors import CertopsError

    started = 0
    for fqdn in fqdns:
        try:
            started += CucmNode.from_inventory(inventory, cluster, fqdn).log_in_ahead()
        except (CertopsError, KeyError):
            continue
    return started


@contextlib.contextmanager
def kept_connections() -> Iterator[None]:
    """Keep each node's CLI session and HTTPS connections open between the steps of this process while inside.

    One SSH login per node for a renewal's whole block of steps (``certops.cucm.shell.reuse_sessions``)
    and its HTTPS connections reused from step to step (``certops.cucm.keepalive.reuse_connections``);
    both are let go when the outermost scope ends.
    """
    from certops.cucm.keepalive import reuse_connections
    from certops.cucm.shell import reuse_sessions

    with reuse_sessions(), reuse_connections():
        yield


def let_connections_go() -> int:
    """Log out every idle CLI session and close every idle HTTPS client of this process (before a long wait).

    Returns how many CLI sessions were logged out.
    """
    from certops.cucm.keepalive import CLIENTS
    from certops.cucm.shell import SESSIONS

    CLIENTS.close_idle()
    return SESSIONS.close_idle()


def ca_backend(inventory: Inventory, cluster: str) -> CaBackend:
    """The CA backend ``cluster`` uses (manual, lab, ACME)."""
    if _ca_factory is not None:
        return _ca_factory(inventory, cluster)
    from certops import ca

    make: Any = getattr(ca, "make_backend", None)
    if make is None:
        raise ConfigError("no CA backends are installed in this build (certops.ca.make_backend is missing)")
    cl = inventory.cluster(cluster)
    name, config = inventory.ca_for(cl)
    backend: CaBackend = make(name, config)
    return backend


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the inventory file at ``path``."""
    from certops.inventory_file import load_inventory as _load

    inv: Inventory = _load(Path(path))
    return inv
