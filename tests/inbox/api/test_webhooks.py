"""Webhooks end to end over HTTP, on SQLite and PostgreSQL: exactly once, whatever the provider repeats
or reorders; bad input stores nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from typing import Any

from sqlalchemy import func, select

from inbox import models as m
from tests.support import App, Channel, Tenant, notificame_message, notificame_status, whatsapp_cloud_message


async def count(app: App, table: Any, *where: Any) -> int:
    async with app.runtime.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def messages_of(app: App, tenant: Tenant) -> list[Any]:
    async with app.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(m.messages).where(m.messages.c.tenant_id == tenant.id).order_by(m.messages.c.id)
        )
        return list(rows)


def messenger_payload(
    channel: Channel, *, sender: str, mid: str, text: str = "hi", echo: bool = False
) -> dict[str, Any]:
    page = channel.external_id
    message: dict[str, Any] = {"mid": mid, "text": text}
    if echo:
        message["is_echo"] = True
    return {
        "object": "page",
        "entry": [
            {
                "id": page,
                "time": 1796000000000,
                "messaging": [
                    {
                        "sender": {"id": page if echo else sender},
                        "recipient": {"id": sender if echo else page},
                        "timestamp": 1796000000000,
                        "message": message,
                    }
                ],
            }
        ],
    }


async def test_repeated_delivery_is_stored_once(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    payload = notificame_message(ch, text="Quero agendar uma consulta")
    for _ in range(3):
        r = await app.post_webhook(ch, payload)
        assert r.status_code == 200
    rows = await messages_of(app, tenant)
    assert [r.text for r in rows] == ["Quero agendar uma consulta"]
    assert await count(app, m.conversations, m.conversations.c.tenant_id == tenant.id) == 1
    # The events log got one conversation.created and one message.created, in that order.
    async with app.runtime.engine.connect() as conn:
        types = (
            (
                await conn.execute(
                    select(m.events.c.type).where(m.events.c.tenant_id == tenant.id).order_by(m.events.c.seq)
                )
            )
            .scalars()
            .all()
        )
    assert types[-2:] == ["conversation.created", "message.created"]
    assert types.count("message.created") == 1


async def test_concurrent_first_messages_from_a_new_contact(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    sender = "5511987654321"
    payloads = [notificame_message(ch, sender=sender, text=f"msg {i}") for i in range(12)]
    results = await asyncio.gather(*(app.post_webhook(ch, p) for p in payloads))
    assert [r.status_code for r in results] == [200] * 12
    assert await count(app, m.contacts, m.contacts.c.tenant_id == tenant.id) == 1
    assert await count(app, m.conversations, m.conversations.c.tenant_id == tenant.id) == 1
    assert len(await messages_of(app, tenant)) == 12


async def test_concurrent_first_messages_through_two_processes(app: App, settings: Any) -> None:
    """Two app instances on one database: still one contact and one conversation."""
    from tests.support import running_app

    tenant = await app.tenant()
    ch = await tenant.channel()
    sender = "5511912345678"
    async with running_app(settings) as other:
        payloads = [notificame_message(ch, sender=sender, text=f"m{i}") for i in range(10)]
        results = await asyncio.gather(
            *((app if i % 2 else other).post_webhook(ch, p) for i, p in enumerate(payloads))
        )
    assert {r.status_code for r in results} == {200}
    assert await count(app, m.contacts, m.contacts.c.tenant_id == tenant.id) == 1
    assert await count(app, m.conversations, m.conversations.c.tenant_id == tenant.id) == 1
    assert len(await messages_of(app, tenant)) == 10


async def _race(app: App, ch: Channel, sender: str) -> None:
    """Two ingest statements interleaved on PostgreSQL: A's runs in a transaction held open, B's
    must wait on A's rows; A commits, B stores nothing of what it lost the race for and says so,
    and run again (as the batch path does) it joins A's rows."""
    from inbox.actions.ingest import postgresql as ingest_pg
    from inbox.actions.ingest import store

    channel = await app.runtime.directory.by_id(ch.id)
    assert channel is not None

    def message(text: str) -> Any:
        name = None if text == "b" else "Ana"
        raw = json.dumps(notificame_message(ch, sender=sender, text=text, name=name))
        (ev,) = app.runtime.adapters["notificame"].parse(channel, raw.encode())
        return ev

    a, b = message("a"), message("b")

    async def second() -> ingest_pg.Outcome:
        async with app.runtime.autocommit.connect() as conn:
            return await ingest_pg.ingest(conn, [(channel, b)], m.utcnow())

    async with app.runtime.engine.connect() as held:
        first = await ingest_pg.ingest(held, [(channel, a)], m.utcnow())
        assert first.leftover == [] and len(first.records) >= 1
        racer = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        assert not racer.done()  # B waits on A's uncommitted rows
        await held.commit()
    lost = await asyncio.wait_for(racer, 10)
    assert lost.leftover == [0] and lost.records == []
    await store(app.runtime, [(channel, [b])])


