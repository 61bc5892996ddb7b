"""A recording websocket client and the events-table truth to compare it with.

`WsClient` keeps every frame it ever received across reconnects; `expected_events` reads the log
and applies the same visibility rule the server must apply, so a test compares the two exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from inbox import models as m
from inbox.access import may_see_event
from inbox.auth import principal_for
from tests.fakes.serve import free_port
from tests.support import App

REDIS_URL = os.environ.get("INBOX_TEST_REDIS_URL", "")
REQUIRE_REDIS = os.environ.get("INBOX_TEST_REQUIRE_REDIS") == "1"


def redis_url_or_skip() -> str:
    if not REDIS_URL:
        if REQUIRE_REDIS:
            pytest.fail("INBOX_TEST_REQUIRE_REDIS=1 but INBOX_TEST_REDIS_URL is not set")
        pytest.skip("Redis not configured (INBOX_TEST_REDIS_URL)")
    return REDIS_URL


async def wait_until(cond: Callable[[], Any], within: float = 10.0, what: str = "condition") -> None:
    """Poll `cond` (sync or async) until true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = cond()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class WsClient:
    """Connects to /ws (of an App, or a ws://host:port), records frames; `events` are the frames
    with a `seq`, across reconnects."""

    def __init__(self, app: App | str, token: str) -> None:
        self.ws_url = app if isinstance(app, str) else app.ws_url  # ws://host:port
        self.token = token
        self.frames: list[dict[str, Any]] = []
        self.conn: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if "seq" in f and f.get("type") != "ready"]

    @property
    def last_seq(self) -> int | None:
        """Where to resume (`since`): the last event received, else the first `ready` seq. (A later
        `ready` is not a cursor: the replay before it may have been cut short by a disconnect.)"""
        events = self.events
        if events:
            return int(events[-1]["seq"])
        ready = self.of_type("ready")
        return int(ready[0]["seq"]) if ready else None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    async def connect(self, since: int | None = None, *, token: str | None = None, **kw: Any) -> None:
        url = f"{self.ws_url}/ws?token={token if token is not None else self.token}"
        if since is not None:
            url += f"&since={since}"
        self.close_code = None
        self.conn = await websockets.connect(url, compression=None, open_timeout=10, **kw)
        self._reader = asyncio.create_task(self._read(self.conn))

    async def _read(self, conn: ClientConnection) -> None:
        try:
            async for raw in conn:
                self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass
        self.close_code = conn.close_code

    async def ready(self) -> int:
        """Wait for the latest connection's `ready` frame; returns its seq."""
        n = len(self.of_type("ready"))
        await wait_until(lambda: len(self.of_type("ready")) >= max(n, 1) or self.closed, what="ready")
        return int(self.of_type("ready")[-1]["seq"])

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.conn is not None
        await self.conn.send(json.dumps(frame))

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader

    async def wait_closed(self, within: float = 10.0) -> int | None:
        await wait_until(lambda: self.closed, within, what="server close")
        return self.close_code

    async def sync(self) -> None:
        """Ping and wait for the pong: everything the server sent before (ready, the replay, live
        events it had already delivered) has arrived."""
        n = len(self.of_type("pong"))
        await self.send({"type": "ping"})
        await wait_until(lambda: len(self.of_type("pong")) > n or self.closed, what="pong")

    async def wait_seq(self, seq: int, within: float = 10.0) -> None:
        """Wait until this client saw an event or a `ready` at or past `seq`."""

        def seen() -> bool:
            return any(f.get("seq", -1) >= seq for f in reversed(self.frames))

        await wait_until(seen, within, what=f"seq {seq}")


async def last_seq(app: App, tenant_id: int) -> int:
    async with app.runtime.engine.connect() as conn:
        return int(
            (await conn.execute(select(m.tenants.c.last_seq).where(m.tenants.c.id == tenant_id))).scalar_one()
        )


async def expected_events(app: App, tenant_id: int, token: str, after: int) -> list[dict[str, Any]]:
    """Every logged event after `after` that the token's agent may see, in order (parsed frames)."""
    async with app.runtime.engine.connect() as conn:
        principal = await principal_for(conn, token)
        ev = m.events.c
        rows = await conn.execute(
            select(m.events).where(ev.tenant_id == tenant_id, ev.seq > after).order_by(ev.seq)
        )
        return [
            json.loads(r.frame)
            for r in rows
            if may_see_event(principal, r.conversation_id, r.assignee_id, r.prev_assignee_id, r.queue_id)
        ]


class PrivateRedis:
    """A redis-server of our own on a free port, so a test may stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait_up(self) -> None:
        from redis import asyncio as aioredis

        async def pong() -> bool:
            client = aioredis.Redis.from_url(self.url)
            try:
                return bool(await client.ping())
            except Exception:
                return False
            finally:
                await client.aclose()

        await wait_until(pong, what="private redis up")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@contextlib.asynccontextmanager
async def private_redis() -> AsyncIterator[PrivateRedis]:
    if not shutil.which("redis-server"):
        if REQUIRE_REDIS:
            pytest.fail("redis-server not installed")
        pytest.skip("redis-server not installed")
    r = PrivateRedis()
    r.start()
    try:
        await r.wait_up()
        yield r
    finally:
        r.stop()
