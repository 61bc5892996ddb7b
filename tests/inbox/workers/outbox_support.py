"""Shared by the outbox and replies tests: a `world` (an app with workers on, pointed at fake
Notifica.me and Graph servers on 127.0.0.1) and helpers that post, read and wait for messages.

Workers claim every due row of their database, so outbox tests run on a database of their own (the
`outbox_db` fixture in tests/inbox/workers/conftest.py) and empty its outbox after each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from inbox import models as m
from inbox.config import Settings
from inbox.db import create_engine
from tests.fakes.graph import FakeGraph, graph_app
from tests.fakes.notificame import FakeNotificame, notificame_app
from tests.fakes.serve import serve
from tests.support import (
    Agent,
    App,
    Channel,
    notificame_message,
    running_app,
    whatsapp_cloud_message,
)

# Retries within tens of milliseconds keep the tests fast; the rules are the same.
FAST = {
    "send_backoff_base_seconds": 0.05,
    "send_backoff_max_seconds": 0.2,
    "send_lease_seconds": 5.0,
    "send_timeout_seconds": 5.0,
    "send_max_attempts": 8,
}


@dataclass
class World:
    app: App
    nm: FakeNotificame
    graph: FakeGraph
    settings: Settings
    nm_url: str
    graph_url: str


@contextlib.asynccontextmanager
async def world(
    settings: Settings, db_url: str, *, workers: bool = True, clear: bool = True, **changes: Any
) -> AsyncIterator[World]:
    """Fake providers and an app (workers on) pointed at them, on the module's database; on the way out
    the outbox is emptied, unless `clear` is False (a test that goes on in another world)."""
    nm_asgi, nm = notificame_app()
    graph_asgi, graph = graph_app()
    async with serve(nm_asgi) as nm_url, serve(graph_asgi) as graph_url:
        s = settings.but(
            database_url=db_url,
            workers=workers,
            provider_env={"NOTIFICAME_API_URL": nm_url + "/v1", "META_GRAPH_URL": graph_url + "/v21.0"},
            **{**FAST, **changes},
        )
        try:
            async with running_app(s) as app:
                yield World(app, nm, graph, s, nm_url, graph_url)
        finally:
            if clear:
                await clear_outbox(db_url)


async def clear_outbox(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(m.outbox))
    finally:
        await engine.dispose()


async def eventually(fn: Callable[[], Awaitable[Any]], within: float = 10.0, what: str = "condition") -> Any:
    """Poll `fn` until it returns something truthy (bounded: no timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await fn()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.03)


async def conversation(app: App, ch: Channel, customer: str | None = None) -> tuple[int, str]:
    """A customer writes in; returns (conversation id, the customer's address on the channel)."""
    if ch.provider == "notificame":
        customer = customer or f"55119{secrets.randbelow(10**8):08d}"
        r = await app.post_webhook(ch, notificame_message(ch, sender=customer, text="Oi, preciso de ajuda"))
    elif ch.kind == "whatsapp":
        customer = customer or f"55219{secrets.randbelow(10**8):08d}"
        r = await app.post_webhook(ch, whatsapp_cloud_message(ch, wa_id=customer, text="Oi"))
    else:
        customer = customer or f"psid-{secrets.token_hex(6)}"
        r = await app.post_webhook(ch, messaging_payload(ch, sender=customer))
    assert r.status_code == 200, r.text
    async with app.runtime.engine.connect() as conn:
        conv_id = (
            await conn.execute(
                select(m.conversations.c.id)
                .where(m.conversations.c.channel_id == ch.id)
                .order_by(m.conversations.c.id.desc())
            )
        ).scalar()
    assert conv_id is not None
    return int(conv_id), customer


def messaging_payload(
    ch: Channel, *, sender: str, text: str = "hi", written: datetime | None = None
) -> dict[str, Any]:
    """A Messenger (`page`) or Instagram (`instagram`) customer message, written now or `written`."""
    stamp = int((written.timestamp() if written else time.time()) * 1000)
    return {
        "object": "instagram" if ch.kind == "instagram" else "page",
        "entry": [
            {
                "id": ch.external_id,
                "time": stamp,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": ch.external_id},
                        "timestamp": stamp,
                        "message": {"mid": f"m_{secrets.token_hex(8)}", "text": text},
                    }
                ],
            }
        ],
    }


async def reply(
    agent: Agent, conv_id: int, text: str | None = "Olá!", *, status: int = 202, **extra: Any
) -> dict[str, Any]:
    headers = extra.pop("headers", None)
    payload: dict[str, Any] = {"text": text, **extra}
    r = await agent.http.post(f"/api/conversations/{conv_id}/messages", json=payload, headers=headers)
    assert r.status_code == status, r.text
    data: dict[str, Any] = r.json()
    return data


async def message(app: App, message_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(select(m.messages).where(m.messages.c.id == message_id))).first()


async def wait_status(app: App, message_id: int, *statuses: str, within: float = 10.0) -> Any:
    async def check() -> Any:
        row = await message(app, message_id)
        return row if row is not None and row.status in statuses else None

    return await eventually(check, within, f"message {message_id} to be {statuses}")


async def outbox_rows(app: App, message_id: int | None = None) -> list[Any]:
    q = select(m.outbox)
    if message_id is not None:
        q = q.where(m.outbox.c.message_id == message_id)
    async with app.runtime.engine.connect() as conn:
        return list(await conn.execute(q))


async def out_rows(app: App, conv_id: int) -> list[Any]:
    """The conversation's business-side messages (ours and echoes), oldest first."""
    async with app.runtime.engine.connect() as conn:
        return list(
            await conn.execute(
                select(m.messages)
                .where(m.messages.c.conversation_id == conv_id, m.messages.c.direction == "out")
                .where(m.messages.c.sender_type != "system")
                .order_by(m.messages.c.id)
            )
        )


async def message_events(app: App, tenant_id: int, message_id: int) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of the logged events about one message, in sequence order."""
    async with app.runtime.engine.connect() as conn:
        frames = await conn.execute(
            select(m.events.c.frame).where(m.events.c.tenant_id == tenant_id).order_by(m.events.c.seq)
        )
        out = []
        for (frame,) in frames:
            ev = json.loads(frame)
            if ev["type"].startswith("message.") and ev["data"].get("id") == message_id:
                out.append((ev["type"], ev["data"]))
        return out


async def secret(app: App, ch: Channel, name: str) -> str:
    cfg = await app.runtime.directory.by_id(ch.id)
    assert cfg is not None
    return cfg.secrets[name]


async def set_last_inbound(app: App, conv_id: int, ago: timedelta | None) -> None:
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            update(m.conversations)
            .where(m.conversations.c.id == conv_id)
            .values(last_inbound_at=None if ago is None else m.utcnow() - ago)
        )


# --- request shapes ----------------------------------------------------------------------------------
