"""The Redis bus against real Redis servers: the confirmed subscribe (broadcaster's backend can
lose everything after subscribing, see inbox/realtime/bus.py) and recovery from a Redis restart:
sockets get `resync`, /readyz says unavailable, the processes reconnect by themselves and nothing
committed during the outage is lost. Skipped without INBOX_TEST_REDIS_URL unless
INBOX_TEST_REQUIRE_REDIS=1."""

from __future__ import annotations

import asyncio
import secrets

from broadcaster import Broadcast

from inbox.config import Settings
from inbox.realtime.bus import LinkedRedisBackend
from tests.inbox.realtime.client import (
    WsClient,
    expected_events,
    last_seq,
    private_redis,
    redis_url_or_skip,
    wait_until,
)
from tests.support import notificame_message, running_app


async def test_messages_published_right_after_subscribe_are_delivered() -> None:
    url = redis_url_or_skip()
    links: list[bool] = []
    channel = f"inbox-test-{secrets.token_hex(6)}"
    broadcast = Broadcast(backend=LinkedRedisBackend(url, links.append))
    await broadcast.connect()
    try:
        async with broadcast.subscribe(channel) as sub:
            assert links == [True]  # confirmed by Redis before subscribe() returned
            for i in range(100):
                await broadcast.publish(channel, f"m{i}")
            got = [(await asyncio.wait_for(sub.get(), 10)).message for _ in range(100)]
            assert got == [f"m{i}" for i in range(100)]
    finally:
        await broadcast.disconnect()


async def test_the_link_reports_a_redis_restart_and_heals_itself() -> None:
    async with private_redis() as redis:
        links: list[bool] = []
        channel = "restart"
        backend = LinkedRedisBackend(redis.url, links.append)
        broadcast = Broadcast(backend=backend)
        await broadcast.connect()
        try:
            async with broadcast.subscribe(channel) as sub:
                redis.stop()
                await wait_until(lambda: links == [True, False], what="link down")
                redis.start()
                await wait_until(lambda: links == [True, False, True], within=20, what="link up again")
                await broadcast.publish(channel, "after")
                assert (await asyncio.wait_for(sub.get(), 10)).message == "after"
        finally:
            await broadcast.disconnect()


async def test_redis_restart_gives_resync_then_recovery_without_loss(settings: Settings) -> None:
    async with private_redis() as redis:
        shared = settings.but(broadcast_url=redis.url, broadcast_channel="inbox-events")
        async with running_app(shared) as one, running_app(shared) as two:
            tenant = await one.tenant()
            ch = await tenant.channel()
            client = WsClient(two, tenant.admin.token)
            await client.connect()
            start = await client.ready()
            await one.post_webhook(ch, notificame_message(ch, text="before"))
            await client.wait_seq(await last_seq(one, tenant.id))
            assert (await two.http.get("/readyz")).status_code == 200

            redis.stop()
            await wait_until(lambda: client.of_type("resync"), what="resync on link loss")
            await wait_until(lambda: not two.runtime.hub.healthy(), what="unhealthy")
            assert (await two.http.get("/readyz")).status_code == 503
            for i in range(3):  # committed while the bus is down
                r = await one.post_webhook(ch, notificame_message(ch, text=f"during {i}"))
                assert r.status_code == 200

            redis.start()
            await wait_until(lambda: two.runtime.hub.healthy() and one.runtime.hub.healthy(), within=20)
            assert (await two.http.get("/readyz")).status_code == 200
            await client.wait_seq(await last_seq(one, tenant.id))  # caught up from the log
            await one.post_webhook(ch, notificame_message(ch, text="after"))
            await client.wait_seq(await last_seq(one, tenant.id))

            assert not client.closed
            assert client.events == await expected_events(one, tenant.id, tenant.admin.token, start)
            texts = [f["data"]["text"] for f in client.of_type("message.created")]
            assert texts == ["before", "during 0", "during 1", "during 2", "after"]
            await client.close()
