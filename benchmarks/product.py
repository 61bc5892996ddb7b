"""The product under test: a fresh database, a tenant and channels made with the `inbox` CLI, and
`inbox serve` in its own process (with INBOX_LOG_LEVEL=warning, as PERFORMANCE.md advises).

Owns what the phases share about one database: the env the server and CLI run with, the webhook
targets, the ids of tenant, queue and channels, and a direct handle on the database for seeding.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import procs
from benchmarks.payloads import Target
from benchmarks.seed import Db


@dataclass
class Product:
    database: str  # sqlite | postgresql
    url: str
    data_dir: Path
    notificame_url: str
    tenant_id: int = 0
    queue_id: int = 0
    # The two webhook channels of the ingest mix (Notifica.me WhatsApp, WhatsApp Cloud), then the
    # channel whose conversations go to the fan-out queue.
    targets: list[Target] = field(default_factory=list)
    channel_ids: list[int] = field(default_factory=list)
    # The idle-sockets phase lives in a tenant of its own, so that its thousands of agents are not
    # part of the tenant whose end-to-end latency is measured.
    fan_tenant_id: int = 0
    fan_target: Target | None = None
    fan_channel_id: int = 0
    # Customers who already wrote once (target index, phone), from the ingest warm-up.
    known: list[tuple[int, str]] = field(default_factory=list)
    db: Db | None = None
    # More settings for `inbox serve` (e.g. INBOX_METRICS=off for the metrics A/B).
    server_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            "INBOX_DATABASE_URL": self.url,
            "INBOX_DATA_DIR": str(self.data_dir),
            "INBOX_LOG_LEVEL": "warning",
            "INBOX_BROADCAST_URL": "memory://",
            "NOTIFICAME_API_URL": self.notificame_url,
            **self.server_env,
        }

    async def create(self) -> None:
        """Tenant and the two webhook channels through the CLI, before any server runs; the fan-out
        tenant, queue and channel through the same actions in this process (each CLI process costs
        about a second of start-up, and the quick run has little to spare)."""
        env = self.env
        self.tenant_id = int((await procs.cli(env, "tenant", "create", "--name", "Bench Ltda"))["id"])
        tid = str(self.tenant_id)
        nm_uuid, fan_uuid = (f"{secrets.token_hex(4)}-bench-{i}" for i in range(2))
        phone_id, app_secret = str(10**14 + secrets.randbelow(10**14)), secrets.token_hex(16)
        common = ("channel", "create", "--tenant", tid, "--kind", "whatsapp")
        nm, wa, fan = await asyncio.gather(
            procs.cli(env, *common, "--provider", "notificame", "--name", "WhatsApp (Notifica.me)",
                      "--notificame-channel", nm_uuid, "--notificame-token", secrets.token_hex(8)),
            procs.cli(env, *common, "--provider", "meta", "--name", "WhatsApp Cloud",
                      "--external-id", phone_id, "--app-secret", app_secret,
                      "--verify-token", "v" + secrets.token_hex(4), "--access-token", secrets.token_hex(9)),
            self._fan_out_channel(fan_uuid),
        )  # fmt: skip
        self.targets = [
            Target("notificame", nm["webhook_path"], nm_uuid),
            Target("meta", wa["webhook_path"], phone_id, app_secret),
        ]
        self.channel_ids = [int(nm["id"]), int(wa["id"])]
        self.fan_target = Target("notificame", fan["webhook_path"], fan_uuid)
        self.fan_channel_id = int(fan["id"])
        self.db = Db(self.url)

    async def _fan_out_channel(self, notificame_uuid: str) -> dict[str, Any]:
        from inbox.actions import admin
        from inbox.config import Settings
        from inbox.runtime import Runtime

        rt = Runtime(Settings(database_url=self.url, data_dir=self.data_dir, workers=False))
        try:
            async with rt.uow() as uow:
                self.fan_tenant_id = int((await admin.create_tenant(uow, "Bench Fan-out Ltda"))["id"])
                self.queue_id = int((await admin.create_queue(uow, self.fan_tenant_id, "Fan-out"))["id"])
                return await admin.create_channel(
                    uow,
                    self.fan_tenant_id,
                    kind="whatsapp",
                    provider="notificame",
                    name="WhatsApp (fan-out queue)",
                    external_id=notificame_uuid,
                    secrets_={"notificame_token": secrets.token_hex(8)},
                    queue_id=self.queue_id,
                )
        finally:
            await rt.stop()

    def server(self, counts: Path | None = None, workers: int = 1) -> procs.Server:
        """`inbox serve` (`--workers N` for N > 1); with `counts`, its database work is counted into
        that file (and profiled too under INBOX_BENCH_PROFILE: benchmarks/counted.py)."""
        port = procs.free_port()
        argv = procs.python("inbox.cli", "serve", "--host", "127.0.0.1", "--port", str(port))
        if workers > 1:
            argv += ["--workers", str(workers)]
        if counts is not None:
            argv = procs.python("benchmarks.counted", str(counts), *argv[3:])
        elif out := os.environ.get("INBOX_BENCH_PROFILE"):  # a directory (see benchmarks/profiled.py)
            report = f"{out}/serve-{self.database}-{port}.txt"
            argv = procs.python("benchmarks.profiled", report, *argv[3:])
        return procs.Server(argv, port, self.env)

    @contextlib.asynccontextmanager
    async def serving(self, counts: Path | None = None, workers: int = 1) -> AsyncIterator[procs.Server]:
        async with procs.running(self.server(counts, workers), "/healthz") as srv:
            yield srv

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()


@contextlib.asynccontextmanager
async def product(database: str, pg_server_url: str | None, notificame_url: str) -> AsyncIterator[Product]:
    """A product on a fresh database (a temp SQLite file, or a new PostgreSQL database dropped after)."""
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as tmp:
        data_dir = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            if database == "postgresql":
                assert pg_server_url is not None
                url = await stack.enter_async_context(procs.pg_database(pg_server_url))
            else:
                url = f"sqlite+aiosqlite:///{(data_dir / 'inbox.db').as_posix()}"
            p = Product(database, url, data_dir, notificame_url)
            try:
                await p.create()
                yield p
            finally:
                await p.close()
