"""A local stand-in for the part of the Slack Web API certops uses.

It listens on 127.0.0.1 only and speaks, closely enough for ``slack_sdk``'s ``WebClient`` (with
``base_url``) and ``WebhookClient``:

- ``auth.test``
- ``chat.postMessage`` (``channel``, ``text``, ``blocks``, ``thread_ts``)
- ``files.getUploadURLExternal`` -> an upload URL on this server -> ``files.completeUploadExternal``
  (the three steps of ``files_upload_v2``)
- an incoming webhook (``POST /services/...``)
- ``GET /_messages`` and ``GET /_files``: what was posted, as JSON

Like Slack, it answers API errors with HTTP 200 and ``{"ok": false, "error": ...}``; it checks the
bearer token (``not_authed`` / ``invalid_auth``) and Slack's documented message limits (50 blocks,
3000 characters per section text, 40000 characters of text). It can answer 429 with
``Retry-After`` a number of times (``rate_limit``) and 500 (``outage``) on demand.

It imports nothing from ``certops``: it is written from Slack's documentation, not from the client.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40000


@dataclass
class PostedMessage:
    """One message as the server received it."""

    via: str  # "chat.postMessage" / "webhook" / "files.completeUploadExternal"
    channel: str | None
    text: str | None
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    ts: str
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The message as JSON-ready data."""
        return {
            "via": self.via,
            "channel": self.channel,
            "text": self.text,
            "blocks": self.blocks,
            "thread_ts": self.thread_ts,
            "ts": self.ts,
            "files": self.files,
        }

    def all_text(self) -> str:
        """The fallback text and every text inside the blocks, joined (handy for assertions)."""
        parts = [self.text or ""]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "text" and isinstance(value, str):
                        parts.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks)
        return "\n".join(parts)


@dataclass
class UploadedFile:
    """A file uploaded through the files_upload_v2 steps."""

    file_id: str
    filename: str
    length: int
    content: bytes = b""
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    completed: bool = False