async def test_a_batch_that_loses_the_race_for_a_new_contact_joins_the_winner(app: App) -> None:
    """B finds the identity taken: it keeps no contact of its own and files its message under A's
    contact and conversation. (SQLite has one writer: transactions cannot interleave like this.)"""
    import pytest

    if app.runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers")
    tenant = await app.tenant()
    ch = await tenant.channel()
    await _race(app, ch, "5511955550000")
    contacts = await count(app, m.contacts, m.contacts.c.tenant_id == tenant.id)
    conversations = await count(app, m.conversations, m.conversations.c.tenant_id == tenant.id)
    rows = await messages_of(app, tenant)
    assert (contacts, conversations) == (1, 1)
    assert [r.text for r in rows] == ["a", "b"]
    assert rows[0].conversation_id == rows[1].conversation_id
    assert rows[0].sender_id == rows[1].sender_id


async def test_a_batch_that_loses_the_race_to_open_a_conversation_joins_it(app: App) -> None:
    """A known customer whose last conversation was resolved writes twice at once: B's insert of a
    new conversation conflicts with A's, and B then uses A's."""
    import pytest
    from sqlalchemy import update

    if app.runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers")
    tenant = await app.tenant()
    ch = await tenant.channel()
    sender = "5511955550001"
    assert (await app.post_webhook(ch, notificame_message(ch, sender=sender, text="old"))).status_code == 200
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            update(m.conversations).where(m.conversations.c.tenant_id == tenant.id).values(status="resolved")
        )
    await _race(app, ch, sender)
    rows = await messages_of(app, tenant)
    assert [r.text for r in rows] == ["old", "a", "b"]
    assert rows[1].conversation_id == rows[2].conversation_id != rows[0].conversation_id
    assert await count(app, m.contacts, m.contacts.c.tenant_id == tenant.id) == 1
    open_now = m.conversations.c.status != "resolved"
    assert await count(app, m.conversations, m.conversations.c.tenant_id == tenant.id, open_now) == 1


