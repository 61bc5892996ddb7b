"""PostgreSQL restarted during a webhook burst loses nothing and stores nothing twice.

An `inbox serve` process takes a burst of Notifica.me deliveries while the test stops and restarts
its PostgreSQL: a third of the burst goes in before the stop, a third while it is stopping, a third
only once the database is down. The test's sender behaves like the provider: a 503 or a connection
error is retried (with a short backoff) until the answer is 200. At the end every message is stored
exactly once (the database's unique key absorbs the retries of deliveries that committed but whose
answer was lost), the API lists them all, and an admin's socket saw every committed event once, in
order, without being told to resync.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.faults.harness import (
    Burst,
    WsRecorder,
    conversation_ids,
    fetch,
    inbox_serve,
    login,
    provision,
    wait_until,
)
from tests.faults.servers import PgServer
from tests.support import notificame_message

TOTAL = 600
CONTACTS = 30


async def test_pg_restart_during_webhook_burst_stores_each_message_once(
    pg_server: PgServer, tmp_path: Path
) -> None:
    db = await pg_server.create_database()
    site = await provision(pg_server.url(db), pg_server.dsn(db), tmp_path)
    senders = [f"5511900{n:06d}" for n in range(CONTACTS)]
    bodies = [
        notificame_message(
            site.channel, text=f"burst {i}", sender=senders[i % CONTACTS], message_id=f"pg-{i}"
        )
        for i in range(TOTAL)
    ]
    third = TOTAL // 3
    async with inbox_serve(site.env, tmp_path / "serve.log") as served:
        token = await login(served.url, site.admin_email)
        watcher = WsRecorder(served.ws_url, token, "admin socket")
        await watcher.start()
        burst = Burst(served.url, site.channel.webhook_path, concurrency=16)
        try:
            burst.feed(bodies[:third])
            await wait_until(lambda: burst.stats.delivered >= third // 2, 30, "first deliveries")
            stopping = asyncio.create_task(pg_server.stop())
            burst.feed(bodies[third : 2 * third])
            await stopping  # PostgreSQL is down now
            failed_before = burst.stats.not_200 + burst.stats.conn_errors
            burst.feed(bodies[2 * third :])
            # Let the sender meet the outage before the database comes back.
            await wait_until(
                lambda: burst.stats.not_200 + burst.stats.conn_errors >= failed_before + 16,
                30,
                "deliveries refused while PostgreSQL is down",
            )
            delivered_before_start = burst.stats.delivered
            await pg_server.start()
            stats = await burst.close(within=40)
            # An agent watching live saw every committed event once, in order (reconnecting with
            # `since` if the server dropped the socket meanwhile).
            last = (await fetch(site.dsn, "SELECT last_seq FROM tenants WHERE id = $1", site.tenant_id))[0][0]
            await wait_until(lambda: watcher.reached(last), 30, f"the socket to reach seq {last}")
        except BaseException:
            print(served.log_tail())
            raise
        finally:
            await watcher.stop()
            await pg_server.ensure_running()
        truth = await fetch(
            site.dsn,
            "SELECT seq FROM events WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
            site.tenant_id,
            watcher.first_ready,
            last,
        )
        seen = [int(e["seq"]) for e in watcher.events if int(e["seq"]) <= last]
        assert seen == [r["seq"] for r in truth]
        assert watcher.of_type("resync") == []  # the log had everything: nothing to reload
        # The customers' messages (agents online since their login also get routing's system notes).
        created = [
            e["data"]["provider_message_id"]
            for e in watcher.events
            if e["type"] == "message.created" and e["data"]["direction"] == "in"
        ]
        assert sorted(created) == sorted(f"pg-{i}" for i in range(TOTAL))

        assert stats.unexpected == [], stats.unexpected[:5]
        assert stats.delivered == TOTAL
        rows = await fetch(
            site.dsn,
            "SELECT provider_message_id, count(*) AS n FROM messages"
            " WHERE tenant_id = $1 AND direction = 'in' GROUP BY 1",
            site.tenant_id,
        )
        stored = {r["provider_message_id"]: r["n"] for r in rows}
        assert set(stored) == {f"pg-{i}" for i in range(TOTAL)}
        assert all(n == 1 for n in stored.values()), {k: n for k, n in stored.items() if n != 1}

        # The same, through the API: every conversation lists its messages once, in order.
        async with httpx.AsyncClient(
            base_url=served.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            listed: list[str] = []
            conv_ids = await conversation_ids(http)
            for cid in conv_ids:
                r = await http.get(f"/api/conversations/{cid}/messages")
                assert r.status_code == 200, r.text
                listed.extend(m["provider_message_id"] for m in r.json()["items"] if m["direction"] == "in")
        assert len(conv_ids) == CONTACTS
        assert sorted(listed) == sorted(stored)

    print(
        f"\nfaults: pg restart: sent {TOTAL}, attempts {stats.attempts}, 503s {stats.unavailable}, "
        f"connection errors {stats.conn_errors}, "
        f"delivered before PostgreSQL came back {delivered_before_start}, "
        f"stored {len(stored)} once, conversations {len(conv_ids)}; socket: {len(seen)} events once in "
        f"order, {len(watcher.of_type('resync'))} resync, {watcher.connects} connects"
    )
