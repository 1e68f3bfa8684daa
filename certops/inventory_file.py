"""Loading the inventory YAML file, with every problem reported at its place.

``load_inventory(path)`` returns a validated ``Inventory`` or raises ``ConfigError`` whose
``problems`` lists **every** problem found, each with its YAML path
(``clusters[0].nodes[1].fqdn``) and its line and column in the file. Unknown keys get a
"did you mean" suggestion. Relative paths (``tls.ca_bundle``, ``ssh.known_hosts``, CA backend
files) are resolved relative to the inventory file. Turning TLS verification or SSH host-key
checking off is allowed but logged as a WARNING.

``check_inventory(path)`` is what ``certops config check`` uses: the same, plus whether the
referenced files exist and the password environment variables are set. A ``tls.ca_bundle`` that
does not exist while ``verify`` is on is a problem (the nodes could not be verified) unless
``files_elsewhere`` says the check runs away from the inventory's files; other missing files and
unset variables are warnings (the flows may run on another machine). It never prints a secret's
value.

Every problem is found in one pass: the cross-checks (cluster names, CA backends, credentials,
one publisher per cluster, an FQDN listed twice in a cluster or in two clusters, ``urgent_days``
above the renewal threshold) read the YAML itself, so they are reported together with the type
errors pydantic finds instead of only once those are fixed.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from certops.errors import ConfigError
from certops.inventory import CredentialRef, Inventory

log = logging.getLogger("certops.inventory")


# -- a YAML loader without YAML 1.1's base-60 numbers ----------------------------------------------
# "start: 22:00" must stay the string "22:00", not the integer 1320.
# Two loaders with the same resolvers: libyaml's parser (``CSafeLoader``, when PyYAML was built with
# it) reads a large inventory about ten times faster; the pure-Python one words the syntax errors
# a person sees, and stands in when libyaml is missing.


class _Loader(yaml.SafeLoader):
    pass


_LIBYAML = hasattr(yaml, "CSafeLoader")


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_RESOLVERS = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _cls in (_Loader, _FastLoader):
    _cls.yaml_implicit_resolvers = {key: list(value) for key, value in _RESOLVERS.items()}
    _cls.add_implicit_resolver(
        _INT,
        re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
        list("-+0123456789"),
    )
    _cls.add_implicit_resolver(
        _FLOAT,
        re.compile(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )


def _parse(text: str) -> tuple[Node | None, Any]:
    """The YAML node tree of ``text`` (for places and duplicate keys) and the data built from it.

    One parse, by libyaml when available; the data is constructed from the same node tree. A
    document libyaml refuses is parsed again by the pure-Python loader, so a syntax error is
    worded and placed exactly as before (or, should libyaml refuse what PyYAML accepts, the
    document is read as before). A document with merge keys (``<<``) is loaded apart: building
    its data would rewrite the tree the places are looked up in.
    """
    try:
        root, data = _compose_and_construct(_FastLoader, text)
    except yaml.YAMLError:
        if not _LIBYAML:
            raise
        root, data = _compose_and_construct(_Loader, text)
    return root, data


def _compose_and_construct(loader_class: type[Any], text: str) -> tuple[Node | None, Any]:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        if "<<" in text:
            return root, yaml.load(text, Loader=loader_class)  # noqa: S506  (both loaders are safe loaders)
        data = loader.construct_document(root)
    finally:
        loader.dispose()
    return root, data


@dataclass
class InventoryCheck:
    """The outcome of reading an inventory: the inventory (when valid), problems and warnings."""

    path: Path
    inventory: Inventory | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    root: Node | None = field(default=None, repr=False)  # the YAML node tree, for places

    @property
    def ok(self) -> bool:
        """True when the inventory is valid (warnings allowed)."""
        return self.inventory is not None and not self.problems


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the inventory at ``path``.

    Raises ``ConfigError`` listing every problem with its YAML path and line/column. Logs a
    WARNING for each place where TLS verification or SSH host-key checking is turned off.
    """
    result = _read(Path(path))
    if result.problems or result.inventory is None:
        raise ConfigError(
            f"the inventory {result.path} has {len(result.problems)} problem(s)",
            problems=result.problems,
            hint=f"fix them and run: certops config check {result.path}",
        )
    for warning in result.warnings:
        log.warning("%s", warning)
    return result.inventory


