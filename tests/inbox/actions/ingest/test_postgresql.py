"""PostgreSQL's one-statement ingest (inbox/actions/ingest/postgresql.py): the frames it composes in
SQL are the ones Python composes for the same rows (compared field by field), and its sequences and
events follow the log's rules."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from channels.base import Attachment, ChannelConfig, ContactRef, MessageReceived
from inbox import models as m
from inbox.actions.events import conversation_data
from inbox.actions.ingest import postgresql as ingest_pg
from inbox.serialize import message_json
from tests.support import App

WRITTEN = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)  # as the provider stamps the messages below


@pytest.fixture
def pg(app: App) -> App:
    if app.runtime.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement ingest is PostgreSQL's")
    return app


def message(
    xid: str, pid: str, *, name: str | None = "Zé Ção", text: str | None = 'olá "mundo" \u2603'
) -> Any:
    return MessageReceived(
        contact=ContactRef("whatsapp", xid, name),
        provider_message_id=pid,
        kind="image" if text is None else "text",
        text=text,
        attachments=()
        if text
        else (Attachment("image", "https://cdn.example/a.jpg", "image/jpeg", "a.jpg"),),
        reply_to="wamid.earlier" if text is None else None,
        timestamp=WRITTEN,
    )


async def run(app: App, pairs: list[tuple[ChannelConfig, MessageReceived]], now: datetime) -> Any:
    async with app.runtime.autocommit.connect() as conn:
        return await ingest_pg.ingest(conn, pairs, now)


async def rows(app: App, table: Any, *where: Any) -> list[Any]:
    async with app.runtime.engine.connect() as conn:
        return [r._mapping for r in await conn.execute(select(table).where(*where).order_by(table.c.id))]


async def contact_name(app: App, contact_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        q = select(m.contacts.c.name).where(m.contacts.c.id == contact_id)
        return (await conn.execute(q)).scalar_one()


def frame(record: Any) -> dict[str, Any]:
    parsed = json.loads(record.frame)
    assert list(parsed) == ["seq", "type", "data"] and parsed["seq"] == record.seq
    assert parsed["type"] == record.type
    return dict(parsed["data"])


def same(sql: dict[str, Any], python: Mapping[str, Any]) -> None:
    """The SQL spelling and `inbox.serialize`'s, field by field: a field one of them lacks, or spells
    differently, is named."""
    only_sql, only_python = set(sql) - set(python), set(python) - set(sql)
    assert not only_sql and not only_python, f"only in SQL: {only_sql}; only in Python: {only_python}"
    for field in python:
        assert sql[field] == python[field], f"{field}: SQL {sql[field]!r}, Python {python[field]!r}"


@pytest.mark.parametrize("microsecond", [0, 123456])
async def test_sql_frames_equal_python_serialization_of_the_stored_rows(pg: App, microsecond: int) -> None:
    tenant = await pg.tenant()
    queue_id = None
    for provider in ("notificame", "meta"):
        made = await tenant.channel(provider=provider)
        channel = await pg.runtime.directory.by_id(made.id)
        assert channel is not None
        now = datetime(2026, 12, 1, 8, 0, 0, microsecond, tzinfo=UTC)
        pairs = [
            (channel, message(f"55{provider}", f"{provider}-1")),
            (channel, message(f"55{provider}", f"{provider}-2", name=None, text=None)),
        ]
        out = await run(pg, pairs, now)
        assert [r.type for r in out.records] == ["conversation.created", "message.created", "message.created"]
        assert out.leftover == [] and out.queued and not out.bot
        (conv,) = await rows(pg, m.conversations, m.conversations.c.channel_id == channel.id)
        name = await contact_name(pg, conv["contact_id"])
        assert name == "Zé Ção"
        # conversation.created shows it as opened: the message.created after it counts its message.
        opened = {**conv, "unread_count": 0, "last_inbound_at": None}
        same(frame(out.records[0]), conversation_data(opened, channel, name))
        # The customer wrote when the provider stamped it (before `now`: the window counts from then).
        assert conv["unread_count"] == 2 and conv["last_inbound_at"] == WRITTEN
        stored = await rows(pg, m.messages, m.messages.c.conversation_id == conv["id"])
        assert len(out.records[1:]) == len(stored)
        for record, row in zip(out.records[1:], stored, strict=True):
            same(frame(record), message_json(row))
        assert stored[1]["attachments"][0]["url"] == "https://cdn.example/a.jpg"
        for r in out.records:
            assert (r.tenant_id, r.conversation_id, r.assignee_id, r.queue_id) == (
                tenant.id,
                conv["id"],
                None,
                queue_id,
            )

        # Snoozed, assigned: a customer message wakes it, announced before the message.
        agent = await tenant.agent()
        async with pg.runtime.engine.begin() as conn:
            await conn.execute(
                m.conversations.update()
                .where(m.conversations.c.id == conv["id"])
                .values(status="snoozed", snoozed_until=now + timedelta(days=1), assignee_id=agent.id)
            )
        later = now + timedelta(minutes=5)
        woke = await run(pg, [(channel, message(f"55{provider}", f"{provider}-3", name="Outro Nome"))], later)
        assert [r.type for r in woke.records] == ["conversation.updated", "message.created"]
        assert not woke.queued  # it went back to its agent, not to the queue
        (conv,) = await rows(pg, m.conversations, m.conversations.c.channel_id == channel.id)
        assert (conv["status"], conv["snoozed_until"], conv["unread_count"]) == ("assigned", None, 3)
        same(frame(woke.records[0]), conversation_data(conv, channel, "Zé Ção"))  # a name is kept
        assert (provider == "meta") == (frame(woke.records[0])["window_closes_at"] is not None)
        (third,) = await rows(
            pg,
            m.messages,
            m.messages.c.channel_id == channel.id,
            m.messages.c.provider_message_id == f"{provider}-3",
        )
        same(frame(woke.records[1]), message_json(third))
        assert {r.assignee_id for r in woke.records} == {agent.id}


async def test_a_contact_without_a_name_takes_the_next_one_given(pg: App) -> None:
    tenant = await pg.tenant()
    channel = await pg.runtime.directory.by_id((await tenant.channel()).id)
    assert channel is not None
    await run(pg, [(channel, message("5511000000001", "n-1", name=None))], m.utcnow())
    out = await run(pg, [(channel, message("5511000000001", "n-2", name="Bia"))], m.utcnow())
    (conv,) = await rows(pg, m.conversations, m.conversations.c.channel_id == channel.id)
    assert await contact_name(pg, conv["contact_id"]) == "Bia"
    assert [r.type for r in out.records] == ["message.created"]


async def test_sequences_per_tenant_in_one_statement(pg: App) -> None:
    """Deliveries of two tenants in one statement: each tenant's events continue its own sequence,
    without gaps, a repeated delivery adds nothing, and the log holds exactly what was returned."""
    first, second = await pg.tenant(), await pg.tenant()
    a = await pg.runtime.directory.by_id((await first.channel()).id)
    b = await pg.runtime.directory.by_id((await second.channel()).id)
    assert a is not None and b is not None
    await run(pg, [(a, message("5511000000002", "s-0"))], m.utcnow())
    async with pg.runtime.engine.connect() as conn:
        q = select(m.tenants.c.id, m.tenants.c.last_seq).where(m.tenants.c.id.in_([first.id, second.id]))
        before = {r.id: r.last_seq for r in await conn.execute(q)}
    pairs = [
        (a, message("5511000000002", "s-1")),
        (b, message("5511000000003", "s-2")),
        (a, message("5511000000004", "s-3")),
    ]
    out = await run(pg, pairs, m.utcnow())
    seqs = {t: [r.seq for r in out.records if r.tenant_id == t] for t in (first.id, second.id)}
    # a: message (known conversation), then a new customer's conversation and message; b: a new one.
    assert seqs[first.id] == [before[first.id] + i for i in (1, 2, 3)]
    assert seqs[second.id] == [before[second.id] + i for i in (1, 2)]
    async with pg.runtime.engine.connect() as conn:
        q = (
            select(m.events.c.tenant_id, m.events.c.seq, m.events.c.frame)
            .where(m.events.c.tenant_id == m.tenants.c.id, m.tenants.c.id.in_(list(before)))
            .order_by(m.events.c.tenant_id, m.events.c.seq)
        )
        logged = [tuple(r) for r in await conn.execute(q) if r.seq > before[r.tenant_id]]
    assert [(r.tenant_id, r.seq, r.frame) for r in out.records] == logged
    again = await run(pg, pairs, m.utcnow())
    assert (again.records, again.leftover, again.queued) == ([], [], False)


async def test_errors_of_the_raw_statement_are_classified_as_sqlalchemys(pg: App) -> None:
    """The batch runs on the asyncpg connection itself, so its errors come as asyncpg's: a unique
    violation is the statement's fault (no 503; the batcher runs the deliveries one by one), storing
    nothing; a deadlock is run again; an administrator's shutdown or too many connections is storage
    being unavailable (503: the provider retries)."""
    import asyncpg
    from sqlalchemy import insert

    from inbox.batching import _is_conflict
    from inbox.db import is_connection_error, sqlstate

    tenant = await pg.tenant()
    made = await tenant.channel()
    channel = await pg.runtime.directory.by_id(made.id)
    assert channel is not None
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    async with pg.runtime.engine.begin() as conn:
        # The sequence number the batch's first event takes, already in the log.
        seq = select(m.tenants.c.last_seq).where(m.tenants.c.id == tenant.id)
        last = (await conn.execute(seq)).scalar_one()
        row = {"tenant_id": tenant.id, "seq": last + 1, "type": "x", "frame": "{}", "created_at": now}
        await conn.execute(insert(m.events).values(**row))
    with pytest.raises(asyncpg.UniqueViolationError) as raised:
        await run(pg, [(channel, message("55unique", "unique-1"))], now)
    assert sqlstate(raised.value) == "23505"
    assert not is_connection_error(raised.value) and not _is_conflict(raised.value)
    assert await rows(pg, m.messages, m.messages.c.channel_id == channel.id) == []

    assert _is_conflict(asyncpg.DeadlockDetectedError("deadlock detected"))
    for down in (asyncpg.AdminShutdownError("terminating"), asyncpg.TooManyConnectionsError("too many")):
        assert is_connection_error(down) and not _is_conflict(down)
    assert not is_connection_error(asyncpg.DataError("invalid input"))
