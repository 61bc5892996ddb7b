"""The Redis bus against real Redis servers: the confirmed subscribe (broadcaster's backend can
lose everything after subscribing, see inbox/realtime/bus.py) and recovery from a Redis restart:
/readyz says unavailable, sockets stay open and are fed from the events table meanwhile (no
`resync` unless retention pruned what they miss), the processes reconnect by themselves and nothing
committed during the outage is lost. Skipped without INBOX_TEST_REDIS_URL unless
INBOX_TEST_REQUIRE_REDIS=1."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from broadcaster import Broadcast

from inbox.config import Settings
from inbox.realtime.bus import LinkedRedisBackend
from inbox.workers import retention
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


async def test_a_redis_restart_keeps_sockets_open_and_fed_from_the_log(settings: Settings) -> None:
    """Issue 19 item 8: a bus outage is not a reload storm. Webhooks stream into one process before,
    during and after a Redis restart; an agent on the other process gets every event exactly once,
    in order, while the link is down too (from the events table), and never a `resync`."""
    async with private_redis() as redis:
        shared = settings.but(broadcast_url=redis.url, broadcast_channel="inbox-events")
        async with running_app(shared) as one, running_app(shared) as two:
            tenant = await one.tenant()
            ch = await tenant.channel()
            client = WsClient(two, tenant.admin.token)
            await client.connect()
            start = await client.ready()
            posted: list[str] = []
            streaming = True

            async def stream() -> None:
                while streaming:
                    text = f"m{len(posted)}"
                    r = await one.post_webhook(ch, notificame_message(ch, text=text))
                    assert r.status_code == 200, r.text
                    posted.append(text)
                    await asyncio.sleep(0.02)  # a steady trickle, not a flood: two shared cores

            def received() -> int:
                return len(client.of_type("message.created"))

            feeder = asyncio.create_task(stream())
            try:
                await wait_until(lambda: received() >= 5, what="events before the outage")
                assert (await two.http.get("/readyz")).status_code == 200

                redis.stop()
                await wait_until(
                    lambda: not one.runtime.hub.healthy() and not two.runtime.hub.healthy(), what="links down"
                )
                assert (await two.http.get("/readyz")).status_code == 503
                down_at = received()
                # Redis is stopped: whatever arrives now came out of the events table.
                await wait_until(lambda: received() >= down_at + 5, what="events while the bus is down")
                assert not two.runtime.hub.healthy()

                redis.start()
                await wait_until(lambda: two.runtime.hub.healthy() and one.runtime.hub.healthy(), within=20)
                assert (await two.http.get("/readyz")).status_code == 200
                up_at = len(posted)
                await wait_until(lambda: len(posted) >= up_at + 5, what="webhooks after the outage")
            finally:
                streaming = False
                await feeder
            await client.wait_seq(await last_seq(one, tenant.id))
            await client.sync()

            assert client.of_type("resync") == []
            assert not client.closed
            assert client.events == await expected_events(one, tenant.id, tenant.admin.token, start)
            assert [f["data"]["text"] for f in client.of_type("message.created")] == posted
            await client.close()


async def test_a_gap_pruned_during_an_outage_still_gets_resync(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one case where the log cannot cover an outage: retention pruned events the socket's
    process had not read yet. Then `resync` (the client reloads), and live events follow."""
    async with private_redis() as redis:
        shared = settings.but(broadcast_url=redis.url, broadcast_channel="inbox-events", event_retention=2)
        async with running_app(shared) as one, running_app(shared) as two:
            tenant = await one.tenant()
            ch = await tenant.channel()
            client = WsClient(two, tenant.admin.token)
            await client.connect()
            start = await client.ready()

            # Hold back process two's reads of the log until the pruning is done: a fill racing
            # ahead of it would (rightly) deliver everything, and the test would prove nothing.
            hub = two.runtime.hub
            fill = hub._fill
            held = True
            monkeypatch.setattr(hub, "_fill", lambda feed: None if held else fill(feed))

            redis.stop()
            await wait_until(lambda: not one.runtime.hub.healthy() and not hub.healthy(), what="links down")
            for i in range(4):
                r = await one.post_webhook(ch, notificame_message(ch, text=f"pruned {i}"))
                assert r.status_code == 200
            assert await retention.prune(one.runtime) > 0
            last = await last_seq(one, tenant.id)
            held = False

            await wait_until(lambda: client.of_type("resync"), what="resync for the pruned gap")
            await client.wait_seq(last)
            redis.start()
            await wait_until(lambda: hub.healthy() and one.runtime.hub.healthy(), within=20)
            await one.post_webhook(ch, notificame_message(ch, text="after"))
            await client.wait_seq(await last_seq(one, tenant.id))
            await client.sync()

            assert len(client.of_type("resync")) == 1
            assert not client.closed
            kept = await expected_events(one, tenant.id, tenant.admin.token, start)
            assert kept[0]["seq"] > start + 1  # the log really lost the start of the outage
            assert client.events == kept
            assert client.frames.index({"type": "resync"}) < client.frames.index(kept[0])  # reload first
            await client.close()
