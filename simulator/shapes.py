"""Captured answer shapes a twin builds from its own state: :class:`SnapshotShape`, :class:`TwinShapes`.

A twin (``simulator.twin.TwinFleet``) reads them from its capture; the handlers (``certmgr``,
``soap``) ask :func:`of` and answer as the simulator does where a cluster has none (every fleet
not made from a capture). Unlike :mod:`simulator.replay` nothing here is replayed verbatim: the
answer carries the twin's current certificates, CSRs, trust stores, nodes and phones, in the
structure and value conventions the captured node used. This module imports nothing from the
simulator's handlers, so they can import it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.state import SimulatedCluster

_CERT_MARKS = ("-----BEGIN CERTIFICATE-----", "<certificate removed")  # the latter: an anonymized capture
_CSR_MARK = "CERTIFICATE REQUEST"
_ABSENT = object()  # a captured item without the key


def _is_cert(value: Any) -> bool:
    return isinstance(value, str) and any(m in value for m in _CERT_MARKS) and _CSR_MARK not in value


def _is_csr(key: str, value: Any) -> bool:
    return (isinstance(value, str) and _CSR_MARK in value) or "csr" in key.lower()


@dataclass
class ItemShape:
    """One captured list item: its keys in order, which key holds what, the rest copied as captured."""

    keys: list[str]
    name_key: str  # the unit (identities) or the store (trusts)
    value_key: str  # the certificate PEM (identities) or the certificate list (trusts)
    csr_key: str = "csr"  # identities: where a pending CSR goes
    csr_none: Any = _ABSENT  # identities: what the captured item held there without a CSR (absent: no key)
    suffix: str = ""  # trusts: "-trust" where the node named stores with it
    extras: dict[str, Any] = field(default_factory=dict)

    def normal(self) -> tuple[Any, ...]:
        """The shape without the CSR slot (whether a CSR was pending is state, not shape), hashable."""
        keys = tuple(k for k in self.keys if k != self.csr_key)
        return keys, self.name_key, self.value_key, self.suffix, json.dumps(self.extras, sort_keys=True, default=str)


@dataclass
class CertShape:
    """One certificate of a captured trust list: a bare PEM string, or a dict with these keys."""

    keys: list[str] | None  # None: bare strings
    pem_key: str = "certificate"
    filename_key: str | None = "filename"
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class SnapshotShape:
    """``GET /snapshot/server`` as a node answered it, to be filled with the twin's state.

    ``roles`` maps each top-level key (in the captured order) to ``tracking`` (fresh each time),
    ``server`` (the node's FQDN), ``identities``, ``trusts`` or ``extra`` (``extras``: as captured).
    Identity and trust items take the key names and order of the captured item of the same unit or
    store, else of the first captured item; their extra keys are copied from that item.
    """

    roles: dict[str, str]
    extras: dict[str, Any]
    identities: dict[str, ItemShape]  # by unit; "" = the first captured item
    trusts: dict[str, ItemShape]  # by store (without -trust); "" = the first
    certs: dict[str, CertShape]  # by store; "" = the first

    @classmethod
    def read(cls, data: Any) -> SnapshotShape | None:
        """The shape of a captured snapshot answer; None when it has no identities list to rebuild."""
        if not isinstance(data, dict):
            return None
        roles: dict[str, str] = {}
        for key, value in data.items():
            if key == "trackingId":
                roles[key] = "tracking"
            elif key == "server" and isinstance(value, str):
                roles[key] = "server"
            elif isinstance(value, list) and "identities" not in roles.values() and _identity_list(key, value):
                roles[key] = "identities"
            elif isinstance(value, list) and "trusts" not in roles.values() and _trust_list(key, value):
                roles[key] = "trusts"
            else:
                roles[key] = "extra"
        if "identities" not in roles.values():
            return None
        identities: dict[str, ItemShape] = {}
        trusts: dict[str, ItemShape] = {}
        certs: dict[str, CertShape] = {}
        for key, role in roles.items():
            if role == "identities":
                for item in data[key]:
                    shape = _identity_item(item)
                    if shape is not None:
                        identities.setdefault(str(item[shape.name_key]), shape)
                        identities.setdefault("", shape)
            elif role == "trusts":
                for item in data[key]:
                    shape = _trust_item(item)
                    if shape is None:
                        continue
                    store = str(item[shape.name_key]).removesuffix("-trust")
                    trusts.setdefault(store, shape)
                    trusts.setdefault("", shape)
                    listed = item[shape.value_key]
                    if listed:
                        cert = _cert_item(listed[0])
                        certs.setdefault(store, cert)
                        certs.setdefault("", cert)
        if not identities:
            return None
        extras = {k: v for k, v in data.items() if roles[k] == "extra"}
        return cls(roles=roles, extras=extras, identities=identities, trusts=trusts, certs=certs)

    def same_as(self, other: SnapshotShape) -> bool:
        """Whether this shape is ``other``'s (the simulator's): same keys, order and extras, items alike."""
        if list(self.roles.items()) != list(other.roles.items()) or self.extras != other.extras:
            return False
        mine = {s.normal() for s in self.identities.values()}
        theirs = {s.normal() for s in other.identities.values()}
        trust_mine = {s.normal() for s in self.trusts.values()}
        trust_theirs = {s.normal() for s in other.trusts.values()}
        certs_mine = [vars(c) for c in self.certs.values()]
        certs_theirs = [vars(c) for c in other.certs.values()]
        return (
            len(mine) == len(theirs) == 1
            and mine == theirs
            and (not trust_mine or not trust_theirs or trust_mine == trust_theirs)
            and all(c in certs_theirs for c in certs_mine)
        )

    def differences(self, other: SnapshotShape) -> list[str]:
        """In a few words, how this shape differs from ``other`` (the simulator's), for the twin's note."""
        out = []
        keys, sim_keys = list(self.roles), list(other.roles)
        extra = [k for k in keys if k not in sim_keys]
        if extra:
            out.append(f"extra keys {', '.join(extra)}")
        if [k for k in keys if k in sim_keys] != [k for k in sim_keys if k in keys]:
            out.append(f"key order {', '.join(keys)}")
        first, sim_first = self.identities[""], other.identities[""]
        if first.normal() != sim_first.normal():
            out.append(f"identity items {', '.join(first.keys)}")
        if self.trusts and other.trusts and self.trusts[""].normal() != other.trusts[""].normal():
            out.append(f"trust items {', '.join(self.trusts[''].keys)}")
        if self.certs and other.certs and vars(self.certs[""]) != vars(other.certs[""]):
            cert = self.certs[""]
            out.append(f"trust certificates {', '.join(cert.keys) if cert.keys is not None else 'as bare PEMs'}")
        return out or ["as captured"]

    def render(
        self,
        *,
        server: str,
        tracking: str,
        identities: list[tuple[str, str, str | None]],
        trusts: list[tuple[str, list[tuple[str, str]]]],
    ) -> dict[str, Any]:
        """The answer with the twin's ``identities`` (unit, PEM, pending CSR) and ``trusts`` (store, files)."""
        out: dict[str, Any] = {}
        for key, role in self.roles.items():
            if role == "tracking":
                out[key] = tracking
            elif role == "server":
                out[key] = server
            elif role == "identities":
                out[key] = [self._identity(unit, pem, csr) for unit, pem, csr in identities]
            elif role == "trusts":
                out[key] = [self._trust(store, files) for store, files in trusts]
            else:
                out[key] = copy.deepcopy(self.extras[key])
        return out

    def _identity(self, unit: str, pem: str, csr: str | None) -> dict[str, Any]:
        shape = self.identities.get(unit) or self.identities[""]
        given: dict[str, Any] = {shape.name_key: unit, shape.value_key: pem}
        if csr is not None:
            given[shape.csr_key] = csr
        elif shape.csr_none is not _ABSENT:
            given[shape.csr_key] = copy.deepcopy(shape.csr_none)
        return _fill(shape.keys, given, shape.extras)

    def _trust(self, store: str, files: list[tuple[str, str]]) -> dict[str, Any]:
        shape = (
            self.trusts.get(store)
            or self.trusts.get("")
            or ItemShape(["service", "certificate_data"], "service", "certificate_data")
        )
        cert = self.certs.get(store) or self.certs.get("") or CertShape(["filename", "certificate"])
        given = {shape.name_key: store + shape.suffix, shape.value_key: [_cert(cert, f, pem) for f, pem in files]}
        return _fill(shape.keys, given, shape.extras)


def _cert(shape: CertShape, filename: str, pem: str) -> Any:
    if shape.keys is None:
        return pem
    given = {shape.pem_key: pem} | ({shape.filename_key: filename} if shape.filename_key else {})
    return _fill(shape.keys, given, shape.extras)


def _fill(keys: list[str], given: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """A captured item rebuilt: ``keys`` in order, ``given`` values where set, else the captured ``extras``;
    ``given`` keys the captured item lacked come last (a CSR where the node had none pending)."""
    out = {k: given[k] if k in given else copy.deepcopy(extras[k]) for k in keys if k in given or k in extras}
    for key, value in given.items():
        out.setdefault(key, value)
    return out


def _identity_list(key: str, value: list[Any]) -> bool:
    return key == "identities" or any(isinstance(i, dict) and any(_is_cert(v) for v in i.values()) for i in value)


def _trust_list(key: str, value: list[Any]) -> bool:
    return key == "trusts" or any(
        isinstance(i, dict) and any(isinstance(v, list) and any(_pem_in(x) for x in v) for v in i.values())
        for i in value
    )


def _pem_in(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_is_cert(v) for v in value.values())
    return _is_cert(value)


def _identity_item(item: Any) -> ItemShape | None:
    """Which key of a captured identity holds the unit, the certificate, the CSR; the rest are extras."""
    if not isinstance(item, dict):
        return None
    value_key = next((k for k, v in item.items() if _is_cert(v)), None)
    if value_key is None:
        return None
    csr_key = next((k for k, v in item.items() if k != value_key and _is_csr(k, v)), None)
    name_key = "service" if isinstance(item.get("service"), str) else None
    if name_key is None:
        name_key = next((k for k, v in item.items() if k not in (value_key, csr_key) and isinstance(v, str)), None)
    if name_key is None:
        return None
    csr_none: Any = _ABSENT
    if csr_key is not None and not (isinstance(item[csr_key], str) and _CSR_MARK in item[csr_key]):
        csr_none = item[csr_key]  # e.g. null or "" where no CSR is pending
    roles = {name_key, value_key, csr_key}
    extras = {k: v for k, v in item.items() if k not in roles}
    return ItemShape(list(item), name_key, value_key, csr_key or "csr", csr_none, "", extras)


def _trust_item(item: Any) -> ItemShape | None:
    """Which key of a captured trust store holds its name and its certificates; the rest are extras."""
    if not isinstance(item, dict):
        return None
    value_key = "certificate_data" if isinstance(item.get("certificate_data"), list) else None
    if value_key is None:
        value_key = next((k for k, v in item.items() if isinstance(v, list)), None)
    name_key = "service" if isinstance(item.get("service"), str) else None
    if name_key is None:
        name_key = next((k for k, v in item.items() if k != value_key and isinstance(v, str)), None)
    if value_key is None or name_key is None:
        return None
    suffix = "-trust" if str(item[name_key]).endswith("-trust") else ""
    extras = {k: v for k, v in item.items() if k not in (name_key, value_key)}
    return ItemShape(list(item), name_key, value_key, "", _ABSENT, suffix, extras)


def _cert_item(item: Any) -> CertShape:
    if not isinstance(item, dict):
        return CertShape(None)
    pem_key = next((k for k, v in item.items() if _is_cert(v)), "certificate")
    filename_key = next(
        (k for k, v in item.items() if k != pem_key and ("name" in k.lower() or str(v).endswith((".pem", ".der")))),
        None,
    )
    extras = {k: v for k, v in item.items() if k not in (pem_key, filename_key)}
    return CertShape(list(item), pem_key, filename_key, extras)


@dataclass
class TwinShapes:
    """The captured conventions of a twin cluster's AXL, RisPort70 and Control Center answers.

    ``processnode_rows``: the non-node rows of ``select ... from processnode`` as captured (None:
    the simulator's ``EnterpriseWideData``). ``phone_interaction_row``: False where the captured
    node answered no row for PhoneInteractionOnCertificateUpdate. ``ris_last_state``: the
    StateInfo the captured node gave on its last page (None: the simulator's empty one).
    ``cc_hidden``: by node FQDN, the services ``utils service list`` shows that Control Center did
    not list (None for a node: the simulator's CLI-only services).
    """

    processnode_rows: list[dict[str, str]] | None = None
    phone_interaction_row: bool = True
    ris_last_state: str | None = None
    cc_hidden: dict[str, frozenset[str]] = field(default_factory=dict)


_NONE = TwinShapes()


def of(cluster: SimulatedCluster) -> TwinShapes:
    """The cluster's captured conventions; the simulator's own for clusters not made from a capture."""
    found: TwinShapes | None = getattr(cluster, "twin_conventions", None)
    return found if found is not None else _NONE


def snapshot_shape(cluster: SimulatedCluster, fqdn: str) -> SnapshotShape | None:
    """The captured snapshot shape of node ``fqdn``; None: the simulator's."""
    shapes: dict[str, SnapshotShape] = getattr(cluster, "twin_snapshot", {})
    return shapes.get(fqdn)
