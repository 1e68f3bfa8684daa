"""Send certops messages to Slack with slack-sdk: a bot token (threads, files) or an incoming webhook.

A Slack problem never fails or blocks a renewal: every send returns a ``DeliveryResult`` that the
caller records, and nothing here raises for network or Slack errors. Rate limits (HTTP 429) are
retried after Slack's ``Retry-After`` and connection errors once more, with slack-sdk's retry
handlers. The token and webhook URL are ``SecretStr``; they are never logged, and any error text
that might contain them is scrubbed before it is returned.

Replies about one renewal go into its thread: the first message posted under a ``thread_key``
(the renewal's run id) starts the thread, and its ``ts`` is remembered in a ``ThreadStore``
(in memory, or a JSON file shared by the processes of one machine); the caller can also keep
``DeliveryResult.ts`` itself and pass ``thread_ts``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from certops import secrets
from certops.atomicfile import write_atomic
from certops.due import DuePlan
from certops.errors import ConfigError
from certops.inventory import CredentialRef, Inventory, SlackConfig
from certops.notify import format as fmt
from certops.notify.messages import (
    ApprovalReminder,
    ApprovalRequest,
    DeliveryResult,
    RenewalCompleted,
    RenewalFailed,
    RenewalStarted,
    SlackMessage,
)

log = logging.getLogger(__name__)


class ThreadStore(Protocol):
    """Remembers the Slack thread (``ts``) of each renewal, by key (the renewal's run id)."""

    def get(self, key: str) -> str | None:
        """The thread ``ts`` stored under ``key``, or None."""
        ...

    def set(self, key: str, ts: str) -> None:
        """Remember ``ts`` under ``key``."""
        ...


class MemoryThreadStore:
    """Thread timestamps kept in this process."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The thread ``ts`` stored under ``key``, or None."""
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, ts: str) -> None:
        """Remember ``ts`` under ``key``."""
        with self._lock:
            self._data[key] = ts


class FileThreadStore:
    """Thread timestamps in a small JSON file, shared by the processes (flow runs) of one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        """The thread ``ts`` stored under ``key``, or None."""
        return self._read().get(key)

    def set(self, key: str, ts: str) -> None:
        """Remember ``ts`` under ``key`` (write to a temporary file, then rename)."""
        with self._lock:
            data = self._read()
            data[key] = ts
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True), mode=0o644)


def _resolve(env: str | None, block: str | None, what: str) -> SecretStr:
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(
                f"the Slack {what} is read from ${env}, which is not set",
                hint=f"export {env}=... in the environment that runs certops, or remove notifications.slack",
            )
        return SecretStr(value)
    assert block is not None
    return secrets.resolve_block(CredentialRef(username=f"slack {what}", password_secret_block=block))


def _api_error(exc: SlackApiError) -> str:
    """Slack's error code (e.g. ``invalid_auth``), or the HTTP status when there is none."""
    resp = exc.response
    if resp.status_code >= 400:
        return f"Slack answered HTTP {resp.status_code}"
    code = resp.get("error") if isinstance(resp.data, dict) else None
    return f"Slack answered {code or 'an error'}"


