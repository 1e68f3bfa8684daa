"""``certops demo --keep``: a SIGTERM sent the moment the "Ctrl-C to stop" line is read ends the demo cleanly."""

from __future__ import annotations

import io
import os
import signal

from certops.cli.demo import _sigterm_unwinds, _wait_until_stopped


class _SignalsOnRead(io.StringIO):
    """An output that sends SIGTERM to this process as soon as the "Ctrl-C to stop" line is written,
    as a service manager or a test reading the demo's output would."""

    def write(self, text: str) -> int:
        n = super().write(text)
        if "Ctrl-C to stop" in text:
            os.kill(os.getpid(), signal.SIGTERM)
        return n


def test_sigterm_right_after_the_keep_line_stops_the_server_instead_of_interrupting_the_demo():
    out = _SignalsOnRead()
    with _sigterm_unwinds():
        _wait_until_stopped(out)  # before: the signal landed before the wait began and escaped as exit 143
    lines = out.getvalue().splitlines()
    assert lines == ["the Prefect server keeps running; Ctrl-C to stop", "stopping the Prefect server"]
