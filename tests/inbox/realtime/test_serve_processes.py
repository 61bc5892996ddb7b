"""Two `inbox serve` processes on one PostgreSQL and one Redis: a webhook into one reaches an agent
connected to the other. Real processes, as deployed (skipped without PostgreSQL or Redis)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from inbox.actions import admin
from inbox.config import Settings
from inbox.migrate import migrate
from inbox.runtime import Runtime
from tests.databases import create_pg_database, drop_pg_database, pg_ok
from tests.fakes.serve import free_port
from tests.inbox.realtime.client import WsClient, redis_url_or_skip, wait_until
from tests.support import PASSWORD, Channel, notificame_message

SECRET = "serve-test-secret"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    if not pg_ok():
        pytest.skip("PostgreSQL not configured (INBOX_TEST_DATABASE_URL)")
    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


def _serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "inbox.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[3],
        )


async def test_two_serve_processes_share_events_through_redis(pg_url: str, tmp_path: Path) -> None:
    redis = redis_url_or_skip()
    settings = Settings(database_url=pg_url, data_dir=tmp_path, secret_key=SECRET, workers=False)
    rt = Runtime(settings)
    try:
        await migrate(rt.engine)
        async with rt.uow() as uow:
            tenant = await admin.create_tenant(uow, "Serve test")
            email = f"admin-{secrets.token_hex(4)}@example.com"
            await admin.create_agent(
                uow, tenant["id"], email=email, name="Admin", password=PASSWORD, role="admin", capacity=5
            )
            channel = await admin.create_channel(
                uow,
                tenant["id"],
                kind="whatsapp",
                provider="notificame",
                name="wa",
                external_id=f"nm-{secrets.token_hex(6)}",
                secrets_={"notificame_token": "t"},
            )
    finally:
        await rt.stop()

    env = {
        **os.environ,
        "INBOX_DATABASE_URL": pg_url,
        "INBOX_BROADCAST_URL": redis,
        "INBOX_BROADCAST_CHANNEL": f"inbox-test-{secrets.token_hex(6)}",
        "INBOX_DATA_DIR": str(tmp_path),
        "INBOX_SECRET_KEY": SECRET,
        "INBOX_LOG_LEVEL": "warning",
        "NOTIFICAME_API_URL": "http://127.0.0.1:9/v1",
    }
    ports = [free_port(), free_port()]
    procs = [_serve(p, env, tmp_path / f"serve-{p}.log") for p in ports]
    a, b = (httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=10) for p in ports)
    try:

        async def ready(c: httpx.AsyncClient) -> bool:
            for proc in procs:
                assert proc.poll() is None, "inbox serve exited; see serve-*.log in " + str(tmp_path)
            try:
                return (await c.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        for c in (a, b):
            await wait_until(lambda c=c: ready(c), within=60, what="serve ready")  # type: ignore[misc]

        r = await b.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        # Browsers offer per-message deflate; `inbox serve` declines it (PERFORMANCE.md).
        async with websockets.connect(f"ws://127.0.0.1:{ports[0]}/ws?token={token}") as offered:
            assert offered.response is not None
            assert "Sec-WebSocket-Extensions" not in offered.response.headers
        on_b = WsClient(f"ws://127.0.0.1:{ports[1]}", token)
        await on_b.connect()
        await on_b.ready()

        ch = Channel(
            channel["id"],
            "whatsapp",
            "notificame",
            channel["webhook_path"],
            channel,
            external_id=channel["external_id"],
        )
        r = await a.post(ch.webhook_path, json=notificame_message(ch, text="one process to the other"))
        assert r.status_code == 200, r.text
        await wait_until(
            lambda: on_b.of_type("message.created"), within=15, what="event on the other process"
        )
        assert on_b.of_type("message.created")[0]["data"]["text"] == "one process to the other"
        await on_b.close()
    finally:
        for c in (a, b):
            await c.aclose()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
