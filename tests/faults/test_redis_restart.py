"""Redis restarted under two `inbox serve` processes: no websocket client misses an event.

Process A takes the webhooks; an admin's socket on process B learns of them only through the bus
(Redis) or the events table, and a second socket on A watches the same stream. Webhooks flow before,
during and after a Redis stop/start. Every event committed (the events table is the truth) reaches
both sockets exactly once and in sequence order. Separately: the outage should not make the server
send `{"type": "resync"}` (the log has every event, so nothing needs a reload).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.faults.harness import Burst, WsRecorder, fetch, inbox_serve, login, provision, ready, wait_until
from tests.faults.servers import PgServer, RedisServer
from tests.support import notificame_message

PER_PHASE = 60


@dataclass
class Outcome:
    sockets: list[WsRecorder]
    truth: list[int]  # every seq of the tenant after the sockets' ready frames, from the events table
    webhooks: int
    retries: int


@pytest.fixture(scope="module")
async def outage(
    pg_server: PgServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outcome]:
    tmp = tmp_path_factory.mktemp("redis-restart")
    db = await pg_server.create_database()
    site = await provision(pg_server.url(db), pg_server.dsn(db), tmp, INBOX_BROADCAST_URL=redis_server.url)
    phases = [
        [
            notificame_message(
                site.channel, text=f"{phase} {i}", sender=f"5521900{i % 12:06d}", message_id=f"{phase}-{i}"
            )
            for i in range(PER_PHASE)
        ]
        for phase in ("before", "during", "after")
    ]
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(inbox_serve(site.env, tmp / "serve-a.log"))
        b = await stack.enter_async_context(inbox_serve(site.env, tmp / "serve-b.log"))
        try:
            for served in (a, b):
                await ready(served.url)
            token = await login(b.url, site.admin_email)
            on_b = WsRecorder(b.ws_url, token, "socket on B")
            on_a = WsRecorder(a.ws_url, token, "socket on A")
            for sock in (on_b, on_a):
                stack.push_async_callback(sock.stop)
                await sock.start()

            burst = Burst(a.url, site.channel.webhook_path, concurrency=4)
            burst.feed(phases[0])
            await wait_until(
                lambda: burst.stats.delivered >= PER_PHASE // 2, 30, "webhooks before the outage"
            )
            await redis_server.stop()

            async with httpx.AsyncClient(base_url=b.url, timeout=5) as http:

                async def b_sees_outage() -> bool:
                    return (await http.get("/readyz")).status_code == 503

                await wait_until(b_sees_outage, 20, "process B to notice the bus is down")
            burst.feed(phases[1])
            await wait_until(
                lambda: burst.stats.delivered >= PER_PHASE + PER_PHASE // 2, 30, "webhooks during the outage"
            )
            await redis_server.start()
            for served in (a, b):
                await ready(served.url)
            burst.feed(phases[2])
            stats = await burst.close(within=60)
            assert stats.unexpected == [], stats.unexpected[:5]

            rows = await fetch(site.dsn, "SELECT last_seq FROM tenants WHERE id = $1", site.tenant_id)
            last = int(rows[0]["last_seq"])
            for sock in (on_a, on_b):
                await wait_until(
                    functools.partial(sock.reached, last), 30, f"{sock.name} to reach seq {last}"
                )
            start = min(on_a.first_ready, on_b.first_ready)
            rows = await fetch(
                site.dsn,
                "SELECT seq FROM events WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
                site.tenant_id,
                start,
                last,
            )
            yield Outcome(
                sockets=[on_b, on_a],
                truth=[r["seq"] for r in rows],
                webhooks=stats.delivered,
                retries=stats.attempts - stats.delivered,
            )
        except BaseException:
            print(a.log_tail(), b.log_tail())
            raise
        finally:
            await redis_server.ensure_running()


async def test_redis_restart_no_client_misses_an_event(outage: Outcome) -> None:
    counts = []
    for sock in outage.sockets:
        ready_seq = sock.first_ready
        upto = outage.truth[-1]
        seqs = [int(e["seq"]) for e in sock.events if int(e["seq"]) <= upto]
        expected = [s for s in outage.truth if s > ready_seq]
        assert seqs == expected, (
            f"{sock.name}: missing {sorted(set(expected) - set(seqs))[:20]}, "
            f"extra {sorted(set(seqs) - set(expected))[:20]}, in order {seqs == sorted(set(seqs))}"
        )
        texts = [
            e["data"]["provider_message_id"]
            for e in sock.events
            if e["type"] == "message.created" and e["data"]["direction"] == "in"
        ]
        assert len(texts) == len(set(texts)) == 3 * PER_PHASE, sock.name
        counts.append(f"{sock.name}: {len(seqs)} events once in order ({sock.connects} connects)")
    print(
        f"\nfaults: redis restart: webhooks {outage.webhooks} (retries {outage.retries}), "
        f"events {len(outage.truth)}; " + "; ".join(counts)
    )


async def test_redis_restart_sends_no_resync(outage: Outcome) -> None:
    resyncs = {sock.name: len(sock.of_type("resync")) for sock in outage.sockets}
    print(f"\nfaults: redis restart: resync frames {resyncs}")
    assert sum(resyncs.values()) == 0, resyncs
