"""The outbox end to end, on SQLite and PostgreSQL: replies posted over HTTP leave through the worker
to fake Notifica.me and Graph servers on 127.0.0.1 (real HTTP), with retries, failures, statuses and
echoes. The helpers here (a database of this module's own, `world`) are shared with the other outbox
and replies test modules.

Workers claim every due row of their database, so these tests run on a database of their own (one
per module and backend) and empty its outbox after each test: no row of another test is ever sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from inbox import models as m
from inbox.config import Settings
from inbox.db import create_engine
from inbox.migrate import migrate
from tests.conftest import create_pg_database, drop_pg_database
from tests.fakes.graph import FakeGraph, graph_app, graph_error
from tests.fakes.notificame import FakeNotificame, Reply, notificame_app, zenvia_error
from tests.fakes.serve import serve
from tests.support import (
    Agent,
    App,
    Channel,
    notificame_message,
    notificame_status,
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


@pytest.fixture(scope="module")
async def outbox_db(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if backend_name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('outbox') / 'inbox.db'}"
    else:
        url = await create_pg_database()
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    yield url
    if backend_name == "postgresql":
        await drop_pg_database(url)


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


@pytest.fixture(scope="module")
async def shared_world(settings: Settings, outbox_db: str) -> AsyncIterator[World]:
    async with world(settings, outbox_db) as wd:
        yield wd


@pytest.fixture
async def w(shared_world: World) -> AsyncIterator[World]:
    """The module's world with fresh fakes. Each test waits for its messages to settle, so nothing of
    it is in flight when the next one starts; rows still due are dropped all the same."""
    shared_world.nm.reset()
    shared_world.graph.reset()
    shared_world.nm.sent_ids.clear()
    shared_world.graph.sent_ids.clear()
    yield shared_world
    await clear_outbox(shared_world.settings.database_url)


# --- helpers -----------------------------------------------------------------------------------------


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


def messaging_payload(ch: Channel, *, sender: str, text: str = "hi") -> dict[str, Any]:
    """A Messenger (`page`) or Instagram (`instagram`) customer message."""
    return {
        "object": "instagram" if ch.kind == "instagram" else "page",
        "entry": [
            {
                "id": ch.external_id,
                "time": 1796000000000,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": ch.external_id},
                        "timestamp": 1796000000000,
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


@pytest.mark.parametrize(
    ("kind", "path"), [("whatsapp", "whatsapp"), ("instagram", "instagram"), ("messenger", "facebook")]
)
async def test_notificame_text_reply(w: World, kind: str, path: str) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel(kind)
    conv_id, customer = await conversation(w.app, ch)
    sent = await reply(tenant.admin, conv_id, "Olá! Em que posso ajudar?")
    assert sent["status"] == "queued" and sent["direction"] == "out"
    assert sent["sender"] == {"type": "agent", "id": tenant.admin.id}

    (req,) = await w.nm.wait_for(1)
    assert req.method == "POST"
    assert req.path == f"/v1/channels/{path}/messages"
    assert req.headers["x-api-token"] == await secret(w.app, ch, "notificame_token")
    assert req.headers["content-type"] == "application/json"
    assert req.json == {
        "from": ch.external_id,
        "to": customer,
        "contents": [{"type": "text", "text": "Olá! Em que posso ajudar?"}],
    }
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == w.nm.sent_ids[0]
    assert row.error is None
    assert await outbox_rows(w.app, sent["id"]) == []
    events = await message_events(w.app, tenant.id, sent["id"])
    assert [(t, d["status"]) for t, d in events] == [
        ("message.created", "queued"),
        ("message.updated", "sent"),
    ]
    assert events[-1][1]["provider_message_id"] == row.provider_message_id


async def test_notificame_media_reply_is_a_file_content(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, customer = await conversation(w.app, ch)
    pdf = {"url": "https://cdn.example.com/boleto.pdf", "mime_type": "application/pdf", "name": "boleto.pdf"}
    sent = await reply(tenant.admin, conv_id, "Segue o boleto", attachments=[pdf])
    assert sent["kind"] == "file"
    assert sent["attachments"] == [{"kind": "file", **pdf}]
    photo = await reply(
        tenant.admin,
        conv_id,
        None,
        attachments=[{"url": "https://cdn.example.com/a.png", "mime_type": "image/png"}],
    )
    assert photo["kind"] == "image"

    first, second = await w.nm.wait_for(2)
    assert first.json["contents"] == [
        {
            "type": "file",
            "fileUrl": "https://cdn.example.com/boleto.pdf",
            "fileMimeType": "application/pdf",
            "fileCaption": "Segue o boleto",
        }
    ]
    assert second.json["contents"] == [
        {"type": "file", "fileUrl": "https://cdn.example.com/a.png", "fileMimeType": "image/png"}
    ]
    assert first.json["to"] == second.json["to"] == customer
    await wait_status(w.app, photo["id"], "sent")


async def test_meta_whatsapp_reply(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    conv_id, wa_id = await conversation(w.app, ch)
    sent = await reply(tenant.admin, conv_id, "Bom dia!")
    (req,) = await w.graph.wait_for(1)
    assert req.path == f"/v21.0/{ch.external_id}/messages"
    assert req.headers["authorization"] == f"Bearer {await secret(w.app, ch, 'access_token')}"
    assert req.headers["content-type"] == "application/json"
    assert req.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "type": "text",
        "text": {"body": "Bom dia!", "preview_url": False},
    }
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == w.graph.sent_ids[0]


async def test_meta_messenger_image_reply(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("messenger", "meta")
    conv_id, psid = await conversation(w.app, ch)
    url = "https://cdn.example.com/mapa.jpg"
    sent = await reply(tenant.admin, conv_id, None, attachments=[{"url": url, "mime_type": "image/jpeg"}])
    (req,) = await w.graph.wait_for(1)
    assert req.path == f"/v21.0/{ch.external_id}/messages"
    assert req.json == {
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "image", "payload": {"url": url, "is_reusable": True}}},
    }
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == w.graph.sent_ids[0]


async def test_messenger_human_agent_tag_after_24_hours(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("messenger", "meta", settings={"human_agent_tag": True})
    conv_id, psid = await conversation(w.app, ch)
    await set_last_inbound(w.app, conv_id, timedelta(days=3))
    r = await tenant.admin.http.get(f"/api/conversations/{conv_id}")
    assert r.json()["window_closes_at"] is not None
    sent = await reply(tenant.admin, conv_id, "Seu pedido chegou")
    (req,) = await w.graph.wait_for(1)
    assert req.json == {
        "recipient": {"id": psid},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Seu pedido chegou"},
    }
    await wait_status(w.app, sent["id"], "sent")


# --- failures and retries ----------------------------------------------------------------------------


async def test_two_server_errors_then_success_is_sent_once(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    w.nm.script(500, 500, 200)
    sent = await reply(tenant.admin, conv_id, "Tudo certo")
    row = await wait_status(w.app, sent["id"], "sent")
    assert len(w.nm.requests) == 3
    assert len({json.dumps(r.json, sort_keys=True) for r in w.nm.requests}) == 1  # the same message
    assert w.nm.sent_ids == [row.provider_message_id]  # accepted once
    assert await outbox_rows(w.app, sent["id"]) == []
    events = await message_events(w.app, tenant.id, sent["id"])
    assert [d["status"] for _, d in events] == ["queued", "sent"]  # retrying is not a state change


async def test_client_error_fails_at_once_with_the_reason(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    w.nm.script(
        zenvia_error(
            "Invalid recipient",
            details=[{"code": "INVALID", "path": "to", "message": "not a WhatsApp number"}],
        )
    )
    sent = await reply(tenant.admin, conv_id, "Oi")
    row = await wait_status(w.app, sent["id"], "failed")
    assert "Invalid recipient" in row.error and "not a WhatsApp number" in row.error and "400" in row.error
    assert await outbox_rows(w.app, sent["id"]) == []  # nothing left to retry
    assert len(w.nm.requests) == 1
    r = await tenant.admin.http.get(f"/api/conversations/{conv_id}/messages")
    shown = next(item for item in r.json()["items"] if item["id"] == sent["id"])
    assert shown["status"] == "failed" and "Invalid recipient" in shown["error"]
    events = await message_events(w.app, tenant.id, sent["id"])
    assert events[-1][0] == "message.updated" and events[-1][1]["status"] == "failed"


async def test_graph_permanent_error_carries_metas_reason(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    conv_id, _ = await conversation(w.app, ch)
    w.graph.script(graph_error("(#131030) Recipient phone number not in allowed list", code=131030))
    sent = await reply(tenant.admin, conv_id, "Oi")
    row = await wait_status(w.app, sent["id"], "failed")
    assert "Recipient phone number not in allowed list" in row.error
    assert len(w.graph.requests) == 1


async def test_retry_after_is_honoured(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    w.nm.script(Reply.rate_limited(2))
    before = m.utcnow()
    sent = await reply(tenant.admin, conv_id, "Oi")

    async def rescheduled() -> Any:
        rows = await outbox_rows(w.app, sent["id"])
        return rows[0] if rows and rows[0].last_error else None

    row = await eventually(rescheduled, what="the 429 to be recorded")
    # The backoff alone would retry within 0.2 s; the provider asked for 2 s.
    assert row.next_attempt_at >= before + timedelta(seconds=2)
    assert "429" in row.last_error
    await wait_status(w.app, sent["id"], "sent")
    assert len(w.nm.requests) == 2


async def test_private_note_is_never_sent(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    note = await reply(tenant.admin, conv_id, "cliente VIP, cuidado", private=True)
    assert note["status"] == "note" and note["private"] is True
    assert await outbox_rows(w.app, note["id"]) == []
    public = await reply(tenant.admin, conv_id, "Olá!")
    await wait_status(w.app, public["id"], "sent")
    assert [r.json["contents"] for r in w.nm.requests] == [[{"type": "text", "text": "Olá!"}]]
    assert (await message(w.app, note["id"])).status == "note"


# --- statuses and echoes -----------------------------------------------------------------------------


async def test_statuses_before_the_send_answer_and_out_of_order(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    pid = f"nm-{secrets.token_hex(6)}"
    w.nm.script(Reply(json={"id": pid}, delay=1.0))
    sent = await reply(tenant.admin, conv_id, "Chegou?")
    await w.nm.wait_for(1)
    # The provider's status webhooks beat its own answer, and arrive out of order.
    for code in ("READ", "DELIVERED"):
        r = await w.app.post_webhook(ch, notificame_status(pid, code))
        assert r.status_code == 200
    row = await wait_status(w.app, sent["id"], "read")
    assert row.provider_message_id == pid
    r = await w.app.post_webhook(ch, notificame_status(pid, "SENT"))
    assert (await message(w.app, sent["id"])).status == "read"  # never back
    async with w.app.runtime.engine.connect() as conn:
        left = await conn.execute(
            select(func.count())
            .select_from(m.pending_statuses)
            .where(m.pending_statuses.c.provider_message_id == pid)
        )
        assert left.scalar_one() == 0
    statuses = [d["status"] for _, d in await message_events(w.app, tenant.id, sent["id"])]
    assert statuses == ["queued", "sent", "read"]


async def test_echo_stored_before_the_answer_is_merged_into_our_row(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, customer = await conversation(w.app, ch)
    pid = f"nm-{secrets.token_hex(6)}"
    w.nm.script(Reply(json={"id": pid}, delay=1.0))
    sent = await reply(tenant.admin, conv_id, "Promoção  de hoje")
    await w.nm.wait_for(1)
    # The provider normalised the spaces: ingest cannot match the echo to the reply in flight, so it is
    # stored as a message of its own, for now.
    echo = notificame_message(ch, sender=customer, message_id=pid, direction="OUT", text="Promoção de hoje")
    assert (await w.app.post_webhook(ch, echo)).status_code == 200
    assert len(await out_rows(w.app, conv_id)) == 2
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == pid
    rows = await out_rows(w.app, conv_id)
    assert [r.id for r in rows] == [sent["id"]]  # one row, ours
    # A repeated echo is a duplicate of ours now.
    assert (await w.app.post_webhook(ch, echo)).status_code == 200
    assert [r.id for r in await out_rows(w.app, conv_id)] == [sent["id"]]


async def test_text_echo_before_the_answer_claims_our_row(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, customer = await conversation(w.app, ch)
    pid = f"nm-{secrets.token_hex(6)}"
    w.nm.script(Reply(json={"id": pid}, delay=1.0))
    sent = await reply(tenant.admin, conv_id, "Um momento, por favor")
    await w.nm.wait_for(1)
    echo = notificame_message(
        ch, sender=customer, message_id=pid, direction="OUT", text="Um momento, por favor"
    )
    assert (await w.app.post_webhook(ch, echo)).status_code == 200
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == pid
    assert [r.id for r in await out_rows(w.app, conv_id)] == [sent["id"]]
    assert len(w.nm.requests) == 1
