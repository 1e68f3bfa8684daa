"""The fleet scan reads a node's answer as h11 does (certops.cucm._http.FleetHttp).

The common shape of an answer (a status line, headers, a Content-Length, chunked or
read-to-the-end body) is read without h11; anything else is handed to h11 with the same bytes.
Every answer here, in any split into reads, gives what h11 alone gives: the same status, headers
and body, or the same refusal.
"""

from __future__ import annotations

import asyncio

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certops.cucm._http import FleetAnswer, _ProtocolFailure, _receive, _request_bytes

PATH = "/platformcom/api/v1/certmgr/config/snapshot/server"
HEADERS = [
    ("Host", "cucm-pub.c1.certops.test:8443"),
    ("Authorization", "Basic YWRtaW46cHc="),
    ("Accept", "application/json"),
    ("User-Agent", "certops"),
    ("Connection", "close"),
]
BODY = b'{"identities": [], "trust": []}'


class _Pieces:
    """A stream reader that hands out ``pieces`` one read at a time, then the end of the stream."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = list(pieces)

    async def read(self, n: int) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def _by_h11_alone(pieces: list[bytes]) -> tuple[object, ...]:
    """What h11 alone reads from ``pieces`` (the scan's reading before the direct path)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target=PATH, headers=HEADERS))
    conn.send(h11.EndOfMessage())
    left = list(pieces)
    try:
        status, headers, chunks = 0, [], []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(left.pop(0) if left else b"")
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    except h11.ProtocolError as exc:
        return ("refused", str(exc))
    if not status:
        return ("refused", "the node closed the connection without an answer")
    return (status, headers, b"".join(chunks))


def _by_fleet(pieces: list[bytes]) -> tuple[object, ...]:
    try:
        status, headers, body = asyncio.run(
            _receive(_Pieces(pieces), None, "GET", PATH, HEADERS, ["read"])  # type: ignore[arg-type]
        )
    except _ProtocolFailure as exc:
        return ("refused", str(exc))
    return (status, headers, body)


def _split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    return [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True) if b > a]


def _chunked(body: bytes, size: int) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


ANSWERS: dict[str, bytes] = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY),
    "content-length with more after it": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcdefgh",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(BODY, 7),
    "chunked, upper case": b"HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n" + _chunked(BODY, 4096),
    "chunked with an extension": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nabcde\r\n0\r\n\r\n",
    "chunked with a trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    "chunked with a bad chunk end": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
    "chunked cut short": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    "chunked and a length": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    "to the end": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this",
    "cut short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
    "head cut short": b"HTTP/1.1 200 OK\r\nContent-Len",
    "nothing": b"",
    "not http": b"SSH-2.0-OpenSSH_8.0\r\n\r\n",
    "http/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    "no reason": b"HTTP/1.1 200\r\nContent-Length: 3\r\n\r\nabc",
    "bare line feeds": b"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc",
    "folded header": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 3\r\n\r\nabc",
    "two equal lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "two lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "a list of lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\nabc",
    "gzip transfer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "continue first": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    "no content": b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
    "bad header name": b"HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 3\r\n\r\nabc",
    "huge head": b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 20000 + b"\r\nContent-Length: 1\r\n\r\nz",
    "unauthorized": b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
    "server error": b'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 17\r\n\r\n{"message": "no"}',
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_an_answer_read_at_once_reads_as_h11_reads_it(name: str) -> None:
    raw = ANSWERS[name]
    assert _by_fleet([raw]) == _by_h11_alone([raw])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(ANSWERS)), cuts=st.lists(st.integers(min_value=0, max_value=30000), max_size=6))
def test_an_answer_in_any_split_into_reads_reads_as_h11_reads_it(name: str, cuts: list[int]) -> None:
    pieces = _split(ANSWERS[name], cuts)
    assert _by_fleet(pieces) == _by_h11_alone(pieces)


def test_a_chunked_snapshot_is_read_whole() -> None:
    body = BODY * 300
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(body, 1000)
    status, _, read = asyncio.run(
        _receive(_Pieces(_split(raw, [100, 5000, 5001, 9000])), None, "GET", PATH, HEADERS, ["read"])  # type: ignore[arg-type]
    )
    assert (status, read) == (200, body)
    status, headers, read = asyncio.run(_receive(_Pieces([ANSWERS["chunked"]]), None, "GET", PATH, HEADERS, ["read"]))  # type: ignore[arg-type]
    assert FleetAnswer(status, headers, read).json() == {"identities": [], "trust": []}


def test_an_answer_cut_short_says_how_much_came() -> None:
    assert _by_fleet([ANSWERS["cut short"]]) == (
        "refused",
        "peer closed connection without sending complete message body (received 3 bytes, expected 100)",
    )


def test_the_request_is_sent_as_h11_writes_it() -> None:
    conn = h11.Connection(h11.CLIENT)
    expected = conn.send(h11.Request(method="GET", target=PATH, headers=HEADERS)) + conn.send(h11.EndOfMessage())
    assert _request_bytes("GET", PATH, HEADERS) == expected


def test_a_request_value_h11_refuses_is_left_to_h11() -> None:
    assert _request_bytes("GET", PATH, [("Host", "bad\r\nvalue")]) is None
    assert _request_bytes("GET", PATH, [("Host", "bücher.example")]) is None


def test_an_error_answer_reads_its_text_as_httpx_does() -> None:
    answer = FleetAnswer(500, [(b"Content-Type", b"text/plain; charset=latin-1")], "caf\u00e9".encode("latin-1"))
    assert answer.text == "caf\u00e9"
    assert FleetAnswer(500, [], b"\xff oops").text == "\ufffd oops"
