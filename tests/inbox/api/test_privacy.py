"""LGPD/GDPR on both databases: a contact's export holds everything kept about it; an erasure leaves
no trace of the customer's words, name, number or email in messages, contacts, identities,
appointments, the replay log (as stored and as a socket replays it), search or the audit log, while
the rows and counts stay; the open conversation is resolved and announced live; a customer writing
again is a new contact. Only admins, only their tenant's contacts, only with `confirm: true`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select

from inbox import models as m
from inbox.actions.privacy import ERASED_NAME, scrub_frame
from tests.inbox.api.productivity_support import conversation
from tests.inbox.realtime.client import WsClient, wait_until
from tests.inbox.setup_support import audit_rows
from tests.support import App, Channel, Tenant, notificame_message


@dataclass
class Customer:
    tenant: Tenant
    channel: Channel
    contact_id: int
    conversations: list[int]  # the first resolved, the second open
    phone: str
    secret: str  # a word found only in what the customer and the agent wrote about them
    name: str
    email: str


async def _customer(app: App) -> Customer:
    t = await app.tenant()
    ana = await t.agent(name="Ana")
    ch = await t.channel()
    phone, secret = f"55119{secrets.randbelow(10**8):08d}", f"segredo{secrets.token_hex(4)}"
    name = f"Maria {secret.title()}"
    first = await conversation(app, ch, text=f"Meu CPF é {secret}", name=name, sender=phone)
    file = {
        "type": "file",
        "fileUrl": f"https://files.example.com/{secret}.jpg",
        "fileMimeType": "image/jpeg",
        "fileCaption": f"exame {secret}",
    }
    payload = notificame_message(ch, sender=phone, name=name, contents=[file])
    assert (await app.post_webhook(ch, payload)).status_code == 200
    await ana.http.post(f"/api/conversations/{first}/assign", json={"agent_id": ana.id})
    r = await ana.http.post(f"/api/conversations/{first}/messages", json={"text": f"Olá {name}, recebi"})
    assert r.status_code == 202, r.text
    assert (await ana.http.post(f"/api/conversations/{first}/resolve")).status_code == 200
    second = await conversation(app, ch, text=f"De novo {secret}", name=name, sender=phone)
    assert second != first
    async with app.runtime.engine.connect() as conn:
        contact_id = (
            await conn.execute(select(m.conversations.c.contact_id).where(m.conversations.c.id == first))
        ).scalar_one()
    email = f"{secret}@example.com"
    r = await ana.http.patch(
        f"/api/contacts/{contact_id}",
        json={"email": email, "phone": f"+{phone}", "birthday": "1990-12-03", "attributes": {"cpf": secret}},
    )
    assert r.status_code == 200, r.text
    r = await ana.http.post(
        f"/api/contacts/{contact_id}/appointments",
        json={"starts_at": "2030-01-01T10:00:00Z", "title": f"Consulta {secret}"},
    )
    assert r.status_code == 201, r.text
    label = (await t.admin.http.post("/api/labels", json={"name": "vip"})).json()
    r = await ana.http.post(f"/api/conversations/{second}/labels", json={"labels": ["vip"]})
    assert r.status_code == 200, r.text
    async with app.runtime.uow() as uow:  # a bot turn once answered there (the bot is off in tests)
        await uow.conn.execute(
            insert(m.bot_turns).values(
                tenant_id=t.id, conversation_id=first, outcome="answered", created_at=m.utcnow()
            )
        )
    assert label["name"] == "vip"
    return Customer(t, ch, contact_id, [first, second], phone, secret, name, email)


async def _tenant_text(app: App, tenant_id: int) -> str:
    """Every stored row of the tenant that could hold the customer's data, as one text."""
    out = []
    async with app.runtime.engine.connect() as conn:
        for table in (m.contacts, m.contact_identities, m.messages, m.appointments, m.events, m.audit_log):
            rows = (await conn.execute(select(table).where(table.c.tenant_id == tenant_id))).all()
            out.extend(str(tuple(r)) for r in rows)
    return "\n".join(out)


async def _count(app: App, table: Any, **where: Any) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(func.count()).select_from(table)
        for column, value in where.items():
            q = q.where(table.c[column] == value)
        return int((await conn.execute(q)).scalar_one())