class SlackServer:
    """A threaded HTTP server on 127.0.0.1 that behaves like a tiny Slack workspace.

    Use it as a context manager, point ``WebClient(base_url=server.api_url, token=server.token)``
    or ``WebhookClient(server.webhook_url)`` at it, then read ``server.messages``.
    """

    def __init__(self, token: str = "xoxb-test-token", port: int = 0) -> None:
        self.token = token
        self.webhook_path = "/services/T0000/B0000/localwebhook"
        self.messages: list[PostedMessage] = []
        self.files: dict[str, UploadedFile] = {}
        self.requests: list[tuple[str, int]] = []  # (path, status) of every request, for retry assertions
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._rate_limited = 0
        self._retry_after = 0
        self._outage = False
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``slack_sdk.WebClient`` (ends with ``/api/``)."""
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        """The incoming-webhook URL."""
        return f"{self.url}{self.webhook_path}"

    def start(self) -> SlackServer:
        """Start serving in a background thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="slack-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- fault injection -------------------------------------------------------------------------
    def rate_limit(self, times: int, retry_after: int = 0) -> None:
        """Answer the next ``times`` requests with HTTP 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limited = times
            self._retry_after = retry_after

    def outage(self, on: bool = True) -> None:
        """While on, answer every request with HTTP 500."""
        with self._lock:
            self._outage = on

    def reset(self) -> None:
        """Forget messages, files and injected faults."""
        with self._lock:
            self.messages.clear()
            self.files.clear()
            self.requests.clear()
            self._rate_limited = 0
            self._outage = False

    # -- reading -----------------------------------------------------------------------------
    def messages_in_thread(self, thread_ts: str) -> list[PostedMessage]:
        """Replies posted into the thread started by message ``thread_ts``."""
        return [m for m in self.messages if m.thread_ts == thread_ts]

    # -- internals -----------------------------------------------------------------------------
    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _fault(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            if self._outage:
                return 500, {}
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return 429, {"Retry-After": str(self._retry_after)}
        return None

    def _api(self, method: str, args: dict[str, Any], auth: str | None) -> dict[str, Any]:
        if auth is None or not auth.startswith("Bearer "):
            return {"ok": False, "error": "not_authed"}
        if auth.removeprefix("Bearer ") != self.token:
            return {"ok": False, "error": "invalid_auth"}
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        return handler(args)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"{self.url}/", "team": "certops-test", "user": "certops", "bot_id": "B0000"}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        try:
            blocks = _as_blocks(args.get("blocks"))
        except ValueError:
            return {"ok": False, "error": "invalid_blocks_format"}
        text = args.get("text")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        problem = _limit_problem(text, blocks)
        if problem:
            return {"ok": False, "error": problem}
        thread_ts = args.get("thread_ts") or None
        if thread_ts and not any(m.ts == thread_ts for m in self.messages):
            return {"ok": False, "error": "thread_not_found"}
        msg = PostedMessage("chat.postMessage", str(channel), text, blocks, thread_ts, self._next_ts())
        with self._lock:
            self.messages.append(msg)
        return {"ok": True, "channel": channel, "ts": msg.ts, "message": {"text": text, "ts": msg.ts}}

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        length = args.get("length")
        if not filename or length in (None, ""):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        with self._lock:
            self.files[file_id] = UploadedFile(file_id, str(filename), int(length))
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/_upload/{file_id}"}

    def _upload(self, file_id: str, body: bytes) -> bool:
        with self._lock:
            f = self.files.get(file_id)
            if f is None:
                return False
            f.content = body
        return True

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        raw = args.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else list(raw or [])
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        done: list[dict[str, Any]] = []
        channel = args.get("channel_id") or args.get("channels") or None
        thread_ts = args.get("thread_ts") or None
        for item in items:
            f = self.files.get(str(item.get("id")))
            if f is None or len(f.content) != f.length:
                return {"ok": False, "error": "file_not_found"}
            f.title = item.get("title") or f.filename
            f.channel = channel
            f.thread_ts = thread_ts
            f.completed = True
            done.append({"id": f.file_id, "name": f.filename, "title": f.title, "size": f.length})
        if channel:
            msg = PostedMessage(
                "files.completeUploadExternal",
                str(channel),
                args.get("initial_comment") or None,
                [],
                thread_ts,
                self._next_ts(),
                files=[{"id": d["id"], "name": d["name"], "title": d["title"]} for d in done],
            )
            with self._lock:
                self.messages.append(msg)
        return {"ok": True, "files": done}

    def _webhook(self, body: dict[str, Any]) -> tuple[int, str]:
        try:
            blocks = _as_blocks(body.get("blocks"))
        except ValueError:
            return 400, "invalid_blocks"
        text = body.get("text")
        if not text and not blocks:
            return 400, "no_text"
        problem = _limit_problem(text, blocks)
        if problem:
            return 400, problem
        msg = PostedMessage("webhook", None, text, blocks, None, self._next_ts())
        with self._lock:
            self.messages.append(msg)
        return 200, "ok"


def _as_blocks(raw: Any) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, list) or not all(isinstance(b, dict) and "type" in b for b in raw):
        raise ValueError("blocks must be a list of objects with a type")
    return raw


def _limit_problem(text: str | None, blocks: list[dict[str, Any]]) -> str | None:
    if text and len(text) > MAX_TEXT:
        return "msg_too_long"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for b in blocks:
        if b.get("type") == "section":
            t = b.get("text", {})
            if isinstance(t, dict) and len(str(t.get("text", ""))) > MAX_SECTION_TEXT:
                return "invalid_blocks"
            for f in b.get("fields", []) or []:
                if len(str(f.get("text", ""))) > 2000:
                    return "invalid_blocks"
    return None


def _handler_for(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            with server._lock:  # record before answering, so a client that got the answer sees it recorded
                server.requests.append((urlsplit(self.path).path, status))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8", headers)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/_messages":
                self._json(200, [m.as_dict() for m in server.messages])
            elif path == "/_files":
                self._json(
                    200, [{"id": f.file_id, "filename": f.filename, "title": f.title} for f in server.files.values()]
                )
            else:
                self._json(404, {"ok": False, "error": "not_found"})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = server._fault()
            if fault is not None:
                status, headers = fault
                self._send(status, b"rate_limited" if status == 429 else b"internal_error", "text/plain", headers)
                return
            if parts.path == server.webhook_path:
                try:
                    data = json.loads(body or b"{}")
                except ValueError:
                    self._send(400, b"invalid_payload", "text/plain")
                    return
                status, text = server._webhook(data)
                self._send(status, text.encode(), "text/plain")
                return
            if parts.path.startswith("/_upload/"):
                ok = server._upload(parts.path.removeprefix("/_upload/"), body)
                self._send(200 if ok else 404, b"OK" if ok else b"not_found", "text/plain")
                return
            if parts.path.startswith("/api/"):
                args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                ctype = self.headers.get("Content-Type", "")
                if "application/json" in ctype and body:
                    args.update(json.loads(body))
                elif body:
                    args.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
                result = server._api(parts.path.removeprefix("/api/"), args, self.headers.get("Authorization"))
                self._json(200, result)
                return
            self._json(404, {"ok": False, "error": "not_found"})

    return Handler
