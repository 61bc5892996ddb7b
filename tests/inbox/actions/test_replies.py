"""The replies API on SQLite and PostgreSQL (session app, workers off: nothing is sent here; sending
is tests/inbox/test_outbox*.py): who may reply, idempotency keys, taking over from the bot and the
queue, Meta's 24-hour window, sending a failed message again."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from inbox import models as m
from tests.inbox.workers.outbox_support import (
    conversation,
    message,
    messaging_payload,
    outbox_rows,
    reply,
    set_last_inbound,
)
from tests.support import App


async def count_messages(app: App, conv_id: int, **where: Any) -> int:
    q = select(func.count()).select_from(m.messages).where(m.messages.c.conversation_id == conv_id)
    for column, value in where.items():
        q = q.where(m.messages.c[column] == value)
    async with app.runtime.engine.connect() as conn:
        return int((await conn.execute(q)).scalar_one())


async def conversation_row(app: App, conv_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        q = select(m.conversations).where(m.conversations.c.id == conv_id)
        return (await conn.execute(q)).one()


async def event_types(app: App, tenant_id: int) -> list[str]:
    async with app.runtime.engine.connect() as conn:
        q = select(m.events.c.frame).where(m.events.c.tenant_id == tenant_id).order_by(m.events.c.seq)
        return [json.loads(f)["type"] for (f,) in await conn.execute(q)]


# --- who may reply -----------------------------------------------------------------------------------


async def test_another_tenants_conversation_is_not_found(app: App) -> None:
    mine, theirs = await app.tenant(), await app.tenant()
    ch = await theirs.channel()
    conv_id, _ = await conversation(app, ch)
    sent = await reply(theirs.admin, conv_id, "Oi")
    await reply(mine.admin, conv_id, "Oi", status=404)
    r = await mine.admin.http.post(f"/api/conversations/{conv_id}/messages/{sent['id']}/retry")
    assert r.status_code == 404
    await reply(mine.admin, 10**12, "Oi", status=404)
    assert await count_messages(app, conv_id, direction="out") == 1


async def test_agent_may_not_reply_on_another_agents_conversation(app: App) -> None:
    tenant = await app.tenant()
    ana, bruno = await tenant.agent(), await tenant.agent()
    ch = await tenant.channel()
    conv_id, _ = await conversation(app, ch)
    await reply(ana, conv_id, "Oi, aqui é a Ana")  # takes the waiting conversation
    conv = await conversation_row(app, conv_id)
    assert (conv.status, conv.assignee_id) == ("assigned", ana.id)
    await reply(bruno, conv_id, "Oi", status=403)
    await reply(bruno, conv_id, "nota", private=True, status=403)
    # A supervisor may, and the conversation stays Ana's.
    await reply(tenant.admin, conv_id, "Oi, aqui é a supervisão")
    conv = await conversation_row(app, conv_id)
    assert (conv.status, conv.assignee_id) == ("assigned", ana.id)


async def test_reply_without_content_or_with_a_bad_attachment_is_refused(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(app, ch)
    for payload in (
        {"text": "   "},
        {},
        {"text": "x", "attachments": [{"url": "file:///etc/passwd"}]},
        {"text": "x" * 10_001},
        {"text": 5},
    ):
        r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json=payload)
        assert r.status_code == 400, payload
        assert r.json()["error"]
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", content=b"not json")
    assert r.status_code == 400
    assert await count_messages(app, conv_id, direction="out") == 0


# --- idempotency -------------------------------------------------------------------------------------


async def test_idempotency_key_header_makes_one_message(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(app, ch)
    headers = {"Idempotency-Key": "click-1"}
    first = await reply(tenant.admin, conv_id, "Olá", headers=headers)
    again = await reply(tenant.admin, conv_id, "Olá", headers=headers, status=200)
    assert again["id"] == first["id"] and again["status"] == "queued"
    assert await count_messages(app, conv_id, direction="out", sender_type="agent") == 1
    assert len(await outbox_rows(app, first["id"])) == 1
    # The same key in another tenant is another key.
    other = await app.tenant()
    other_conv, _ = await conversation(app, await other.channel())
    assert (await reply(other.admin, other_conv, "Olá", headers=headers))["id"] != first["id"]


async def test_client_id_in_the_body_and_concurrent_twins(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(app, ch)
    url = f"/api/conversations/{conv_id}/messages"
    answers = await asyncio.gather(
        *[tenant.admin.http.post(url, json={"text": "Oi", "client_id": "c-42"}) for _ in range(5)]
    )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 202]
    assert len({r.json()["id"] for r in answers}) == 1
    assert answers[0].json()["client_id"] == "c-42"
    assert await count_messages(app, conv_id, direction="out", sender_type="agent") == 1
    # Header and body naming the same key agree; different keys are a client bug.
    r = await tenant.admin.http.post(
        url, json={"text": "Oi", "client_id": "c-42"}, headers={"Idempotency-Key": "c-42"}
    )
    assert r.status_code == 200
    r = await tenant.admin.http.post(
        url, json={"text": "Oi", "client_id": "c-1"}, headers={"Idempotency-Key": "c-2"}
    )
    assert r.status_code == 400


async def test_idempotency_key_of_another_conversation_conflicts(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    first, _ = await conversation(app, ch)
    second, _ = await conversation(app, ch)
    await reply(tenant.admin, first, "Oi", client_id="k-7")
    await reply(tenant.admin, second, "Oi", client_id="k-7", status=409)
    assert await count_messages(app, second, direction="out") == 0


# --- taking over -------------------------------------------------------------------------------------


async def test_agent_reply_takes_over_from_the_bot(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    ch = await tenant.channel(bot=True)
    conv_id, _ = await conversation(app, ch)
    assert (await conversation_row(app, conv_id)).status == "bot"
    before = len(await event_types(app, tenant.id))
    sent = await reply(agent, conv_id, "Oi, sou a Carla, vou te ajudar")
    conv = await conversation_row(app, conv_id)
    assert (conv.status, conv.assignee_id, conv.handoff_reason) == ("assigned", agent.id, "agent replied")
    assert conv.first_response_at is not None
    async with app.runtime.engine.connect() as conn:
        jobs = await conn.execute(
            select(func.count())
            .select_from(m.jobs)
            .where(m.jobs.c.kind == "bot", m.jobs.c.key == str(conv_id))
        )
        assert jobs.scalar_one() == 0  # the bot's pending turn is dropped: it stays silent
    # The conversation changes before the reply appears, so the reply is seen by its new owner.
    types = (await event_types(app, tenant.id))[before:]
    assert types.index("conversation.updated") < len(types) - 1 and types[-1] == "message.created"
    assert sent["status"] == "queued"


async def test_private_note_does_not_take_over(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    ch = await tenant.channel(bot=True)
    conv_id, _ = await conversation(app, ch)
    await reply(agent, conv_id, "vou olhar isso", private=True)
    assert (await conversation_row(app, conv_id)).status == "bot"
    queued_conv, _ = await conversation(app, await tenant.channel())
    await reply(agent, queued_conv, "nota", private=True)
    conv = await conversation_row(app, queued_conv)
    assert (conv.status, conv.assignee_id) == ("queued", None)


# --- Meta's customer-service window ------------------------------------------------------------------


async def test_whatsapp_outside_24_hours_is_refused_with_the_reason(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    conv_id, _ = await conversation(app, ch)
    await reply(tenant.admin, conv_id, "dentro da janela")
    await set_last_inbound(app, conv_id, timedelta(hours=25))
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "fora"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert "24-hour" in error and "approved template" in error and "customer writes" in error
    await reply(tenant.admin, conv_id, "nota interna", private=True)  # notes are never sent: allowed
    assert await count_messages(app, conv_id, direction="out", sender_type="agent") == 2
    r = await tenant.admin.http.get(f"/api/conversations/{conv_id}")
    closes = r.json()["window_closes_at"]
    assert closes is not None and closes < m.utcnow().isoformat().replace("+00:00", "Z")


async def test_messenger_window_needs_the_human_agent_tag(app: App) -> None:
    tenant = await app.tenant()
    plain = await tenant.channel("messenger", "meta")
    conv_id, _ = await conversation(app, plain)
    await set_last_inbound(app, conv_id, timedelta(days=2))
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "oi"})
    assert r.status_code == 422 and "HUMAN_AGENT" in r.json()["error"]

    tagged = await tenant.channel("instagram", "meta", settings={"human_agent_tag": True})
    conv_id, _ = await conversation(app, tagged)
    await set_last_inbound(app, conv_id, timedelta(days=2))
    await reply(tenant.admin, conv_id, "dentro de 7 dias")
    await set_last_inbound(app, conv_id, timedelta(days=8))
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "tarde"})
    assert r.status_code == 422 and "7 days" in r.json()["error"]
    await set_last_inbound(app, conv_id, None)  # the customer never wrote here
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "oi"})
    assert r.status_code == 422


async def test_a_late_delivery_does_not_reopen_the_window(app: App) -> None:
    """Meta retries a webhook for hours: a Messenger message the customer wrote 26 h ago, delivered
    now, leaves the window closed (counted from when the customer wrote, as Meta stamps it), so a
    reply is refused up front with the reason instead of going out untagged and being refused by Meta."""
    tenant = await app.tenant()
    ch = await tenant.channel("messenger", "meta")
    written = m.utcnow() - timedelta(hours=26)
    payload = messaging_payload(ch, sender=f"psid-{secrets.token_hex(4)}", text="oi?", written=written)
    assert (await app.post_webhook(ch, payload)).status_code == 200
    conv = (await tenant.admin.http.get("/api/conversations", params={"channel": ch.id})).json()["items"][0]
    closes = datetime.fromisoformat(conv["window_closes_at"])
    assert abs(closes - (written + timedelta(hours=24))) < timedelta(seconds=1)
    r = await tenant.admin.http.post(f"/api/conversations/{conv['id']}/messages", json={"text": "oi"})
    assert r.status_code == 422 and "24-hour messaging window is closed" in r.json()["error"]


async def test_notificame_channels_are_not_judged_here(app: App) -> None:
    tenant = await app.tenant()
    conv_id, _ = await conversation(app, await tenant.channel())
    await set_last_inbound(app, conv_id, timedelta(days=30))
    await reply(tenant.admin, conv_id, "oi")


# --- sending again -----------------------------------------------------------------------------------


async def test_retry_requeues_a_failed_message_only(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    conv_id, _ = await conversation(app, ch)
    sent = await reply(tenant.admin, conv_id, "Oi")
    url = f"/api/conversations/{conv_id}/messages/{sent['id']}/retry"
    assert (await tenant.admin.http.post(url)).status_code == 409  # still queued
    async with app.runtime.engine.begin() as conn:
        await conn.execute(m.outbox.delete().where(m.outbox.c.message_id == sent["id"]))
        await conn.execute(
            update(m.messages)
            .where(m.messages.c.id == sent["id"])
            .values(
                status="failed", error="Meta: (#131000) Something went wrong", provider_message_id="wamid.x"
            )
        )
    r = await tenant.admin.http.post(url)
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["error"], r.json()["provider_message_id"]) == ("queued", None, None)
    (row,) = await outbox_rows(app, sent["id"])
    assert row.attempts == 0
    assert (await event_types(app, tenant.id))[-1] == "message.updated"
    # Not in another conversation's path, and not once the window has closed.
    other, _ = await conversation(app, ch)
    r = await tenant.admin.http.post(f"/api/conversations/{other}/messages/{sent['id']}/retry")
    assert r.status_code == 404
    async with app.runtime.engine.begin() as conn:
        await conn.execute(m.outbox.delete().where(m.outbox.c.message_id == sent["id"]))
        await conn.execute(update(m.messages).where(m.messages.c.id == sent["id"]).values(status="failed"))
    await set_last_inbound(app, conv_id, timedelta(days=2))
    assert (await tenant.admin.http.post(url)).status_code == 422
    assert (await message(app, sent["id"])).status == "failed"