async def test_export_holds_everything_about_the_contact(app: App) -> None:
    c = await _customer(app)
    r = await c.tenant.admin.http.get(f"/api/contacts/{c.contact_id}/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == f'attachment; filename="contact-{c.contact_id}.json"'
    doc = r.json()
    contact = doc["contact"]
    assert (contact["id"], contact["name"], contact["email"], contact["birthday"]) == (
        c.contact_id,
        c.name,
        c.email,
        "1990-12-03",
    )
    assert contact["identities"] == [{"kind": "whatsapp", "external_id": c.phone}]
    assert contact["attributes"] == {"cpf": c.secret}
    first, second = doc["conversations"]
    assert (first["id"], first["status"], second["id"], second["status"]) == (
        c.conversations[0],
        "resolved",
        c.conversations[1],
        "queued",
    )
    assert [lb["name"] for lb in second["labels"]] == ["vip"] and first["labels"] == []
    texts = [(x["direction"], x["sender"]["type"], x["text"], x["status"]) for x in first["messages"]]
    assert ("in", "contact", f"Meu CPF é {c.secret}", "received") in texts
    assert ("out", "agent", f"Olá {c.name}, recebi", "queued") in texts
    image = next(x for x in first["messages"] if x["attachments"])
    assert image["kind"] == "image" and image["attachments"][0]["url"].endswith(f"{c.secret}.jpg")
    assert [x["text"] for x in second["messages"]] == [f"De novo {c.secret}"]
    assert [(a["title"], a["status"]) for a in doc["appointments"]] == [(f"Consulta {c.secret}", "scheduled")]
    assert doc["bot_turns"] == 1
    # Audited: who exported whom, and how much; the document itself is not copied into the log.
    rows = [r for r in await audit_rows(app, c.tenant.id) if r.action == "contact.exported"]
    assert [(r.actor_id, r.target_type, r.target_id) for r in rows] == [
        (c.tenant.admin.id, "contact", c.contact_id)
    ]
    assert rows[0].details == {"conversations": 2, "messages": len(first["messages"]) + 1}
    assert c.secret not in str(rows[0].details)


async def test_erase_leaves_no_trace_but_keeps_the_figures(app: App) -> None:
    c = await _customer(app)
    admin = c.tenant.admin
    bystander = await conversation(app, c.channel, text="Outra pessoa", name="Joana Outra")
    before = await _tenant_text(app, c.tenant.id)
    for trace in (c.secret, c.phone, c.email):
        assert trace in before  # else the checks below could not fail
    messages = await _count(app, m.messages, tenant_id=c.tenant.id)
    await app.searchable()  # indexed: the erasure must take it out of the full-text index too
    assert (await admin.http.get("/api/search", params={"q": c.secret})).json()["messages"]

    ws = WsClient(app, admin.token)

    def updates() -> list[dict[str, Any]]:
        return [
            e["data"] for e in ws.events
            if e["type"] == "conversation.updated" and e["data"]["id"] == c.conversations[1]
        ]  # fmt: skip

    await ws.connect()
    await ws.ready()
    try:
        r = await admin.http.post(f"/api/contacts/{c.contact_id}/erase", json={"confirm": True})
        assert r.status_code == 200, r.text
        await wait_until(updates, what="the open conversation announced")
    finally:
        await ws.close()
    got = r.json()
    assert got["contact"]["name"] == ERASED_NAME and got["contact"]["identities"] == []
    assert (got["contact"]["email"], got["contact"]["phone"], got["contact"]["birthday"]) == (
        None,
        None,
        None,
    )
    assert got["contact"]["attributes"] == {}
    assert got["erased"]["conversations"] == 2 and got["erased"]["identities"] == 1
    assert got["erased"]["appointments"] == 1 and got["erased"]["events"] > 0
    announced = updates()[-1]
    assert (announced["status"], announced["contact"]["name"]) == ("resolved", ERASED_NAME)

    # No trace in what is stored, the replay log included; the bystander is untouched.
    after = await _tenant_text(app, c.tenant.id)
    for trace in (c.secret, c.phone, c.email, "Maria"):
        assert trace not in after, trace
    assert "Joana Outra" in after
    # The same through a socket replaying everything from the start.
    replay = WsClient(app, admin.token)
    await replay.connect(since=0)
    try:
        await replay.ready()
        await replay.sync()
    finally:
        await replay.close()
    frames = str(replay.events)
    assert replay.events and not replay.of_type("resync")
    assert c.secret not in frames and c.phone not in frames and "Maria" not in frames
    erased_texts = [
        e["data"].get("text") for e in replay.events
        if e["type"].startswith("message.") and e["data"]["conversation_id"] in c.conversations
        and e["data"]["sender"]["type"] != "system"
    ]  # fmt: skip
    assert erased_texts and set(erased_texts) == {None}

    # The figures stay: every message row (plus the system note), both conversations, resolved.
    assert await _count(app, m.messages, tenant_id=c.tenant.id) == messages + 1
    assert await _count(app, m.conversations, contact_id=c.contact_id) == 2
    assert await _count(app, m.bot_turns, conversation_id=c.conversations[0]) == 1
    async with app.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(select(m.messages).where(m.messages.c.conversation_id.in_(c.conversations)))
        ).all()
        statuses = (
            await conn.execute(
                select(m.conversations.c.status).where(m.conversations.c.contact_id == c.contact_id)
            )
        ).scalars()
        assert set(statuses) == {"resolved"}
        outbox = (
            await conn.execute(
                select(func.count())
                .select_from(m.outbox)
                .where(m.outbox.c.conversation_id.in_(c.conversations))
            )
        ).scalar_one()
    erased = [x for x in rows if x.sender_type != "system"]
    assert all(x.deleted and x.text is None and x.attachments == [] and x.raw is None for x in erased)
    # The reply still waiting to go out never leaves.
    assert outbox == 0 and [x.status for x in erased if x.sender_type == "agent"] == ["failed"]
    # Search finds nothing of it.
    found = (await admin.http.get("/api/search", params={"q": c.secret})).json()
    assert found["messages"] == [] and found["contacts"] == []
    assert (await admin.http.get(f"/api/conversations/{bystander}")).json()["contact"][
        "name"
    ] == "Joana Outra"

    # Audited with who erased whom and how much, never the data.
    rows = [r for r in await audit_rows(app, c.tenant.id) if r.action == "contact.erased"]
    assert [(r.actor_id, r.target_type, r.target_id, r.address) for r in rows] == [
        (admin.id, "contact", c.contact_id, "127.0.0.1")
    ]
    assert rows[0].details == got["erased"]

    # The same customer writing afterwards is somebody new.
    new_conv = await conversation(app, c.channel, text="Oi de novo", name="Maria", sender=c.phone)
    conv = (await admin.http.get(f"/api/conversations/{new_conv}")).json()
    assert conv["contact"]["id"] != c.contact_id and conv["contact"]["name"] == "Maria"
    assert new_conv not in c.conversations
    assert (await admin.http.get(f"/api/contacts/{c.contact_id}")).json()["identities"] == []


