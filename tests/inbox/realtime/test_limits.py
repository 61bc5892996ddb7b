"""The realtime socket's limits with real clients: a consumer too slow for its backlog bound gets
`resync` and is closed; a `since` older than retention gets `resync`; idle sockets are closed;
an agent whose last socket closed goes offline after the grace period."""

from __future__ import annotations

import asyncio
import socket

import pytest
from sqlalchemy import select

from inbox import models as m
from inbox.actions.presence import set_status
from inbox.config import Settings
from inbox.events import Event, EventRecord
from inbox.realtime import hub as hub_module
from inbox.realtime.sockets import CLOSE_IDLE, CLOSE_SLOW
from inbox.workers import retention
from tests.inbox.realtime.client import WsClient, expected_events, last_seq, wait_until
from tests.support import App, notificame_message, running_app


async def _blob_event(app: App, tenant_id: int, size: int) -> None:
    async with app.runtime.uow() as uow:
        uow.emit(tenant_id, Event("agent.updated", {"blob": "x" * size}))


async def test_a_consumer_that_does_not_read_is_cut_off_with_resync(settings: Settings) -> None:
    async with running_app(settings.but(ws_send_queue=4)) as app:
        tenant = await app.tenant()
        # A client that stops reading: tiny receive buffer, and it never awaits a frame.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", int(app.base_url.rsplit(":", 1)[1])))
        client = WsClient(app, tenant.admin.token)
        await client.connect(sock=raw, max_queue=1)
        await client.ready()
        client._reader.cancel()  # type: ignore[union-attr]  (stop reading: frames pile up server-side)
        start = client.last_seq
        assert start is not None

        def the_socket_was_cut() -> bool:
            feed = app.runtime.hub.feeds.get(tenant.id)
            return feed is None or all(s.closed for s in feed.sockets)

        sent = 0
        while not the_socket_was_cut():
            await _blob_event(app, tenant.id, 256 * 1024)
            sent += 1
            assert sent < 400, "the server kept buffering for a client that does not read"

        # The client reads again: some events in order, then resync, then the close.
        client.frames.clear()
        assert client.conn is not None
        client._reader = asyncio.create_task(client._read(client.conn))
        assert await client.wait_closed(within=30) == CLOSE_SLOW
        assert client.frames[-1] == {"type": "resync"}
        got = [f["seq"] for f in client.frames[:-1]]
        assert got == list(range(start + 1, start + 1 + len(got)))
        assert len(got) < sent
        await wait_until(lambda: app.runtime.hub.socket_count() == 0, what="socket detached")


async def test_since_older_than_retention_gets_resync_then_live(settings: Settings) -> None:
    async with running_app(settings.but(event_retention=3)) as app:
        tenant = await app.tenant()
        ch = await tenant.channel()
        for i in range(4):
            await app.post_webhook(ch, notificame_message(ch, sender=f"551197777{i:04d}"))
        assert await retention.prune(app.runtime) > 0
        last = await last_seq(app, tenant.id)
        async with app.runtime.engine.connect() as conn:
            kept = sorted(
                (
                    await conn.execute(select(m.events.c.seq).where(m.events.c.tenant_id == tenant.id))
                ).scalars()
            )
        assert kept == [last - 2, last - 1, last]

        old = WsClient(app, tenant.admin.token)
        await old.connect(since=1)
        assert await old.ready() == last
        await wait_until(lambda: old.of_type("resync"), what="resync")
        assert old.events == []
        await app.post_webhook(ch, notificame_message(ch, sender="5511977770000", text="after"))
        await old.wait_seq(await last_seq(app, tenant.id))
        assert old.events == await expected_events(app, tenant.id, tenant.admin.token, last)

        recent = WsClient(app, tenant.admin.token)  # within retention: replayed, no resync
        await recent.connect(since=last - 3)
        await recent.sync()
        assert recent.of_type("resync") == []
        assert recent.events == await expected_events(app, tenant.id, tenant.admin.token, last - 3)
        for c in (old, recent):
            await c.close()


async def test_an_idle_socket_is_closed_and_a_pinging_one_is_not(settings: Settings) -> None:
    async with running_app(settings.but(ws_idle_timeout=1.5)) as app:
        tenant = await app.tenant()
        idle, chatty = WsClient(app, tenant.admin.token), WsClient(app, tenant.admin.token)
        for c in (idle, chatty):
            await c.connect()
            await c.ready()
        pongs = 0
        while not idle.closed:
            await chatty.send({"type": "ping"})
            pongs += 1
            await wait_until(lambda n=pongs: len(chatty.of_type("pong")) >= n, what="pong")  # type: ignore[misc]
            await asyncio.sleep(0.1)
            assert pongs < 200
        assert idle.close_code == CLOSE_IDLE
        assert not chatty.closed
        await chatty.close()


