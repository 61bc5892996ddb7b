"""Helpers for the routing, conversation-action, queue and report tests: conversations from real
webhooks, direct UPDATEs to script known timestamps, queues and members, a fresh database."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from inbox import models as m
from inbox.actions import admin
from inbox.config import Settings
from tests.support import Agent, App, Channel, Tenant, notificame_message

cv, msg, ev = m.conversations.c, m.messages.c, m.events.c


async def conversation(app: App, ch: Channel, *, text: str = "Oi", sender: str | None = None) -> int:
    """A customer writes on `ch` (a real webhook); returns the conversation's id."""
    sender = sender or f"55119{secrets.randbelow(10**8):08d}"
    r = await app.post_webhook(ch, notificame_message(ch, text=text, sender=sender))
    assert r.status_code == 200, r.text
    idt = m.contact_identities.c
    q = (
        select(cv.id)
        .join(m.contact_identities, idt.contact_id == cv.contact_id)
        .where(cv.channel_id == ch.id, idt.external_id == sender)
        .order_by(cv.id.desc())
    )
    async with app.runtime.engine.connect() as conn:
        return int((await conn.execute(q.limit(1))).scalar_one())


async def set_conversation(app: App, conversation_id: int, **values: Any) -> None:
    async with app.runtime.engine.begin() as conn:
        await conn.execute(update(m.conversations).where(cv.id == conversation_id).values(**values))


async def set_agent(app: App, agent_id: int, **values: Any) -> None:
    async with app.runtime.engine.begin() as conn:
        await conn.execute(update(m.agents).where(m.agents.c.id == agent_id).values(**values))


async def set_settings(app: App, tenant: Tenant, **routing: Any) -> None:
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            update(m.tenants).where(m.tenants.c.id == tenant.id).values(settings={"routing": routing})
        )


async def conv(app: App, conversation_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(select(m.conversations).where(cv.id == conversation_id))).one()


async def status(agent: Agent, value: str) -> None:
    r = await agent.http.put("/api/agents/me/status", json={"status": value})
    assert r.status_code == 200, r.text


async def queue(app: App, tenant: Tenant, name: str, *members: Agent) -> int:
    async with app.runtime.uow() as uow:
        q = await admin.create_queue(uow, tenant.id, f"{name} {secrets.token_hex(2)}")
        for a in members:
            await admin.add_queue_member(uow, tenant.id, q["id"], a.id)
    return int(q["id"])


async def add_message(
    app: App,
    conversation_id: int,
    *,
    direction: str,
    sender_type: str,
    sender_id: int | None = None,
    status: str = "sent",
    at: datetime | None = None,
) -> None:
    c = await conv(app, conversation_id)
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            insert(m.messages).values(
                tenant_id=c.tenant_id,
                conversation_id=c.id,
                channel_id=c.channel_id,
                direction=direction,
                sender_type=sender_type,
                sender_id=sender_id,
                kind="text",
                text="scripted",
                attachments=[],
                status=status,
                deleted=False,
                created_at=at or m.utcnow(),
            )
        )


async def messages_of(app: App, conversation_id: int) -> list[Any]:
    async with app.runtime.engine.connect() as conn:
        q = select(m.messages).where(msg.conversation_id == conversation_id).order_by(msg.id)
        return list((await conn.execute(q)).all())


async def events(app: App, tenant: Tenant, type_: str | None = None, after: int = 0) -> list[Any]:
    """The tenant's event log (type, visibility fields and the decoded frame)."""
    q = select(m.events).where(ev.tenant_id == tenant.id, ev.seq > after).order_by(ev.seq)
    if type_:
        q = q.where(ev.type == type_)
    async with app.runtime.engine.connect() as conn:
        rows = (await conn.execute(q)).all()
    return [dict(r._mapping, data=json.loads(r.frame)["data"]) for r in rows]


async def last_seq(app: App, tenant: Tenant) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(m.tenants.c.last_seq).where(m.tenants.c.id == tenant.id)
        return int((await conn.execute(q.limit(1))).scalar_one())


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll `check` until it holds (bounded wait, no timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def ago(seconds: float, now: datetime | None = None) -> datetime:
    return (now or m.utcnow()) - timedelta(seconds=seconds)


def worker_settings(settings: Settings, url: str) -> Settings:
    return settings.but(database_url=url, workers=True)