def check_inventory(
    path: str | Path, *, environ: dict[str, str] | None = None, files_elsewhere: bool = False
) -> InventoryCheck:
    """Everything ``load_inventory`` checks, plus referenced files and password variables.

    A node ``tls.ca_bundle`` that does not exist while ``verify`` is on is a problem (with its
    place), unless ``files_elsewhere`` (then a warning). Other missing referenced files
    (known_hosts, CA backend bundles), unset password variables and Secret-block references are
    warnings: the flows may run on another machine.
    """
    env = os.environ if environ is None else environ
    result = _read(Path(path))
    inv = result.inventory
    if inv is None:
        return result
    for place, file, what in _referenced_files(inv):
        if file is None:
            continue
        if not file.exists() and place in _verified_bundles(inv) and not files_elsewhere:
            loc = tuple(int(x) if x.isdigit() else x for x in re.split(r"[.\[\]]+", place) if x)
            message = (
                f"{what} {file} does not exist, and TLS verification is on: no node could be verified "
                "(put the CA's PEM file there, or fix the path; relative paths are relative to the inventory; "
                "--files-elsewhere if the files are on another machine)"
            )
            result.problems.append(
                _place(result.root, loc, message) if result.root is not None else f"{place}: {message}"
            )
        elif not file.exists():
            result.warnings.append(f"{place}: {what} {file} does not exist here")
        elif not os.access(file, os.R_OK):
            result.warnings.append(f"{place}: {what} {file} is not readable here")
    for place, ref in _credential_refs(inv):
        if ref.password_env is not None and ref.password_env not in env:
            result.warnings.append(
                f"{place}: the password of user {ref.username!r} is read from ${ref.password_env}, "
                "which is not set here (set it where certops runs)"
            )
        if ref.password_secret_block is not None:
            result.warnings.append(
                f"{place}: the password of user {ref.username!r} is in the Prefect Secret block "
                f"{ref.password_secret_block!r}; only flows running under Prefect can read it"
            )
    for cluster in inv.clusters:
        ssh = inv.ssh_for(cluster)
        if ssh.host_key_check and ssh.known_hosts is None:
            default = Path("~/.ssh/known_hosts").expanduser()
            if not default.exists():
                result.warnings.append(
                    f"cluster {cluster.name!r}: ssh.known_hosts is not set and {default} does not exist; "
                    "SSH host keys cannot be checked (add them with ssh-keyscan)"
                )
    return result


def _verified_bundles(inv: Inventory) -> set[str]:
    """Places of node CA bundles used with TLS verification on."""
    out = set()
    if inv.defaults.tls.verify and any(c.tls is None for c in inv.clusters):
        out.add("defaults.tls.ca_bundle")
    for i, c in enumerate(inv.clusters):
        if c.tls is not None and c.tls.verify:
            out.add(f"clusters[{i}].tls.ca_bundle")
    return out


def inventory_warnings(inv: Inventory) -> list[str]:
    """Loud warnings for settings that weaken security (TLS verification or host-key checks off)."""
    out: list[str] = []
    if not inv.defaults.tls.verify:
        out.append("defaults.tls.verify is false: TLS certificates of the nodes are NOT verified")
    if not inv.defaults.ssh.host_key_check:
        out.append("defaults.ssh.host_key_check is false: SSH host keys of the nodes are NOT checked")
    for i, cluster in enumerate(inv.clusters):
        if cluster.tls is not None and not cluster.tls.verify:
            out.append(
                f"clusters[{i}].tls.verify is false: TLS certificates of cluster {cluster.name!r} are NOT verified"
            )
        if cluster.ssh is not None and not cluster.ssh.host_key_check:
            out.append(
                f"clusters[{i}].ssh.host_key_check is false: SSH host keys of cluster {cluster.name!r} are NOT checked"
            )
    return out


# -- reading ----------------------------------------------------------------------------------------


