"""The CLI channel's prompt detection and output cleanup (pure parts of certops.cucm.shell)."""

from __future__ import annotations

import pytest

from certops.cucm.shell import PROMPT, _strip_echo_and_prompt


@pytest.mark.parametrize(
    "buffer",
    [
        "Welcome to the Platform Command Line Interface\r\n\r\nadmin:",
        "Automatic pagination is turned off\r\nadmin:",
        "output\x1b[Kadmin: ",
        "admin:",
    ],
)
def test_prompt_at_the_end_of_the_buffer_is_found(buffer: str) -> None:
    assert PROMPT.search(buffer)


@pytest.mark.parametrize(
    "buffer",
    [
        "admin:show version active\r\n",  # the echoed command line, output still to come
        "Command Line Interface is starting up, please wait ...\r\n",
        "user admin: created\r\nmore",
    ],
)
def test_prompt_inside_output_is_not_the_end(buffer: str) -> None:
    assert not PROMPT.search(buffer)


def test_echo_and_trailing_prompt_are_removed() -> None:
    text = "admin:show version active\nActive Master Version: 15.0.1.11900-40\n\nadmin:"
    assert _strip_echo_and_prompt(text, "show version active") == "Active Master Version: 15.0.1.11900-40\n"


def test_output_without_echo_is_kept_whole() -> None:
    assert _strip_echo_and_prompt("line 1\nline 2\nadmin: ", "other") == "line 1\nline 2\n"