async def _status(app: App, agent_id: int) -> str:
    async with app.runtime.engine.connect() as conn:
        return str(
            (await conn.execute(select(m.agents.c.status).where(m.agents.c.id == agent_id))).scalar_one()
        )


async def test_an_agent_goes_offline_after_its_last_socket_closed_for_the_grace_period(
    settings: Settings,
) -> None:
    async with running_app(settings.but(presence_grace_seconds=2.0)) as app:
        tenant = await app.tenant()
        agent = await tenant.agent()
        presence = app.runtime.hub.presence
        async with app.runtime.uow() as uow:
            await set_status(uow, tenant.id, agent.id, "online")
        watcher = WsClient(app, tenant.admin.token)
        await watcher.connect()
        start = await watcher.ready()

        one, two = WsClient(app, agent.token), WsClient(app, agent.token)
        for c in (one, two):
            await c.connect()
            await c.ready()
        assert presence.counts[agent.id] == 2
        await one.close()
        await wait_until(lambda: presence.counts.get(agent.id) == 1, what="one socket left")
        assert agent.id not in presence.leaving  # a socket is still open: no countdown at all

        # Closing the last one starts the grace period; coming back within it cancels it.
        await two.close()
        await wait_until(lambda: agent.id in presence.leaving, what="grace countdown")
        await two.connect()
        await two.ready()
        assert agent.id not in presence.leaving
        assert await _status(app, agent.id) == "online"

        await two.close()
        await wait_until(lambda: _status_is(app, agent.id, "offline"), what="offline after grace")
        await watcher.wait_seq(await last_seq(app, tenant.id))
        updates = [f["data"] for f in watcher.of_type("agent.updated") if f["data"]["id"] == agent.id]
        assert updates[-1]["status"] == "offline"
        assert watcher.events == await expected_events(app, tenant.id, tenant.admin.token, start)
        async with app.runtime.engine.connect() as conn:
            rows = (
                await conn.execute(select(m.agent_sockets).where(m.agent_sockets.c.agent_id == agent.id))
            ).all()
        assert rows == []
        await watcher.close()


async def _status_is(app: App, agent_id: int, status: str) -> bool:
    return await _status(app, agent_id) == status


async def test_presence_rows_of_a_dead_process_are_swept(settings: Settings) -> None:
    async with running_app(settings.but(presence_heartbeat_seconds=0.1)) as app:
        tenant = await app.tenant()
        agent = await tenant.agent()
        async with app.runtime.uow() as uow:
            await set_status(uow, tenant.id, agent.id, "online")
            # A process that died holding this agent's socket: its row stops being refreshed.
            await uow.conn.execute(
                m.agent_sockets.insert().values(
                    agent_id=agent.id, process_id="dead" * 8, tenant_id=tenant.id, seen_at=m.utcnow()
                )
            )
        await wait_until(lambda: _status_is(app, agent.id, "offline"), what="swept to offline")


async def test_the_heartbeat_restores_a_live_sockets_presence_row(settings: Settings) -> None:
    async with running_app(settings.but(presence_heartbeat_seconds=0.1)) as app:
        tenant = await app.tenant()
        agent = await tenant.agent()
        client = WsClient(app, agent.token)
        await client.connect()
        await client.ready()
        where = m.agent_sockets.c.agent_id == agent.id

        async def rows() -> int:
            async with app.runtime.engine.connect() as conn:
                return len((await conn.execute(select(m.agent_sockets).where(where))).all())

        assert await rows() == 1
        async with app.runtime.engine.begin() as conn:  # as if swept while this process stalled
            await conn.execute(m.agent_sockets.delete().where(where))

        async def restored() -> bool:
            return await rows() == 1

        await wait_until(restored, what="row restored")
        await client.close()


async def test_an_event_never_published_is_found_in_the_log(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that died between commit and publish, or a CLI command: the tail poll delivers."""
    monkeypatch.setattr(hub_module, "TAIL_POLL_SECONDS", 0.1)
    async with running_app(settings) as app:
        tenant = await app.tenant()
        client = WsClient(app, tenant.admin.token)
        await client.connect()
        start = await client.ready()
        hub = app.runtime.hub

        async def lost(records: list[EventRecord]) -> None:
            pass

        hub.publish = lost  # type: ignore[method-assign]
        try:
            async with app.runtime.uow() as uow:
                await set_status(uow, tenant.id, tenant.admin.id, "away")
        finally:
            del hub.publish
        await client.wait_seq(start + 1)
        assert client.events == await expected_events(app, tenant.id, tenant.admin.token, start)
        await client.close()