def _read(path: Path) -> InventoryCheck:
    result = InventoryCheck(path=path, inventory=None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        result.problems.append(f"{path}: the inventory file does not exist")
        return result
    except IsADirectoryError:
        result.problems.append(f"{path}: is a directory, not an inventory file")
        return result
    except PermissionError:
        result.problems.append(f"{path}: the inventory file is not readable (permission denied)")
        return result
    except UnicodeDecodeError as exc:
        result.problems.append(f"{path}: the inventory file is not UTF-8 text ({exc.reason} at byte {exc.start})")
        return result
    except OSError as exc:
        result.problems.append(f"{path}: cannot read the inventory file: {exc.strerror or exc}")
        return result

    try:
        root, data = _parse(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        result.problems.append(f"{path} ({where}): YAML syntax error: {what}")
        return result
    except yaml.YAMLError as exc:
        result.problems.append(f"{path}: YAML error: {exc}")
        return result
    if root is None:
        result.problems.append(f"{path}: the inventory file is empty (it needs at least 'clusters:')")
        return result
    if not isinstance(root, MappingNode):
        result.problems.append(f"{path} ({_mark(root)}): the inventory must be a mapping with a 'clusters:' key")
        return result

    result.root = root
    result.problems.extend(_duplicate_keys(root, ""))
    _resolve_paths(data, path.parent)

    reference_problems = _reference_problems(data, root)
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if not loc and reference_problems:
                continue  # Inventory._references reports only the first; _reference_problems has them all
            if _reported_raw(err, loc):
                continue  # a cluster validator's first finding; _reference_problems reports all of them
            result.problems.append(_describe(err, loc, root))
        result.problems.extend(p for p in reference_problems if p not in result.problems)
        return result
    result.problems.extend(reference_problems)
    if result.problems:
        return result
    result.inventory = inv
    result.warnings.extend(inventory_warnings(inv))
    return result


def _mark(node: Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


def _duplicate_keys(node: Node, path: str) -> list[str]:
    out: list[str] = []
    if isinstance(node, MappingNode):
        seen: dict[str, Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else str(key)
            sub = f"{path}.{name}" if path else str(name)
            if name in seen:
                out.append(f"{sub} ({_mark(key)}): the key {name!r} is given twice (first at {_mark(seen[name])})")
            seen[name] = key
            out.extend(_duplicate_keys(value, sub))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            out.extend(_duplicate_keys(item, f"{path}[{i}]"))
    return out


def _resolve_paths(data: Any, base: Path) -> None:
    """Make relative file paths absolute, relative to the inventory file's folder (in place)."""

    def fix(mapping: Any, key: str) -> None:
        if isinstance(mapping, dict) and isinstance(mapping.get(key), str) and mapping[key]:
            p = Path(mapping[key]).expanduser()
            mapping[key] = str(p if p.is_absolute() else (base / p).resolve())

    if not isinstance(data, dict):
        return
    scopes = [data.get("defaults")]
    clusters = data.get("clusters")
    if isinstance(clusters, list):
        scopes.extend(clusters)
    for scope in scopes:
        if isinstance(scope, dict):
            fix(scope.get("tls"), "ca_bundle")
            fix(scope.get("ssh"), "known_hosts")
    backends = data.get("ca_backends")
    if isinstance(backends, dict):
        for backend in backends.values():
            for key in ("directory", "ca_bundle", "account_key_path"):
                fix(backend, key)


def _reference_problems(data: Any, root: MappingNode) -> list[str]:
    """Cross-references Inventory checks one at a time, all reported at once with their places."""
    out: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        return out
    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    assert isinstance(defaults, dict)
    backends = data.get("ca_backends")
    backend_names = set(backends) if isinstance(backends, dict) else {"manual"}
    default_ca = defaults.get("ca", "manual")
    names: dict[str, int] = {}
    fqdns: dict[str, tuple[int, int, str]] = {}  # fqdn -> (cluster index, node index, cluster name)
    out.extend(_policy_problems(defaults.get("policy"), ("defaults", "policy"), root))
    for i, cluster in enumerate(data["clusters"]):
        if not isinstance(cluster, dict):
            continue
        name = cluster.get("name")
        out.extend(_policy_problems(cluster.get("policy"), ("clusters", i, "policy"), root))
        nodes = cluster.get("nodes")
        if isinstance(nodes, list) and nodes:
            pubs = sum(1 for n in nodes if isinstance(n, dict) and n.get("role") == "publisher")
            if pubs != 1 and all(isinstance(n, dict) and n.get("role") in _ROLES for n in nodes):
                out.append(_place(root, ("clusters", i), f"cluster {name!r} needs exactly one publisher, found {pubs}"))
            for j, node in enumerate(nodes):
                fqdn = node.get("fqdn") if isinstance(node, dict) else None
                if not isinstance(fqdn, str):
                    continue
                key = fqdn.strip().lower()
                if key in fqdns:
                    ci, cj, cname = fqdns[key]
                    first = _place(root, ("clusters", ci, "nodes", cj, "fqdn"), "").rsplit(":", 1)[0]
                    if ci == i:
                        message = f"node {key!r} is listed twice in cluster {name!r} (first at {first})"
                    else:
                        message = (
                            f"node {key!r} is in two clusters, {cname!r} and {name!r} (first at {first}); "
                            "a node belongs to one cluster"
                        )
                    out.append(_place(root, ("clusters", i, "nodes", j, "fqdn"), message))
                else:
                    fqdns[key] = (i, j, str(name))
        if isinstance(name, str):
            if name in names:
                out.append(_place(root, ("clusters", i, "name"), f"cluster name {name!r} is used twice"))
            names[name] = i
        ca = cluster.get("ca") or default_ca
        if isinstance(ca, str) and ca not in backend_names:
            loc: tuple[str | int, ...] = ("clusters", i, "ca") if cluster.get("ca") else ("defaults", "ca")
            known = ", ".join(sorted(backend_names)) or "none"
            out.append(
                _place(
                    root,
                    loc,
                    f"cluster {name!r} uses CA backend {ca!r}, which ca_backends does not define (defined: {known})",
                )
            )
        for cred in ("os_admin", "app_user"):
            if not cluster.get(cred) and not defaults.get(cred):
                out.append(
                    _place(
                        root,
                        ("clusters", i),
                        f"cluster {name!r} has no {cred} credentials (set clusters[{i}].{cred} or defaults.{cred})",
                    )
                )
    return out


_ROLES = ("publisher", "subscriber", "imp", "imp-publisher")


def _reported_raw(err: Any, loc: tuple[Any, ...]) -> bool:
    """True for ``ClusterConfig``'s own publisher / duplicate-node error (``_reference_problems`` has it)."""
    msg = str(err["msg"])
    return (
        err["type"] == "value_error"
        and len(loc) == 2
        and loc[0] == "clusters"
        and ("exactly one publisher" in msg or "is listed twice" in msg)
    )


def _policy_problems(policy: Any, loc: tuple[str | int, ...], root: MappingNode) -> list[str]:
    """``urgent_days`` above the renewal threshold (the default one or a unit's): one problem each."""
    if not isinstance(policy, dict):
        return []
    urgent = policy.get("urgent_days", 7)
    threshold = policy.get("threshold_days", 30)
    if not isinstance(urgent, int) or isinstance(urgent, bool):
        return []
    out: list[str] = []
    key = "urgent_days" if "urgent_days" in policy else "threshold_days"
    if isinstance(threshold, int) and not isinstance(threshold, bool) and urgent > threshold:
        out.append(
            _place(
                root,
                (*loc, key),
                f"urgent_days ({urgent}) is above threshold_days ({threshold}): a certificate would be urgent "
                "before it is due; make urgent_days smaller than the renewal threshold",
            )
        )
    per_unit = policy.get("per_unit_threshold_days")
    if isinstance(per_unit, dict):
        for unit, days in per_unit.items():
            if isinstance(days, int) and not isinstance(days, bool) and urgent > days:
                out.append(
                    _place(
                        root,
                        (*loc, "per_unit_threshold_days", str(unit)),
                        f"{unit}: its threshold ({days} days) is below urgent_days ({urgent}); "
                        "make urgent_days smaller than every renewal threshold",
                    )
                )
    return out


def _place(root: Node, loc: tuple[str | int, ...], message: str, *, key_mark: bool = False) -> str:
    path, node, _ = _locate(root, loc, key_mark=key_mark)
    return f"{path or '(top level)'} ({_mark(node)}): {message}"


def _locate(root: Node, loc: tuple[Any, ...], *, key_mark: bool = False) -> tuple[str, Node, bool]:
    """Follow a pydantic location through the YAML node tree: (yaml path, node for the mark, found)."""
    node: Node = root
    path = ""
    found = True
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, MappingNode) and isinstance(part, str):
            match = next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == part), None)
            if match is None:
                if last:  # a missing key: name it, mark its parent
                    path = f"{path}.{part}" if path else part
                    found = False
                continue  # a union tag pydantic adds to the location (e.g. ca backend "lab")
            path = f"{path}.{part}" if path else part
            node = match[0] if (last and key_mark) else match[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            path = f"{path}[{part}]"
            node = node.value[part]
        else:
            found = False
    return path, node, found


def _describe(err: Any, loc: tuple[Any, ...], root: Node) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6) if allowed else []
        if close:
            msg = f"unknown key {key!r}; did you mean {close[0]!r}?"
        else:
            msg = f"unknown key {key!r}" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
        return _place(root, loc, msg, key_mark=True)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, "type")
        msg = msg.replace("Input tag", "CA backend type").replace("found using 'type' ", "")
    elif kind == "missing":
        msg = "this key is required"
    else:
        value = err.get("input")
        if isinstance(value, str | int | float | bool) and repr(value) not in msg:
            msg = f"{msg} (got {value!r})"
    return _place(root, loc, msg)


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Names of the keys allowed at ``loc`` (for "did you mean"), by walking the model types."""
    tp: Any = Inventory
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _strip(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _step(tp: Any, part: Any) -> Any:
    tp = _strip(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        info = tp.model_fields.get(str(part))
        return info.annotation if info else None
    if origin in (list, tuple) and isinstance(part, int):
        return get_args(tp)[0]
    if origin is dict:
        return get_args(tp)[1]
    if origin in (Union, types.UnionType):
        for member in get_args(tp):
            member = _strip(member)
            if isinstance(member, type) and issubclass(member, BaseModel):
                tag = member.model_fields.get("type")
                if tag is not None and tag.default == part:
                    return member
        return None
    return None


# -- what config check looks at ------------------------------------------------------------------


def _referenced_files(inv: Inventory) -> list[tuple[str, Path | None, str]]:
    out: list[tuple[str, Path | None, str]] = [
        ("defaults.tls.ca_bundle", inv.defaults.tls.ca_bundle, "CA bundle"),
        ("defaults.ssh.known_hosts", inv.defaults.ssh.known_hosts, "known_hosts file"),
    ]
    for i, c in enumerate(inv.clusters):
        if c.tls is not None:
            out.append((f"clusters[{i}].tls.ca_bundle", c.tls.ca_bundle, "CA bundle"))
        if c.ssh is not None:
            out.append((f"clusters[{i}].ssh.known_hosts", c.ssh.known_hosts, "known_hosts file"))
    for name, backend in inv.ca_backends.items():
        bundle = getattr(backend, "ca_bundle", None)
        if isinstance(bundle, Path):
            out.append((f"ca_backends.{name}.ca_bundle", bundle, "CA bundle"))
    return out


def _credential_refs(inv: Inventory) -> list[tuple[str, CredentialRef]]:
    out: list[tuple[str, CredentialRef]] = []
    for key in ("os_admin", "app_user"):
        ref = getattr(inv.defaults, key)
        if ref is not None:
            out.append((f"defaults.{key}", ref))
    for i, c in enumerate(inv.clusters):
        for key in ("os_admin", "app_user"):
            ref = getattr(c, key)
            if ref is not None:
                out.append((f"clusters[{i}].{key}", ref))
        for j, n in enumerate(c.nodes):
            if n.os_admin is not None:
                out.append((f"clusters[{i}].nodes[{j}].os_admin", n.os_admin))
    return out
