"""The command blocks of README.md and docs/*.md work as written, with the simulator standing in.

Every shell command of every fenced block is either run here (in a scratch folder, ``certops``
and ``python`` being the virtualenv's, the simulator started by the block's own ``certops sim``
line) or listed in ``NOT_RUN`` with the reason; a new command that is neither fails
``test_every_command_is_run_here_or_listed_with_a_reason``. Python blocks run (or, for API
sketches with placeholders, their imports run); YAML blocks are checked with
``certops config check``. The numbered "Running it for real" steps (a real server, a worker, a
deploy) are listed with their reasons too, and what they need is checked against the files.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

# a child of a test keeps its pytest process's own host-lock and server-discovery folders (tests/conftest.py):
# the shared /tmp defaults would let parallel workers see each other's locks
HOST_WIDE = {"CERTOPS_LOCK_DIR", "CERTOPS_RUNTIME_DIR", "CERTOPS_CACHE_DIR", "CERTOPS_PREFECT_STARTUP_TIMEOUT"}

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# command (its start; with a final $ the whole command) -> why it does not run here
NOT_RUN = {
    "bash scripts/setup": "installs Debian packages and the virtualenv: it built the environment these tests run in",
    ".venv/bin/pytest": "the test suite itself (minutes; pytest inside pytest)",
    ".venv/bin/certops demo": "tests/flows/test_demo.py runs the demo (with --quick --keep, stopped with SIGTERM)",
    "certops check --csr tomcat.csr": "needs the reader's CSR and the CA's answer (tests/unit/test_check_cli.py)",
    "certops check --csr node.csr": "a synopsis with [optional] parts; its options are checked against --help below",
    "certops renew -i lab.yaml -c c1 -u CallManager$": "runs the renewal flow on a Prefect server "
    "(tests/flows/test_renew_cli.py)",
    "certops pending": "needs a run paused for approval on a Prefect server (tests/flows/test_approver_path.py)",
    "certops csr RUN_ID": "RUN_ID of a paused run (tests/flows/test_approver_path.py)",
    "certops approve RUN_ID": "RUN_ID of a paused run and its signed chain (tests/flows/test_approver_path.py)",
    "certops deny RUN_ID": "RUN_ID of a paused run (tests/flows/test_approver_path.py)",
    ".venv/bin/python benchmarks/": "figures printed by scripts that take minutes, never asserted",
}
# the numbered steps of "Running it for real" (inline commands, not blocks)
STEPS_NOT_RUN = {
    "prefect server start": "a long-running server on port 4200; the tests start theirs "
    "(tests/fixtures/prefect_server.py)",
    "export PREFECT_API_URL": "points the reader's shell at their server",
    ".venv/bin/python deployments/bootstrap.py": "needs the reader's server and inventory "
    "(tests/flows/test_deploy_scan.py bootstraps the test server)",
    "prefect worker start": "a long-running worker of the reader's pool (tests/flows/test_deploy_scan.py starts one)",
    "prefect --no-prompt deploy": "deploys to the reader's server from their code directory "
    "(tests/flows/test_deploy_scan.py deploys to the test server)",
}
READY = "Press Ctrl-C to stop."
COLUMNS = 120  # the reader's terminal: every table fits it


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    """Every fenced block of the README and the docs."""
    out = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
            out.append(Block(path, text[: m.start()].count("\n") + 1, m.group(1), m.group(2)))
    return out


def commands(block: Block) -> list[str]:
    """The shell commands of a block: continuation lines joined, comments and blank lines dropped."""
    out: list[str] = []
    pending = ""
    for raw in block.text.splitlines():
        line = re.sub(r"\s+#.*$", "", raw) if not raw.lstrip().startswith("#") else ""
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            out.append(re.sub(r"\s+", " ", line))
    return out


def _shell_blocks() -> list[Block]:
    return [b for b in blocks() if b.lang in ("bash", "sh", "")]


def _matches(command: str, start: str) -> bool:
    return command == start[:-1] if start.endswith("$") else command.startswith(start)


def _reason(command: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if _matches(command, start)), None)


def test_every_command_is_run_here_or_listed_with_a_reason() -> None:
    found = [(b.where, c) for b in _shell_blocks() for c in commands(b)]
    assert len(found) > 20
    runnable = [(w, c) for w, c in found if _reason(c) is None]
    for where, command in runnable:
        assert command.startswith(("export ", "certops ")), f"{where}: {command!r} is neither run here nor listed"
    unused = [start for start in NOT_RUN if not any(_matches(c, start) for _, c in found)]
    assert unused == [], "NOT_RUN lists commands the docs no longer have"


class Shell:
    """Runs a block's commands one after the other in ``cwd``, with the block's exports."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "CERTOPS_", "CUCM_SIM_")) or k in HOST_WIDE
        }
        self.env["PATH"] = f"{VENV_BIN}:{self.env.get('PATH', '')}"
        self.env["COLUMNS"] = str(COLUMNS)
        self.background: list[tuple[subprocess.Popen[str], list[str]]] = []

    def run(self, command: str) -> subprocess.CompletedProcess[str] | None:
        if command.startswith("export "):
            for i, (name, value) in enumerate(re.findall(r"(\w+)=(\S+)", command)):
                # "..." is the reader's password: a made-up one here
                self.env[name] = f"docs-test-{i}-{os.getpid()}" if value == "..." else value
            return None
        if command.startswith("certops sim"):
            self.start_sim(command)
            return None
        return subprocess.run(
            ["bash", "-c", command], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=300
        )

    def start_sim(self, command: str) -> None:
        """A foreground ``certops sim``: started, read until it says it is ready, stopped by ``stop``."""
        proc = subprocess.Popen(
            ["bash", "-c", "exec " + command],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        guard = threading.Timer(120, proc.kill)
        guard.start()
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if READY in line:
                break
        guard.cancel()
        assert READY in "".join(lines), f"{command!r} did not start:\n{''.join(lines)}"
        self.background.append((proc, lines))

    def stop(self) -> list[str]:
        """Ctrl-C to every simulator started; their whole output."""
        outputs = []
        for proc, lines in self.background:
            proc.send_signal(signal.SIGINT)
            rest, _ = proc.communicate(timeout=60)
            outputs.append("".join(lines) + rest)
            assert proc.returncode == 0, outputs[-1]
        self.background.clear()
        return outputs


def test_readme_using_it_block_runs_against_the_simulator(tmp_path: Path) -> None:
    block = next(b for b in _shell_blocks() if b.path.name == "README.md" and "certops sim" in b.text)
    shell = Shell(tmp_path)
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for command in commands(block):
            if _reason(command) is None:
                result = shell.run(command)
                if result is not None:
                    results[command] = result
                    assert result.returncode == 0, f"{block.where}: {command}\n{result.stdout}\n{result.stderr}"
    finally:
        shell.stop()
    ran = list(results)
    assert any(c.startswith("certops scan") for c in ran) and any("--dry-run" in c for c in ran)
    assert (tmp_path / "lab.yaml").is_file() and (tmp_path / "expiry.png").is_file()
    scan = next(r for c, r in results.items() if c.startswith("certops scan"))
    assert "certificates read" in scan.stdout
    tables = [c for c in results if c.split()[1] in ("units", "certificates", "scan")]
    assert len(tables) == 3
    for command in tables:
        widest = max(len(line) for line in results[command].stdout.splitlines())
        assert widest <= COLUMNS, f"{command}: a line of {widest} characters in a {COLUMNS}-column terminal"
    check = next(r for c, r in results.items() if c.startswith("certops config check"))
    assert ": OK" in check.stdout and "2 cluster(s), 8 node(s)" in check.stdout


def test_simulator_doc_block_runs_with_its_faults(tmp_path: Path) -> None:
    block = next(b for b in _shell_blocks() if b.path.name == "simulator.md")
    shell = Shell(tmp_path)
    outputs: list[str] = []
    try:
        for command in commands(block):
            assert _reason(command) is None
            shell.run(command)
            outputs += shell.stop()  # one simulator after the other: each is a foreground command
    finally:
        shell.stop()
    assert len(outputs) == 2
    faults = [line for line in outputs[1].splitlines() if line.strip().startswith("fault:")]
    assert len(faults) == 3 and "'Cisco Tftp'" in faults[2] and "cucm-sub1.c1" in faults[2], faults
    assert (tmp_path / "lab.yaml").is_file()


def test_python_blocks_run_or_their_imports_do(tmp_path: Path) -> None:
    py = [b for b in blocks() if b.lang == "python"]
    assert py
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CERTOPS_")) or k in HOST_WIDE}
    for block in py:
        if "tmp /" in block.text:  # the simulator's example: runnable once `tmp` is a folder
            code = f"import pathlib, tempfile\ntmp = pathlib.Path(tempfile.mkdtemp(dir={str(tmp_path)!r}))\n"
            code += block.text
        else:  # an API sketch with placeholders: its imports must exist
            code = "\n".join(line for line in block.text.splitlines() if line.startswith(("from ", "import ")))
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{block.where}:\n{result.stderr[-2000:]}"


def test_yaml_blocks_pass_config_check(tmp_path: Path) -> None:
    found = [b for b in blocks() if b.lang == "yaml"]
    assert found
    base = {
        "defaults": {
            "os_admin": {"username": "certops", "password_env": "X_OS"},
            "app_user": {"username": "certops-app", "password_env": "X_APP"},
        },
        "clusters": [{"name": "c1", "version": "15.0", "nodes": [{"fqdn": "pub.example.com", "role": "publisher"}]}],
    }
    for i, block in enumerate(found):
        data = yaml.safe_load(block.text)
        if "clusters" not in data:  # a fragment (a CA backend): put into a small inventory that uses it
            data = {**base, **data}
            data["defaults"] = {**base["defaults"], "ca": next(iter(data["ca_backends"]))}
        path = tmp_path / f"block{i}.yaml"
        path.write_text(yaml.safe_dump(data))
        result = subprocess.run(
            [str(VENV_BIN / "certops"), "config", "check", "--files-elsewhere", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{block.where}:\n{result.stderr}"


def test_synopsis_options_exist() -> None:
    synopsis = next(c for b in _shell_blocks() for c in commands(b) if c.startswith("certops check --csr node.csr"))
    help_text = subprocess.run(
        [str(VENV_BIN / "certops"), "check", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for option in re.findall(r"--[a-z][a-z-]*", synopsis):
        assert option in help_text, option


def test_readme_real_server_steps_are_listed_and_name_what_they_need() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Running it for real") :]
    section = section[: section.index("\n## ", 3)]
    steps = re.findall(r"^\d\. .*?(?=^\d\. |^\n)", section, re.M | re.S)
    assert len(steps) == 5
    inline = [c for step in steps for c in re.findall(r"`([^`]+)`", step)]
    for start in STEPS_NOT_RUN:
        assert any(start in c for c in inline), f"README step commands changed: {start!r} not found"
    # python is the virtualenv's (a fresh machine's python has no certops)
    assert all(not re.match(r"python\b", c) for c in inline), [c for c in inline if c.startswith("python")]
    # every $VAR deployments/prefect.yaml fills in is named in the deploy step
    spec = (ROOT / "deployments" / "prefect.yaml").read_text()
    spec = "\n".join(line for line in spec.splitlines() if not line.lstrip().startswith("#"))
    needed = set(re.findall(r"\{\{ \$(\w+) \}\}", spec))
    assert needed >= {"CERTOPS_CODE_DIR", "CERTOPS_INVENTORY", "CERTOPS_WORK_POOL"}
    deploy = next(step for step in steps if "deploy --all" in step)
    missing = sorted(v for v in needed if v not in deploy)
    assert missing == [], f"README step 5 does not say to set {missing}"


@pytest.mark.parametrize("start", sorted(NOT_RUN))
def test_every_listed_command_has_a_reason(start: str) -> None:
    assert len(NOT_RUN[start]) > 20