async def test_meta_signature_is_required_and_checked(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("messenger", "meta")
    payload = messenger_payload(ch, sender="psid-1", mid="m_1")
    raw = json.dumps(payload).encode()

    missing = await app.http.post(ch.webhook_path, content=raw)
    assert missing.status_code == 401
    wrong = hmac.new(b"not-the-secret", raw, hashlib.sha256).hexdigest()
    bad = await app.http.post(
        ch.webhook_path, content=raw, headers={"X-Hub-Signature-256": f"sha256={wrong}"}
    )
    assert bad.status_code == 401
    assert ch.app_secret
    good = hmac.new(ch.app_secret.encode(), raw, hashlib.sha256).hexdigest()
    tampered = raw.replace(b'"hi"', b'"HI"')
    r = await app.http.post(
        ch.webhook_path, content=tampered, headers={"X-Hub-Signature-256": f"sha256={good}"}
    )
    assert r.status_code == 401
    assert await messages_of(app, tenant) == []
    assert await count(app, m.contacts, m.contacts.c.tenant_id == tenant.id) == 0

    ok = await app.http.post(ch.webhook_path, content=raw, headers={"X-Hub-Signature-256": f"sha256={good}"})
    assert ok.status_code == 200
    assert [r.text for r in await messages_of(app, tenant)] == ["hi"]


async def test_signature_over_raw_bytes_with_escaped_unicode(app: App) -> None:
    """Meta signs the bytes it sends, with unicode escaped; verifying a re-serialized body would fail."""
    tenant = await app.tenant()
    ch = await tenant.channel("instagram", "meta")
    payload = messenger_payload(ch, sender="igsid-9", mid="m_é", text="Olá, não é?")
    payload["object"] = "instagram"
    raw = json.dumps(payload, ensure_ascii=True).encode()  # \u00e1 escapes, as Meta sends
    assert b"\\u00e1" in raw
    r = await app.post_webhook(ch, raw)
    assert r.status_code == 200
    assert [r.text for r in await messages_of(app, tenant)] == ["Olá, não é?"]


async def test_echo_is_the_business_not_the_customer(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("messenger", "meta")
    await app.post_webhook(ch, messenger_payload(ch, sender="psid-7", mid="m_in", text="Oi"))
    await app.post_webhook(
        ch, messenger_payload(ch, sender="psid-7", mid="m_out", text="Olá! Como ajudo?", echo=True)
    )
    rows = await messages_of(app, tenant)
    assert [(r.direction, r.sender_type, r.text) for r in rows] == [
        ("in", "contact", "Oi"),
        ("out", "agent", "Olá! Como ajudo?"),
    ]
    # One contact (the customer), never the page itself.
    async with app.runtime.engine.connect() as conn:
        ids = (
            (
                await conn.execute(
                    select(m.contact_identities.c.external_id).where(
                        m.contact_identities.c.tenant_id == tenant.id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert ids == ["psid-7"]


async def test_notificame_out_direction_is_an_echo(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    customer = "5511900001111"
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="Bom dia"))
    await app.post_webhook(
        ch, notificame_message(ch, sender=customer, text="Bom dia! Em que posso ajudar?", direction="OUT")
    )
    rows = await messages_of(app, tenant)
    assert [(r.direction, r.text) for r in rows] == [
        ("in", "Bom dia"),
        ("out", "Bom dia! Em que posso ajudar?"),
    ]
    assert await count(app, m.contacts, m.contacts.c.tenant_id == tenant.id) == 1


async def _outgoing(app: App, tenant: Tenant, ch: Channel, pid: str, status: str = "sent") -> int:
    """An outgoing message as the outbox leaves it after a send answer."""
    await app.post_webhook(ch, notificame_message(ch, sender="5511955550000", text="preciso de ajuda"))
    rows = await messages_of(app, tenant)
    async with app.runtime.engine.begin() as conn:
        res = await conn.execute(
            m.messages.insert()
            .values(
                tenant_id=tenant.id,
                conversation_id=rows[0].conversation_id,
                channel_id=ch.id,
                direction="out",
                sender_type="agent",
                sender_id=tenant.admin.id,
                kind="text",
                text="Claro!",
                attachments=[],
                status=status,
                provider_message_id=pid,
                deleted=False,
                created_at=m.utcnow(),
            )
            .returning(m.messages.c.id)
        )
        return int(res.scalar_one())


async def test_statuses_only_move_forward(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    mid = await _outgoing(app, tenant, ch, "nm-out-1")
    for code in ("READ", "DELIVERED", "SENT"):  # out of order: read first
        r = await app.post_webhook(ch, notificame_status("nm-out-1", code))
        assert r.status_code == 200
    async with app.runtime.engine.connect() as conn:
        status = (await conn.execute(select(m.messages.c.status).where(m.messages.c.id == mid))).scalar_one()
    assert status == "read"


async def test_status_before_the_send_answer_is_kept(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    r = await app.post_webhook(ch, notificame_status("nm-early", "DELIVERED"))
    assert r.status_code == 200
    assert await count(app, m.pending_statuses, m.pending_statuses.c.provider_message_id == "nm-early") == 1


async def test_failed_status_carries_the_reason(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    mid = await _outgoing(app, tenant, ch, "nm-out-2")
    await app.post_webhook(ch, notificame_status("nm-out-2", "REJECTED", "Number is not on WhatsApp"))
    async with app.runtime.engine.connect() as conn:
        row = (await conn.execute(select(m.messages).where(m.messages.c.id == mid))).one()
    assert row.status == "failed"
    assert "Number is not on WhatsApp" in (row.error or "")


def instagram_deleted(ch: Channel, sender: str, mid: str) -> dict[str, Any]:
    return {
        "object": "instagram",
        "entry": [
            {
                "id": ch.external_id,
                "time": 1796000001000,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": ch.external_id},
                        "timestamp": 1796000001000,
                        "message": {"mid": mid, "is_deleted": True},
                    }
                ],
            }
        ],
    }


async def test_deleted_message_keeps_its_row_without_content(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("instagram", "meta")
    original = messenger_payload(ch, sender="igsid-1", mid="m_del", text="ops, errei")
    original["object"] = "instagram"
    await app.post_webhook(ch, original)
    r = await app.post_webhook(ch, instagram_deleted(ch, "igsid-1", "m_del"))
    assert r.status_code == 200
    rows = await messages_of(app, tenant)
    assert len(rows) == 1
    assert (rows[0].deleted, rows[0].text, rows[0].attachments) == (True, None, [])
    # Through the API: deleted: true, no text.
    conv_id = rows[0].conversation_id
    msgs = (await tenant.admin.http.get(f"/api/conversations/{conv_id}/messages")).json()["items"]
    assert msgs[0]["deleted"] is True and msgs[0]["text"] is None


async def test_unsend_before_the_message_never_shows_its_content(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("instagram", "meta")
    await app.post_webhook(ch, instagram_deleted(ch, "igsid-2", "m_late"))
    original = messenger_payload(ch, sender="igsid-2", mid="m_late", text="secret")
    original["object"] = "instagram"
    await app.post_webhook(ch, original)
    rows = await messages_of(app, tenant)
    assert len(rows) == 1 and rows[0].deleted and rows[0].text is None


async def test_bad_bodies_get_4xx_and_store_nothing(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    r = await app.http.post(ch.webhook_path, content=b"{not json")
    assert r.status_code == 400
    r = await app.http.post(ch.webhook_path, content=b"[1, 2]")
    assert r.status_code == 400
    r = await app.http.post("/webhooks/notificame/" + secrets.token_urlsafe(24), json=notificame_message(ch))
    assert r.status_code == 404
    meta = await tenant.channel("messenger", "meta")
    # A Notifica.me key on the Meta route is unknown there.
    r = await app.http.post(meta.webhook_path.replace("/meta/", "/notificame/"), json={})
    assert r.status_code == 404
    big = json.dumps({"type": "MESSAGE", "pad": "x" * (1024 * 1024)}).encode()
    r = await app.http.post(ch.webhook_path, content=big)
    assert r.status_code == 413
    assert await messages_of(app, tenant) == []


async def test_lone_surrogates_are_stored_as_replacement_characters(app: App) -> None:
    """JSON may escape half of a UTF-16 pair; neither database can store it. The message is kept."""
    tenant = await app.tenant()
    ch = await tenant.channel()
    r = await app.post_webhook(ch, notificame_message(ch, text="oi \ud800 ção", name="Ana \udfff"))
    assert r.status_code == 200, r.text
    assert [x.text for x in await messages_of(app, tenant)] == ["oi \ufffd ção"]


async def test_chunked_body_over_the_limit_is_413(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()

    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65536

    r = await app.http.post(ch.webhook_path, content=chunks())
    assert r.status_code == 413


async def test_meta_handshake(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    ok = await app.http.get(
        ch.webhook_path,
        params={"hub.mode": "subscribe", "hub.verify_token": ch.verify_token, "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = await app.http.get(
        ch.webhook_path, params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}
    )
    assert bad.status_code == 403


async def test_whatsapp_cloud_contact_name_and_identity(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    r = await app.post_webhook(
        ch, whatsapp_cloud_message(ch, text="Oi, vocês abrem sábado?", wa_id="5521999990000", name="João")
    )
    assert r.status_code == 200
    contacts = (await tenant.admin.http.get("/api/contacts", params={"q": "jo"})).json()["items"]
    assert contacts[0]["name"] == "João"
    assert contacts[0]["identities"] == [{"kind": "whatsapp", "external_id": "5521999990000"}]


async def test_resolved_conversation_is_not_reused(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    customer = "5511933334444"
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="primeira"))
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            m.conversations.update().where(m.conversations.c.tenant_id == tenant.id).values(status="resolved")
        )
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="segunda"))
    assert await count(app, m.conversations, m.conversations.c.tenant_id == tenant.id) == 2
    assert await count(app, m.contacts, m.contacts.c.tenant_id == tenant.id) == 1


async def test_snoozed_conversation_wakes_on_a_customer_message(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    customer = "5511922223333"
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="oi"))
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            m.conversations.update()
            .where(m.conversations.c.tenant_id == tenant.id)
            .values(status="snoozed", snoozed_until=m.utcnow())
        )
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="voltei"))
    async with app.runtime.engine.connect() as conn:
        statuses = (
            (
                await conn.execute(
                    select(m.conversations.c.status).where(m.conversations.c.tenant_id == tenant.id)
                )
            )
            .scalars()
            .all()
        )
    assert statuses == ["queued"]


async def test_a_batch_stuck_on_a_lock_holds_up_no_one_else(app: App) -> None:
    """A customer's conversation is locked elsewhere (an agent's transaction): that delivery waits,
    and the next customer's, batched after it, is stored and answered meanwhile."""
    import pytest

    if app.runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers")
    tenant = await app.tenant()
    ch = await tenant.channel()
    assert (await app.post_webhook(ch, notificame_message(ch, sender="5511977770001"))).status_code == 200
    async with app.runtime.engine.connect() as held:
        await held.execute(
            select(m.conversations.c.id).where(m.conversations.c.tenant_id == tenant.id).with_for_update()
        )
        stuck = asyncio.create_task(
            app.post_webhook(ch, notificame_message(ch, sender="5511977770001", text="stuck"))
        )
        await asyncio.sleep(0.3)
        other = await asyncio.wait_for(
            app.post_webhook(ch, notificame_message(ch, sender="5511977770002", text="free")), 10
        )
        assert other.status_code == 200
        assert not stuck.done()
        await held.commit()
    assert (await asyncio.wait_for(stuck, 10)).status_code == 200
    assert [r.text for r in await messages_of(app, tenant)] == ["Olá", "free", "stuck"]
