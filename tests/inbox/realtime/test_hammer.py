"""Never miss, never duplicate: many concurrent webhook writers (and reassignments) while clients
disconnect and reconnect with `since` at random moments. At the end each client holds exactly the
events the log says it may see, in order. On one app (both backends) and on two app instances
sharing one database and one Redis (a webhook into either, the sockets on one of them)."""

from __future__ import annotations

import asyncio
import random
import secrets

from sqlalchemy import select

from inbox import models as m
from inbox.actions import conversations
from inbox.actions.presence import set_status
from inbox.config import Settings
from tests.inbox.realtime.client import WsClient, expected_events, last_seq, redis_url_or_skip
from tests.support import App, Tenant, notificame_message, running_app

WRITERS = 8
WEBHOOKS_PER_WRITER = 25


async def hammer(post_to: list[App], tenant: Tenant, watch: App) -> None:
    ch = await tenant.channel()
    a = await tenant.agent()
    b = await tenant.agent()
    contacts = [f"55118{secrets.randbelow(10**8):08d}" for _ in range(6)]
    clients = [WsClient(watch, tenant.admin.token), WsClient(watch, a.token)]
    starts = []
    for c in clients:
        await c.connect()
        starts.append(await c.ready())
    writing = True

    async def writer(i: int) -> None:
        rng = random.Random(i)
        for j in range(WEBHOOKS_PER_WRITER):
            target = post_to[(i + j) % len(post_to)]
            payload = notificame_message(ch, sender=rng.choice(contacts), text=f"w{i}-{j}")
            r = await target.post_webhook(ch, payload)
            assert r.status_code == 200, r.text

    async def reassigner() -> None:
        # Conversations move between A, B and nobody, so the agent's view changes mid-stream.
        rng = random.Random(99)
        app = post_to[-1]
        while writing:
            async with app.runtime.engine.connect() as conn:
                ids = list(
                    (
                        await conn.execute(
                            select(m.conversations.c.id).where(m.conversations.c.tenant_id == tenant.id)
                        )
                    ).scalars()
                )
            if ids:
                async with app.runtime.uow() as uow:
                    row = await conversations.load(uow, tenant.id, rng.choice(ids), lock=True)
                    await conversations.change(uow, row, None, assignee_id=rng.choice([a.id, b.id, None]))
            await asyncio.sleep(rng.uniform(0.005, 0.03))

    async def flapper(c: WsClient, seed: int) -> None:
        rng = random.Random(seed)
        while writing:
            await asyncio.sleep(rng.uniform(0.0, 0.06))
            await c.close()
            await c.connect(since=c.last_seq)

    tasks = [asyncio.create_task(flapper(c, n)) for n, c in enumerate(clients)]
    tasks.append(asyncio.create_task(reassigner()))
    try:
        await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    finally:
        writing = False
        await asyncio.gather(*tasks)

    # A tenant-wide event last, so every client has something to wait for.
    async with post_to[0].runtime.uow() as uow:
        await set_status(uow, tenant.id, tenant.admin.id, "away")
    final = await last_seq(post_to[0], tenant.id)
    for c in clients:
        await c.wait_seq(final, within=30)
    for c, token, start in zip(clients, (tenant.admin.token, a.token), starts, strict=True):
        got = c.events
        seqs = [f["seq"] for f in got]
        assert seqs == sorted(set(seqs)), "out of order or duplicated"
        assert got == await expected_events(post_to[0], tenant.id, token, start)
        await c.close()
    admin_events = clients[0].events
    assert len([f for f in admin_events if f["type"] == "message.created"]) == WRITERS * WEBHOOKS_PER_WRITER


async def test_hammer_one_app(app: App) -> None:
    await hammer([app], await app.tenant(), app)


async def test_hammer_two_instances_sharing_redis(settings: Settings) -> None:
    redis = redis_url_or_skip()
    shared = settings.but(broadcast_url=redis, broadcast_channel=f"inbox-test-{secrets.token_hex(6)}")
    async with running_app(shared) as one, running_app(shared) as two:
        tenant = await one.tenant()
        await hammer([one, two], tenant, two)


async def test_a_webhook_into_one_instance_reaches_a_socket_on_the_other(settings: Settings) -> None:
    redis = redis_url_or_skip()
    shared = settings.but(broadcast_url=redis, broadcast_channel=f"inbox-test-{secrets.token_hex(6)}")
    async with running_app(shared) as one, running_app(shared) as two:
        assert one.runtime.hub.healthy() and two.runtime.hub.healthy()
        tenant = await one.tenant()
        ch = await tenant.channel()
        client = WsClient(two, tenant.admin.token)
        await client.connect()
        start = await client.ready()
        r = await one.post_webhook(ch, notificame_message(ch, text="via redis"))
        assert r.status_code == 200
        await client.wait_seq(await last_seq(one, tenant.id))
        assert [f["type"] for f in client.events] == ["conversation.created", "message.created"]
        assert client.events == await expected_events(one, tenant.id, tenant.admin.token, start)
        await client.close()