class SlackNotifier:
    """Posts certops messages to one Slack channel (bot token) or one incoming webhook."""

    def __init__(
        self,
        *,
        token: SecretStr | None = None,
        webhook_url: SecretStr | None = None,
        channel: str | None = None,
        base_url: str | None = None,
        mention: str | None = None,
        ui_url: str | None = None,
        threads: ThreadStore | None = None,
        timeout: int = 10,
        rate_limit_retries: int = 3,
    ) -> None:
        if (token is None) == (webhook_url is None):
            raise ConfigError("SlackNotifier needs exactly one of a bot token or a webhook URL")
        if token is not None and not channel:
            raise ConfigError("SlackNotifier with a bot token needs a channel")
        self.channel = channel
        self.mention = mention
        self.ui_url = ui_url.rstrip("/") if ui_url else None
        self.threads: ThreadStore = threads or MemoryThreadStore()
        self._secrets = [s.get_secret_value() for s in (token, webhook_url) if s is not None]
        handlers = [
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            ConnectionErrorRetryHandler(max_retry_count=1),
        ]
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        if token is not None:
            kwargs: dict[str, Any] = {"token": token.get_secret_value(), "timeout": timeout, "retry_handlers": handlers}
            if base_url:
                kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
            self._web = WebClient(**kwargs)
        else:
            assert webhook_url is not None
            self._hook = WebhookClient(webhook_url.get_secret_value(), timeout=timeout, retry_handlers=handlers)

    @classmethod
    def from_config(cls, cfg: SlackConfig, *, threads: ThreadStore | None = None) -> SlackNotifier:
        """Build a notifier from the inventory's ``notifications.slack``, reading the secret now.

        Raises ``ConfigError`` when the environment variable or Secret block is missing.
        """
        token = webhook = None
        if cfg.token_env or cfg.token_secret_block:
            token = _resolve(cfg.token_env, cfg.token_secret_block, "bot token")
        else:
            webhook = _resolve(cfg.webhook_url_env, cfg.webhook_url_secret_block, "webhook URL")
        return cls(
            token=token,
            webhook_url=webhook,
            channel=cfg.channel,
            base_url=cfg.base_url,
            mention=cfg.mention,
            ui_url=cfg.ui_url,
            threads=threads,
        )

    @classmethod
    def from_inventory(cls, inventory: Inventory, *, threads: ThreadStore | None = None) -> SlackNotifier | None:
        """The notifier the inventory configures, or None when it has no ``notifications.slack``."""
        cfg = inventory.notifications.slack
        return cls.from_config(cfg, threads=threads) if cfg is not None else None

    @property
    def can_thread(self) -> bool:
        """True with a bot token (threads and files); incoming webhooks post top-level messages only."""
        return self._web is not None

    def run_url(self, run_id: str) -> str | None:
        """The Prefect UI page of flow run ``run_id`` (when ``ui_url`` is configured)."""
        return f"{self.ui_url}/runs/flow-run/{run_id}" if self.ui_url else None

    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            if s:
                text = text.replace(s, "***")
        return text

    def _failed(self, what: str, exc: BaseException | str) -> DeliveryResult:
        detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        error = self._scrub(f"Slack {what} failed: {detail}")[:500]
        log.warning("%s (the renewal goes on; the message is recorded as not delivered)", error)
        return DeliveryResult(delivered=False, error=error, channel=self.channel)

    # -- the two primitives ----------------------------------------------------------------------
    def notify(
        self, message: SlackMessage, *, thread_ts: str | None = None, thread_key: str | None = None
    ) -> DeliveryResult:
        """Post ``message``; into ``thread_ts``, or the thread remembered under ``thread_key``.

        Under a ``thread_key`` with no thread yet, the message starts the thread. Never raises for
        Slack or network errors: the result says whether it was delivered.
        """
        if thread_ts is None and thread_key is not None:
            thread_ts = self.threads.get(thread_key)
        try:
            if self._web is not None:
                resp = self._web.chat_postMessage(
                    channel=str(self.channel), text=message.text, blocks=message.blocks, thread_ts=thread_ts
                )
                ts = str(resp.get("ts"))
                if thread_key is not None and thread_ts is None:
                    self.threads.set(thread_key, ts)
                log.info(
                    "slack: posted to %s (ts %s%s)", self.channel, ts, f", thread {thread_ts}" if thread_ts else ""
                )
                return DeliveryResult(delivered=True, ts=ts, channel=self.channel)
            assert self._hook is not None
            hook = self._hook.send(text=message.text, blocks=message.blocks)
            if hook.status_code != 200:
                return self._failed("webhook post", f"HTTP {hook.status_code}: {hook.body[:200]}")
            log.info("slack: posted to the incoming webhook")
            return DeliveryResult(delivered=True)
        except SlackApiError as exc:
            return self._failed("chat.postMessage", _api_error(exc))
        except (SlackClientError, OSError, ValueError) as exc:
            return self._failed("post", exc)

    def upload_text(
        self,
        content: str,
        *,
        filename: str,
        title: str,
        comment: str | None = None,
        thread_ts: str | None = None,
        thread_key: str | None = None,
    ) -> DeliveryResult:
        """Attach ``content`` as a file (files_upload_v2), in a thread when given. Bot token only."""
        if self._web is None:
            return DeliveryResult(delivered=False, error="an incoming webhook cannot upload files (use a bot token)")
        if thread_ts is None and thread_key is not None:
            thread_ts = self.threads.get(thread_key)
        try:
            resp = self._web.files_upload_v2(
                channel=str(self.channel),
                content=content,
                filename=filename,
                title=title,
                initial_comment=comment,
                thread_ts=thread_ts,
            )
            if not resp.get("file"):
                return self._failed("file upload", "Slack's answer names no file")
            log.info("slack: uploaded %s to %s", filename, self.channel)
            return DeliveryResult(delivered=True, ts=thread_ts, channel=self.channel)
        except SlackApiError as exc:
            return self._failed("file upload", _api_error(exc))
        except (SlackClientError, OSError, ValueError) as exc:
            return self._failed("file upload", exc)

    # -- the certops messages ----------------------------------------------------------------------
    def scan_summary(
        self, plan: DuePlan, *, started: list[RenewalStarted] | None = None, ui_url: str | None = None
    ) -> DeliveryResult:
        """Post the scan summary (top-level message)."""
        return self.notify(fmt.scan_summary(plan, started=started, ui_url=ui_url))

    def approval_needed(self, req: ApprovalRequest) -> DeliveryResult:
        """Post the approval request; it starts the renewal's thread, and the CSRs follow in it as files."""
        if req.ui_url is None and self.ui_url:
            req = req.model_copy(update={"ui_url": self.run_url(req.run_id)})
        result = self.notify(fmt.approval_needed(req, mention=self.mention), thread_key=req.run_id)
        if result.delivered and self.can_thread:
            csrs = dict(req.csr_pems) or ({req.cluster: req.csr_pem} if req.csr_pem else {})
            for name, pem in csrs.items():
                up = self.upload_text(
                    pem,
                    filename=f"{req.cluster}-{req.unit}-{name}.csr".replace(" ", "_").replace(",", ""),
                    title=f"CSR {req.unit} {name}",
                    thread_ts=result.ts,
                )
                if not up.delivered:
                    return result.model_copy(update={"error": up.error})
        return result

    def approval_reminder(self, rem: ApprovalReminder, *, thread_ts: str | None = None) -> DeliveryResult:
        """Remind, in the renewal's thread, that its approval deadline is near."""
        if rem.ui_url is None and self.ui_url:
            rem = rem.model_copy(update={"ui_url": self.run_url(rem.run_id)})
        return self.notify(fmt.approval_reminder(rem, mention=self.mention), thread_key=rem.run_id, thread_ts=thread_ts)

    def renewal_completed(self, done: RenewalCompleted, *, thread_ts: str | None = None) -> DeliveryResult:
        """Report a completed renewal, in its thread."""
        if done.ui_url is None and self.ui_url:
            done = done.model_copy(update={"ui_url": self.run_url(done.run_id)})
        return self.notify(fmt.renewal_completed(done), thread_key=done.run_id, thread_ts=thread_ts)

    def renewal_failed(self, fail: RenewalFailed, *, thread_ts: str | None = None) -> DeliveryResult:
        """Report a failed or blocked renewal, in its thread, mentioning the on-call people."""
        if fail.ui_url is None and self.ui_url:
            fail = fail.model_copy(update={"ui_url": self.run_url(fail.run_id)})
        return self.notify(fmt.renewal_failed(fail, mention=self.mention), thread_key=fail.run_id, thread_ts=thread_ts)
