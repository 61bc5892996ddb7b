"""Settings from environment variables (and an optional `.env`).

Owns the names and defaults of CONTRACT.md's configuration table. Nothing else reads `os.environ`
for product settings, so tests build a `Settings` directly and run several apps in one process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from channels.registry import env_defaults


def _env(name: str, default: str, source: dict[str, str]) -> str:
    value = source.get(name)
    return default if value is None or value == "" else value


def _processes(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"INBOX_WORKERS must be a whole number of processes, 1 or more (got {value!r})")
    return n


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    broadcast_url: str = "memory://"
    data_dir: Path = field(default_factory=Path.cwd)
    secret_key: str | None = None
    log_level: str = "info"
    # The variables the provider adapters declare (API base URLs); a missing one takes its default.
    provider_env: Mapping[str, str] = field(default_factory=dict)
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    bot_model: str = "gpt-4o-mini"
    token_ttl_hours: float = 24 * 7
    # How many events the log keeps per tenant for `since` replay; older ones answer `resync`.
    event_retention: int = 100_000
    # Realtime (inbox/realtime): the bus channel (processes sharing one Redis share it; tests make
    # it unique), a socket's idle timeout (no client frame), the per-socket send backlog past which
    # a slow consumer gets `resync` and is closed, and presence (offline after the last socket
    # closed for the grace period; live sockets are re-asserted in the database every heartbeat).
    broadcast_channel: str = "inbox-events"
    ws_idle_timeout: float = 75.0
    ws_send_queue: int = 1000
    presence_grace_seconds: float = 30.0
    presence_heartbeat_seconds: float = 10.0
    # Outbox: attempts before a transient failure becomes `failed`.
    send_max_attempts: int = 8
    send_timeout_seconds: float = 15.0
    # A sender owns a claimed outbox row this long (renewed while the call runs); a crashed
    # process's rows are sent again once it lapses.
    send_lease_seconds: float = 30.0
    # The jobs worker (bot turns, snooze wake-ups, automation runs) owns a claimed job this long; a
    # crashed process's jobs run again once it lapses.
    job_lease_seconds: float = 60.0
    # Automation runs decided at once per process (each a transaction of its own); while webhooks
    # are arriving, one at a time and a tenth of the time whatever this says (inbox/app.py).
    automation_concurrency: int = 2
    # Retry delays: base * 2**(attempt-1), capped, with jitter; a provider's Retry-After wins.
    send_backoff_base_seconds: float = 1.0
    send_backoff_max_seconds: float = 300.0
    # Provider calls at once per process (what a campaign's throughput is against a provider that
    # takes 100 ms: 32 -> about 300/s); four times as many rows are claimed ahead of them, and their
    # outcomes are recorded in batches (inbox/workers/outbox.py).
    send_concurrency: int = 32
    # Background workers (outbox, routing, bot) run inside `inbox serve`; tests may turn them off.
    workers: bool = True
    # Server processes of `inbox serve` on one host:port (`--workers N`, INBOX_WORKERS; inbox/supervise.py).
    processes: int = 1
    # Operations (issue 19): `/metrics` wants this bearer token when set (open when unset);
    # `metrics` off stops recording (to measure what recording costs).
    metrics_token: str | None = None
    metrics: bool = True
    # Login protection: failures per email and per remote address within the window, past which
    # login answers 429 (an office behind one address gets the larger allowance).
    login_window_seconds: float = 900.0
    login_max_failures_email: int = 5
    login_max_failures_address: int = 20
    # Account setup (issue 14): where providers reach this server (webhook subscriptions are made at
    # public_url + webhook_path; unset: the admin is shown the path to paste), and how long one
    # provider account call may take before the page and the CLI give up with a reason.
    public_url: str | None = None
    setup_timeout_seconds: float = 10.0
    # Outgoing webhooks (issue 19 item 4): one POST may take this long in all; failed deliveries are
    # retried with the shared backoff (inbox/workers/retry.py) between these bounds; a subscription
    # failing without a success for `webhook_disable_after` seconds is disabled. New events are found
    # by polling the log this often (nothing is added to the ingest path).
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_base_seconds: float = 5.0
    webhook_backoff_max_seconds: float = 900.0
    webhook_disable_after: float = 86_400.0
    webhook_poll_seconds: float = 1.0
    # Composer attachments (issue 15 item 5): the largest file an agent may upload. WhatsApp takes
    # media up to 16 MB (documents 100 MB), so a larger file would fail at the provider anyway.
    upload_max_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite+aiosqlite:///{(self.data_dir / 'inbox.db').as_posix()}"
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Environment wins over `.env`, which wins over the defaults."""
        source: dict[str, str] = {}
        dotenv_path = dotenv if dotenv is not None else Path.cwd() / ".env"
        if dotenv_path.is_file():
            source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        source.update(os.environ if environ is None else environ)
        data_dir = Path(_env("INBOX_DATA_DIR", str(Path.cwd()), source)).expanduser().resolve()
        return cls(
            database_url=_env("INBOX_DATABASE_URL", "", source),
            broadcast_url=_env("INBOX_BROADCAST_URL", "memory://", source),
            data_dir=data_dir,
            secret_key=source.get("INBOX_SECRET_KEY") or None,
            log_level=_env("INBOX_LOG_LEVEL", "info", source).lower(),
            provider_env={
                name: _env(name, default, source).rstrip("/") for name, default in env_defaults().items()
            },
            openai_api_key=source.get("OPENAI_API_KEY") or None,
            openai_base_url=source.get("OPENAI_BASE_URL") or None,
            bot_model=_env("INBOX_BOT_MODEL", cls.bot_model, source),
            token_ttl_hours=float(_env("INBOX_TOKEN_TTL_HOURS", str(cls.token_ttl_hours), source)),
            event_retention=int(_env("INBOX_EVENT_RETENTION", str(cls.event_retention), source)),
            broadcast_channel=_env("INBOX_BROADCAST_CHANNEL", cls.broadcast_channel, source),
            ws_idle_timeout=float(_env("INBOX_WS_IDLE_TIMEOUT", str(cls.ws_idle_timeout), source)),
            ws_send_queue=int(_env("INBOX_WS_SEND_QUEUE", str(cls.ws_send_queue), source)),
            presence_grace_seconds=float(
                _env("INBOX_PRESENCE_GRACE_SECONDS", str(cls.presence_grace_seconds), source)
            ),
            presence_heartbeat_seconds=float(
                _env("INBOX_PRESENCE_HEARTBEAT_SECONDS", str(cls.presence_heartbeat_seconds), source)
            ),
            send_max_attempts=int(_env("INBOX_SEND_MAX_ATTEMPTS", str(cls.send_max_attempts), source)),
            send_timeout_seconds=float(
                _env("INBOX_SEND_TIMEOUT_SECONDS", str(cls.send_timeout_seconds), source)
            ),
            send_lease_seconds=float(_env("INBOX_SEND_LEASE_SECONDS", str(cls.send_lease_seconds), source)),
            job_lease_seconds=float(_env("INBOX_JOB_LEASE_SECONDS", str(cls.job_lease_seconds), source)),
            automation_concurrency=max(
                1, int(_env("INBOX_AUTOMATION_CONCURRENCY", str(cls.automation_concurrency), source))
            ),
            send_backoff_base_seconds=float(
                _env("INBOX_SEND_BACKOFF_BASE_SECONDS", str(cls.send_backoff_base_seconds), source)
            ),
            send_backoff_max_seconds=float(
                _env("INBOX_SEND_BACKOFF_MAX_SECONDS", str(cls.send_backoff_max_seconds), source)
            ),
            send_concurrency=max(1, int(_env("INBOX_SEND_CONCURRENCY", str(cls.send_concurrency), source))),
            processes=_processes(_env("INBOX_WORKERS", "1", source)),
            metrics_token=source.get("INBOX_METRICS_TOKEN") or None,
            metrics=_env("INBOX_METRICS", "on", source).lower() not in ("off", "0", "false", "no"),
            login_window_seconds=float(
                _env("INBOX_LOGIN_WINDOW_SECONDS", str(cls.login_window_seconds), source)
            ),
            login_max_failures_email=int(
                _env("INBOX_LOGIN_MAX_FAILURES_EMAIL", str(cls.login_max_failures_email), source)
            ),
            login_max_failures_address=int(
                _env("INBOX_LOGIN_MAX_FAILURES_ADDRESS", str(cls.login_max_failures_address), source)
            ),
            public_url=(source.get("INBOX_PUBLIC_URL") or "").rstrip("/") or None,
            setup_timeout_seconds=float(
                _env("INBOX_SETUP_TIMEOUT_SECONDS", str(cls.setup_timeout_seconds), source)
            ),
            webhook_timeout_seconds=float(
                _env("INBOX_WEBHOOK_TIMEOUT_SECONDS", str(cls.webhook_timeout_seconds), source)
            ),
            webhook_backoff_base_seconds=float(
                _env("INBOX_WEBHOOK_BACKOFF_BASE_SECONDS", str(cls.webhook_backoff_base_seconds), source)
            ),
            webhook_backoff_max_seconds=float(
                _env("INBOX_WEBHOOK_BACKOFF_MAX_SECONDS", str(cls.webhook_backoff_max_seconds), source)
            ),
            webhook_disable_after=float(
                _env("INBOX_WEBHOOK_DISABLE_AFTER", str(cls.webhook_disable_after), source)
            ),
            webhook_poll_seconds=float(
                _env("INBOX_WEBHOOK_POLL_SECONDS", str(cls.webhook_poll_seconds), source)
            ),
            upload_max_bytes=int(float(_env("INBOX_UPLOAD_MAX_MB", "16", source)) * 1024 * 1024),
        )

    def but(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
