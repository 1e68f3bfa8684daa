"""The person in the loop, as processes: from "a CSR needs signing" in the ``certops renew`` terminal
to "done", with ``certops pending``, ``certops csr``, ``certops approve`` and ``certops deny`` run
from another terminal, with or without ``PREFECT_API_URL``."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.flows.conftest import FAST, wait_paused

# each test starts embedded Prefect servers in child processes: slow on a busy machine
pytestmark = [pytest.mark.prefect, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from certops.cli import main; main()"]
END_OF_PAUSE_MESSAGE = "certops deny"


class CliProcess:
    """``certops ARGS`` running in the background; every output line is kept, stderr and stdout apart."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out, False), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, stream: Any, into: list[str], announce: bool) -> None:
        for line in stream:
            into.append(line)
            if announce:
                self._lines.put(line)
        if announce:
            self._lines.put(None)

    def wait_for_line(self, text: str, timeout: float = 500.0) -> None:  # an embedded server starts first
        """Block until a stderr line contains ``text`` (fails if the process ends first)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout:.0f} s:\n{self.text()[-3000:]}") from None
            if line is None:
                raise AssertionError(f"the process ended before printing {text!r}:\n{self.text()[-3000:]}")
            if text in line:
                return

    def wait(self, timeout: float = 180.0) -> int:
        rc = self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=10)
        return rc

    def text(self) -> str:
        return "".join(self.err) + "".join(self.out)

    def stop(self) -> None:
        """Ctrl-C (it stops its embedded server on the way out), then SIGKILL if it does not end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _run(args: list[str], env: dict[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _env(prefect_server: Any, tmp_path: Path, *, api: bool) -> dict[str, str]:
    """A terminal's environment: the test's secrets, state and host folders; PREFECT_API_URL only if ``api``."""
    env = prefect_server.child_env() if api else {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["CERTOPS_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["CERTOPS_RENEWAL_SETTINGS"] = FAST.model_dump_json()
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home-client")
    env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    env.pop("PREFECT_UI_API_URL", None)
    return env


def _pause_message(cli: CliProcess) -> str:
    err = "".join(cli.err)
    start = err.index("APPROVAL NEEDED")
    end = err.index("\n", err.index(END_OF_PAUSE_MESSAGE, start))
    return err[start:end]


def _csr_files_in(message: str) -> dict[str, Path]:
    section = message[message.index("CSR files:") : message.index("write them anywhere")]
    return {m.group(1): Path(m.group(2)) for m in re.finditer(r"^\s+(\S+): (/\S+\.csr)$", section, re.MULTILINE)}


def _sim_csrs(env: Any, unit: str) -> dict[str, str]:
    """The CSRs pending on the simulated nodes for ``unit`` (what the CA must sign)."""
    return {n.fqdn: n.csrs[unit].pem for n in env.fleet.cluster("c1").nodes if unit in n.csrs}


def _signed_files(env: Any, unit: str, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i, pem in enumerate(_sim_csrs(env, unit).values()):
        files.append(directory / f"signed{i}.pem")
        files[-1].write_text(env.ca.sign(pem, unit).leaf_pem)
    for i, pem in enumerate(env.ca.chain_pems):
        files.append(directory / f"ca{i}.pem")
        files[-1].write_text(pem)
    return files


@pytest.mark.slow
def test_renew_terminal_says_what_to_do_and_the_csr_files_pending_csr_and_approve_finish_it(
    make_env, prefect_server, tmp_path
):
    env = make_env(ca="person")
    shell = _env(prefect_server, tmp_path, api=True)
    renew = CliProcess(["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CallManager"], shell)
    try:
        renew.wait_for_line(END_OF_PAUSE_MESSAGE)
        run = wait_paused(env)
        message = _pause_message(renew)
        sim = _sim_csrs(env, "CallManager")
        assert set(sim) == {env.pub, "cucm-sub1.c1.certops.test"}
        # in certops's words: run, cluster, unit, nodes, deadline, the exact command, what to ask the CA for
        assert f"run {run.id} waits for a signed CallManager certificate on cluster c1" in message
        assert f"nodes: {env.pub}, cucm-sub1.c1.certops.test" in message
        assert re.search(r"deadline: \d{4}-\d\d-\d\d \d\d:\d\d UTC", message)
        assert f"certops approve {run.id} --chain SIGNED.pem INTERMEDIATE.pem ROOT.pem --approver YOUR_NAME" in message
        assert "key type: RSA 2048" in message
        assert f"{env.pub}: subject CN={env.pub}" in message and f"DNS:{env.pub}" in message
        assert "key usage: Digital Signature, Key Encipherment" in message
        assert "extended key usage: TLS Web Server Authentication (1.3.6.1.5.5.7.3.1), TLS Web Client" in message
        # the CSR files are really written, and they are the CSRs pending on the nodes
        files = _csr_files_in(message)
        assert set(files) == set(sim)
        for node, path in files.items():
            assert path.read_text().strip() == sim[node].strip(), node
            assert node in path.name and "CallManager" in path.name

        pending = _run(["pending"], shell)
        assert pending.returncode == 0, pending.stderr
        assert str(run.id) in pending.stdout
        for node, path in files.items():
            assert f"CSR of {node}: {path}" in pending.stdout

        here = tmp_path / "for-the-ca"
        written = _run(["csr", str(run.id), "--dir", str(here)], shell)
        assert written.returncode == 0, written.stderr
        by_node = {p.name: p for p in here.iterdir()}
        assert len(by_node) == 2
        for node, pem in sim.items():
            (name,) = [n for n in by_node if node in n and "CallManager" in n]
            assert by_node[name].read_text().strip() == pem.strip()
            assert str(by_node[name].resolve()) in written.stdout
        assert "extended key usage:" in written.stdout

        signed = _signed_files(env, "CallManager", tmp_path / "from-the-ca")
        approved = _run(["approve", str(run.id), "--chain", *map(str, signed), "--approver", "alice"], shell)
        assert approved.returncode == 0, approved.stderr
        assert renew.wait(timeout=240) == 0, renew.text()[-3000:]
        assert "CallManager on c1: completed" in "".join(renew.out)
    finally:
        renew.stop()


@pytest.mark.slow
def test_without_prefect_api_url_pending_and_deny_find_the_embedded_server_of_a_running_renew(
    make_env, prefect_server, tmp_path
):
    env = make_env(ca="person")
    shell = _env(prefect_server, tmp_path, api=False)
    renew = CliProcess(["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CAPF"], shell)
    try:
        renew.wait_for_line(END_OF_PAUSE_MESSAGE)
        message = _pause_message(renew)
        run_id = re.search(r"run (\S+) waits for a signed CAPF", message).group(1)  # type: ignore[union-attr]
        (announced,) = list((tmp_path / "runtime").glob("prefect-*.json"))
        api = re.search(r'"api_url":"([^"]+)"', announced.read_text()).group(1)  # type: ignore[union-attr]
        assert f"Prefect API: {api}" in message
        ui = re.search(r'"ui_url":"([^"]+)"', announced.read_text()).group(1)  # type: ignore[union-attr]
        assert httpx.get(f"{ui}/ui-settings", timeout=10).json()["api_url"] == api  # its UI talks to it

        pending = _run(["pending"], shell)
        assert pending.returncode == 0, pending.stderr
        assert run_id in pending.stdout and "CAPF" in pending.stdout
        assert f"using {api} (the embedded Prefect server of certops renew, PID {renew.proc.pid}" in pending.stderr

        denied = _run(["deny", run_id, "--reason", "change freeze", "--approver", "erin"], shell)
        assert denied.returncode == 0, denied.stderr
        assert f"denied: run {run_id}" in denied.stdout
        assert renew.wait(timeout=120) == 1, renew.text()[-3000:]
        assert "change freeze" in renew.text()
        # the server and its discovery file are gone with the renew process
        assert list((tmp_path / "runtime").glob("prefect-*.json")) == []
    finally:
        renew.stop()
    assert [e for e in env.fleet.events() if e["operation"] == "identity_uploaded"] == []


def test_without_prefect_api_url_and_no_renew_running_pending_approve_deny_refuse_and_say_how_to_find_it(
    tmp_path,
):
    shell = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    shell.update({"CERTOPS_RUNTIME_DIR": str(tmp_path / "runtime"), "PREFECT_HOME": str(tmp_path / "home")})
    # a renew that was killed left its discovery file behind: its PID no longer runs
    (tmp_path / "runtime").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "runtime" / f"prefect-0-{dead.stdout.strip()}-1.json").write_text(
        json.dumps(
            {
                "api_url": "http://127.0.0.1:1/api",
                "ui_url": "http://127.0.0.1:1",
                "pid": int(dead.stdout),
                "started": "2026-12-01T00:00:00Z",
            }
        )
    )
    chain = tmp_path / "chain.pem"
    chain.write_text("")
    run = "00000000-0000-0000-0000-000000000000"
    for args in (
        ["pending"],
        ["approve", run, "--chain", str(chain), "--approver", "a"],
        ["deny", run, "--reason", "x"],
    ):
        done = _run(args, shell, timeout=60)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "PREFECT_API_URL is not set and no certops renew on this machine runs an embedded" in done.stderr
        assert "export PREFECT_API_URL=" in done.stderr and "Traceback" not in done.stderr
        assert "no renewal is waiting" not in done.stdout


def test_an_announcing_embedded_server_is_discoverable_while_it_runs_and_its_file_goes_with_it(tmp_path, monkeypatch):
    from certops.renewal.server import PrefectServerProcess, discovered_servers

    monkeypatch.setenv("CERTOPS_RUNTIME_DIR", str(tmp_path / "runtime"))
    with PrefectServerProcess(announce=True) as server:
        (ann,) = discovered_servers()
        assert ann.api_url == server.api_url and ann.pid == os.getpid()
        assert httpx.get(f"{ann.api_url}/health", timeout=10).status_code == 200
    assert discovered_servers() == []
    assert list((tmp_path / "runtime").iterdir()) == []


@pytest.mark.slow
def test_a_renew_killed_with_sigkill_takes_its_embedded_server_with_it(make_env, prefect_server, tmp_path):
    import time

    env = make_env(ca="person")
    shell = _env(prefect_server, tmp_path, api=False)
    renew = CliProcess(["renew", "-i", str(env.inventory_path), "-c", "c1", "-u", "CAPF"], shell)
    try:
        renew.wait_for_line(END_OF_PAUSE_MESSAGE)
        (announced,) = list((tmp_path / "runtime").glob("prefect-*.json"))
        ann = json.loads(announced.read_text())
        assert httpx.get(f"{ann['api_url']}/health", timeout=10).status_code == 200
        renew.proc.kill()
        renew.wait(timeout=30)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{ann['server_pid']}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # polling for the server process to end, bounded; not used to order events
        assert (
            not Path(f"/proc/{ann['server_pid']}/status").exists()
            or "zombie" in Path(f"/proc/{ann['server_pid']}/status").read_text()
        ), "the embedded server outlived the killed certops renew"
        # the file left behind names a dead process: the commands ignore it and refuse
        pending = _run(["pending"], shell, timeout=60)
        assert pending.returncode == 2 and "no certops renew on this machine" in pending.stderr
    finally:
        renew.stop()