async def test_who_may_export_and_erase(app: App) -> None:
    c = await _customer(app)
    other = await app.tenant()
    staff = [await c.tenant.agent(role=role) for role in ("agent", "supervisor")]
    before = await _tenant_text(app, c.tenant.id)
    url = f"/api/contacts/{c.contact_id}"
    for who in staff:
        assert (await who.http.get(f"{url}/export")).status_code == 403
        assert (await who.http.post(f"{url}/erase", json={"confirm": True})).status_code == 403
    # Another tenant's admin: as if it did not exist.
    for path in (f"{url}/export", "/api/contacts/987654321/export"):
        r = await other.admin.http.get(path)
        assert (r.status_code, r.json()) == (404, {"error": "contact not found", "code": "not_found"})
    for path in (f"{url}/erase", "/api/contacts/987654321/erase"):
        r = await other.admin.http.post(path, json={"confirm": True})
        assert (r.status_code, r.json()) == (404, {"error": "contact not found", "code": "not_found"})
    # Without a confirmation, nothing happens.
    for body in ({}, {"confirm": False}, {"confirm": "true"}, {"confirm": 1}, {"confirm": True, "also": 1}):
        r = await c.tenant.admin.http.post(f"{url}/erase", json=body)
        named = "also" if "also" in body else "confirm"
        assert r.status_code == 400 and named in r.json()["error"], (body, r.text)
    assert (await app.http.post(f"{url}/erase", json={"confirm": True})).status_code == 401
    # Refusals write nothing at all (not even an audit row).
    assert await _tenant_text(app, c.tenant.id) == before
    assert not [r for r in await audit_rows(app, other.id) if r.action.startswith("contact.")]


def test_a_frame_is_scrubbed_only_for_the_erased_conversations() -> None:
    message = (
        '{"seq":7,"type":"message.created","data":{"id":3,"conversation_id":5,"direction":"in",'
        '"text":"Meu CPF","attachments":[{"kind":"image","url":"https://x/y.jpg"}],"status":"received"}}'
    )
    scrubbed = scrub_frame(message, {5})
    assert scrubbed == (
        '{"seq":7,"type":"message.created","data":{"id":3,"conversation_id":5,"direction":"in",'
        '"text":null,"attachments":[],"status":"received","deleted":true}}'
    )
    assert scrub_frame(message, {6}) == message
    breach = (
        '{"seq":8,"type":"sla.breached","data":{"conversation":{"id":5,"contact":{"id":2,"name":"Maria"},'
        '"last_message":{"id":3,"conversation_id":5,"direction":"in","text":"oi","attachments":[]}},'
        '"target_seconds":60}}'
    )
    out = scrub_frame(breach, {5})
    assert "Maria" not in out and '"text":"oi"' not in out and ERASED_NAME in out
    assert scrub_frame(breach, {9}) == breach
