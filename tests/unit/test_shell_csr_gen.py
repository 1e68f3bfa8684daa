"""``CucmCli.generate_csr`` against a scripted channel: which questions it answers, and how."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from certops.cucm.shell import CucmCli

Script = Callable[[str], str]


class _Channel:
    """Answers each line sent with what ``script`` returns for it (a fake paramiko channel)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sent: list[str] = []
        self.pending = ""
        self.closed = False

    def sendall(self, data: bytes) -> None:
        for line in data.decode().splitlines():
            self.sent.append(line)
            self.pending += self.script(line)

    def settimeout(self, timeout: float) -> None:
        pass

    def recv(self, size: int) -> bytes:
        if not self.pending:
            raise TimeoutError
        out, self.pending = self.pending, ""
        return out.encode()

    def close(self) -> None:
        self.closed = True


class _Transport:
    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass


def _cli(script: Script) -> tuple[CucmCli, _Channel]:
    cli = CucmCli(fqdn="cucm-pub.c1.certops.test", address="127.0.0.1", username="u", password=SecretStr("p"))
    channel = _Channel(script)
    cli._channel = channel  # type: ignore[assignment]
    cli._transport = _Transport()  # type: ignore[assignment]
    return cli, channel


def _asks(question: str) -> Script:
    def script(line: str) -> str:
        if line.startswith("set csr gen"):
            return f"{line}\r\n{question}"
        if line in ("yes", "no"):
            return f"{line}\r\nSuccessfully Generated CSR for tomcat.\r\nadmin: "
        return f"{line}\r\nExecuted command unsuccessfully\r\nadmin: "

    return script


@pytest.mark.parametrize(("include_ou", "answer"), [(True, "yes"), (False, "no")])
def test_the_ou_question_gets_the_answer_asked_for(include_ou: bool, answer: str) -> None:
    cli, channel = _cli(_asks("Include OU in CSR (yes|no)?"))
    result = cli.generate_csr("tomcat", include_ou=include_ou)
    assert not result.failed and "Successfully Generated CSR for tomcat." in result.output
    assert channel.sent == ["set csr gen tomcat", answer]


def test_another_question_is_answered_no_and_the_command_fails() -> None:
    cli, channel = _cli(_asks("Proceed with regeneration (yes|no)?"))
    result = cli.generate_csr("tomcat", include_ou=True)
    assert result.failed and "unexpected confirmation prompt" in result.reason
    assert channel.sent == ["set csr gen tomcat", "no"]


def test_no_question_needs_no_answer_and_success_is_checked() -> None:
    cli, channel = _cli(lambda line: f"{line}\r\nSuccessfully Generated CSR for tomcat.\r\nadmin: ")
    assert not cli.generate_csr("tomcat", include_ou=False).failed
    assert channel.sent == ["set csr gen tomcat"]
    silent, _ = _cli(lambda line: f"{line}\r\nadmin: ")
    result = silent.generate_csr("tomcat", include_ou=False)
    assert result.failed and "did not confirm" in result.reason


def test_without_an_explicit_answer_the_current_certificate_decides_and_unreadable_means_yes() -> None:
    def script(line: str) -> str:
        if line.startswith("show cert own"):
            return f"{line}\r\nExecuted command unsuccessfully\r\nadmin: "
        return _asks("Include OU in CSR (yes|no)?")(line)

    cli, channel = _cli(script)
    assert not cli.generate_csr("tomcat").failed
    assert channel.sent == ["show cert own tomcat", "set csr gen tomcat", "yes"]
