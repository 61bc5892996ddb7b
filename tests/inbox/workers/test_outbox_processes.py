"""The outbox across processes: `inbox serve` killed with SIGKILL while a send is in flight loses
nothing and doubles nothing on our side; two app instances on PostgreSQL share one outbox and send
every message exactly once, in order per conversation. Runs on this module's own database (see
tests/inbox/test_outbox.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inbox.config import Settings
from tests.fakes.notificame import Reply, notificame_app
from tests.fakes.serve import free_port, serve
from tests.inbox.workers.outbox_support import (
    FAST,
    conversation,
    message,
    out_rows,
    outbox_rows,
    reply,
    wait_status,
)
from tests.support import running_app

ROOT = Path(__file__).resolve().parents[3]


@contextlib.asynccontextmanager
async def inbox_serve(env: dict[str, str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`inbox serve` as a child process; stopped (SIGTERM, then SIGKILL) unless the test killed it."""
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "inbox.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_sigkill_mid_flight_then_restart_delivers_once_on_our_side(
    settings: Settings, outbox_db: str, tmp_path: Path
) -> None:
    nm_asgi, nm = notificame_app()
    async with (
        serve(nm_asgi) as nm_url,
        running_app(settings.but(database_url=outbox_db, workers=False)) as api,
    ):
        tenant = await api.tenant()
        ch = await tenant.channel()
        conv_id, _ = await conversation(api, ch)
        sent = await reply(tenant.admin, conv_id, "Seu pedido foi enviado")
        nm.script(Reply(delay=3.0))  # the provider is slow to answer the first call
        env = {
            **os.environ,
            "INBOX_DATABASE_URL": outbox_db,
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_SECRET_KEY": settings.secret_key or "",
            "INBOX_LOG_LEVEL": "warning",
            "INBOX_BROADCAST_URL": "memory://",
            "NOTIFICAME_API_URL": nm_url + "/v1",
            "INBOX_SEND_LEASE_SECONDS": "2",
            "INBOX_SEND_BACKOFF_BASE_SECONDS": "0.05",
        }
        log = tmp_path / "serve.log"
        async with inbox_serve(env, log) as first:
            await nm.wait_for(1, within=30)  # the call is in flight...
            first.kill()  # ...and the process dies before it hears the answer
            await first.wait()
        row = await message(api, sent["id"])
        assert (row.status, row.provider_message_id) == ("queued", None)
        assert len(await outbox_rows(api, sent["id"])) == 1

        async with inbox_serve(env, log):
            row = await wait_status(api, sent["id"], "sent", within=30)
        # At-least-once toward the provider (it has no idempotency key), exactly one row on our side.
        assert len(nm.requests) == 2, log.read_text()
        assert nm.requests[0].json == nm.requests[1].json
        assert row.provider_message_id in nm.sent_ids
        assert [r.id for r in await out_rows(api, conv_id)] == [sent["id"]]
        assert await outbox_rows(api, sent["id"]) == []


async def test_two_instances_drain_one_outbox_each_message_once(
    settings: Settings, outbox_db: str, backend_name: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("several processes share an outbox on PostgreSQL (SQLite has one writer)")
    nm_asgi, nm = notificame_app()
    async with serve(nm_asgi) as nm_url:
        async with running_app(settings.but(database_url=outbox_db, workers=False)) as api:
            tenant = await api.tenant()
            ch = await tenant.channel()
            expected: dict[str, list[str]] = {}
            ids: list[int] = []
            # 44 conversations with one message and two with three: 50 messages.
            for n in range(46):
                conv_id, customer = await conversation(api, ch)
                for k in range(3 if n < 2 else 1):
                    text = f"{customer} #{k}"
                    expected.setdefault(customer, []).append(text)
                    ids.append((await reply(tenant.admin, conv_id, text))["id"])
        assert len(ids) == 50
        # Every answer is slow, so that both instances hold sends in flight at the same time.
        nm.script(*[Reply(delay=0.3) for _ in range(50)])

        def instance(name: str) -> Settings:
            # Each instance calls the fake under its own prefix, so the fake can tell who sent. Four
            # calls at once (16 rows claimed ahead): the 50 messages are more than one instance
            # takes, as a campaign's backlog is.
            return settings.but(
                database_url=outbox_db,
                workers=True,
                provider_env={"NOTIFICAME_API_URL": f"{nm_url}/{name}/v1"},
                **{**FAST, "send_concurrency": 4},
            )

        async with contextlib.AsyncExitStack() as stack:
            apps = await asyncio.gather(
                stack.enter_async_context(running_app(instance("a"))),
                stack.enter_async_context(running_app(instance("b"))),
            )
            for mid in ids:
                await wait_status(apps[0], mid, "sent", within=30)

    texts = [r.json["contents"][0]["text"] for r in nm.requests]
    assert len(texts) == 50 and Counter(texts) == Counter(t for ts in expected.values() for t in ts)
    by_instance = Counter(r.path.split("/")[1] for r in nm.requests)
    assert set(by_instance) == {"a", "b"}, by_instance  # both took a share
    for customer, ordered in expected.items():
        assert [t for t in texts if t.startswith(customer + " ")] == ordered
