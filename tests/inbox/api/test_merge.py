"""Merging two contacts, on both databases: every message, identity, conversation and appointment is
kept under the kept contact, the profiles combine (the kept one's values win), it is one transaction
(a failure midway leaves both contacts as they were), audited with who merged which into which,
announced live, tenant-scoped and visibility-scoped. Also a contact's conversations across channels
and the merge candidates the panel offers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from inbox import models as m
from inbox.actions import merge as merge_action
from inbox.auth import Principal
from tests.inbox.api.productivity_support import conversation, queue
from tests.inbox.routing_support import events, last_seq
from tests.inbox.setup_support import audit_rows
from tests.support import Agent, App, Channel, Tenant, notificame_message

cv, ct, idc, msg, ap = m.conversations.c, m.contacts.c, m.contact_identities.c, m.messages.c, m.appointments.c
SOON = (datetime.now(UTC) + timedelta(days=30)).isoformat()


@dataclass
class Pair:
    """One customer known twice: on Instagram last month (resolved) and on WhatsApp today (open)."""

    tenant: Tenant
    wa: Channel
    ig: Channel
    kept: int  # the WhatsApp contact
    other: int  # the Instagram contact
    kept_conversation: int
    other_conversation: int


async def contact_of(app: App, conversation_id: int) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(cv.contact_id).where(cv.id == conversation_id)
        return int((await conn.execute(q)).scalar_one())


async def _pair(app: App, tenant: Tenant | None = None) -> Pair:
    t = tenant or await app.tenant()
    wa, ig = await t.channel("whatsapp"), await t.channel("instagram")
    old = await conversation(app, ig, text="Vocês fazem limpeza?", name="maria.ig", sender="ig-778899")
    await app.post_webhook(ig, notificame_message(ig, text="Obrigada!", sender="ig-778899", name="maria.ig"))
    assert (await t.admin.http.post(f"/api/conversations/{old}/resolve")).status_code == 200
    new = await conversation(app, wa, text="Quero marcar", name="Maria Silva", sender="5511987650001")
    kept, other = await contact_of(app, new), await contact_of(app, old)
    assert kept != other
    r = await t.admin.http.patch(
        f"/api/contacts/{kept}", json={"email": "maria@example.com", "attributes": {"plano": "ouro"}}
    )
    assert r.status_code == 200, r.text
    r = await t.admin.http.patch(
        f"/api/contacts/{other}",
        json={
            "email": "outra@example.com",
            "phone": "+55 11 98765-0001",
            "birthday": "1990-04-02",
            "lead_status": "qualified",
            "attributes": {"plano": "prata", "instagram": "maria.ig"},
        },
    )
    assert r.status_code == 200, r.text
    r = await t.admin.http.post(
        f"/api/contacts/{other}/appointments", json={"starts_at": SOON, "title": "Limpeza"}
    )
    assert r.status_code == 201, r.text
    return Pair(t, wa, ig, kept, other, new, old)


async def _messages(app: App, conversation_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    async with app.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(msg.conversation_id, msg.id, msg.text, msg.direction)
            .where(msg.conversation_id.in_(conversation_ids))
            .order_by(msg.id)
        )
        out: dict[int, list[tuple[Any, ...]]] = {i: [] for i in conversation_ids}
        for r in rows:
            out[r.conversation_id].append((r.id, r.text, r.direction))
        return out


async def _state(app: App, tenant_id: int) -> list[Any]:
    """The tenant's contacts, identities, conversations, messages, appointments and audit rows."""
    out = []
    async with app.runtime.engine.connect() as conn:
        for table in (
            m.contacts,
            m.contact_identities,
            m.conversations,
            m.messages,
            m.appointments,
            m.audit_log,
        ):
            rows = (await conn.execute(select(table).where(table.c.tenant_id == tenant_id))).all()
            out.append(sorted(tuple(str(v) for v in r) for r in rows))
    return out


async def test_a_merge_keeps_every_message_identity_conversation_and_appointment(app: App) -> None:
    p = await _pair(app)
    conversations = [p.kept_conversation, p.other_conversation]
    before = await _messages(app, conversations)
    assert len(before[p.other_conversation]) == 3  # two from the customer, the resolve note
    seq = await last_seq(app, p.tenant)
    agent = await p.tenant.agent(name="Ana Lima")  # may read both: their conversations are in no queue

    r = await agent.http.post(f"/api/contacts/{p.kept}/merge", json={"other_id": p.other})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["merged"] == {
        "conversations": 1,
        "identities": 1,
        "appointments": 1,
        "resolved_conversations": [],
    }
    contact = result["contact"]
    assert contact["id"] == p.kept
    assert sorted((i["kind"], i["external_id"]) for i in contact["identities"]) == [
        ("instagram", "ig-778899"),
        ("whatsapp", "5511987650001"),
    ]
    # The kept contact's values win; its empty ones come from the other; a lead at "new" takes the other's.
    assert contact["name"] == "Maria Silva"
    assert contact["email"] == "maria@example.com"
    assert contact["phone"] == "+5511987650001"
    assert contact["birthday"] == "1990-04-02"
    assert contact["lead_status"] == "qualified"
    assert contact["attributes"] == {"plano": "ouro", "instagram": "maria.ig"}
    assert (await agent.http.get(f"/api/contacts/{p.other}")).status_code == 404

    # Every message is where it was, and its conversation now belongs to the kept contact.
    assert await _messages(app, conversations) == before
    assert {await contact_of(app, c) for c in conversations} == {p.kept}
    async with app.runtime.engine.connect() as conn:
        senders = set(
            (
                await conn.execute(
                    select(msg.sender_id).where(
                        msg.conversation_id.in_(conversations), msg.sender_type == "contact"
                    )
                )
            ).scalars()
        )
    assert senders == {p.kept}
    items = (await agent.http.get(f"/api/contacts/{p.kept}/appointments")).json()["items"]
    assert [(a["title"], a["contact_id"]) for a in items] == [("Limpeza", p.kept)]

    # The panel's list: both conversations, across channels, newest activity first.
    page = (await agent.http.get(f"/api/contacts/{p.kept}/conversations")).json()
    assert [(c["id"], c["channel"]["kind"]) for c in page["items"]] == [
        (p.kept_conversation, "whatsapp"),
        (p.other_conversation, "instagram"),
    ]
    assert all(c["contact"] == {"id": p.kept, "name": "Maria Silva"} for c in page["items"])

    # Who merged which into which; ids and counts only.
    row = (await audit_rows(app, p.tenant.id))[-1]
    assert (row.action, row.actor_id, row.target_type, row.target_id) == (
        "contact.merged",
        agent.id,
        "contact",
        p.kept,
    )
    assert row.details["merged_contact_id"] == p.other
    assert row.details["conversations"] == 1
    assert "Maria" not in str(row.details) and "maria" not in str(row.details)

    # Announced after commit: the moved conversation now names the kept contact.
    updates = await events(app, p.tenant, "conversation.updated", after=seq)
    assert [(e["conversation_id"], e["data"]["contact"]["id"]) for e in updates] == [
        (p.other_conversation, p.kept)
    ]

    # The customer writing on Instagram again lands on the merged contact.
    await app.post_webhook(
        p.ig, notificame_message(p.ig, text="Oi de novo", sender="ig-778899", name="maria.ig")
    )
    page = (await agent.http.get(f"/api/contacts/{p.kept}/conversations")).json()
    assert len(page["items"]) == 3 and page["items"][0]["channel"]["kind"] == "instagram"


async def test_open_conversations_on_one_channel_become_one_open_and_one_resolved(app: App) -> None:
    t = await app.tenant()
    wa = await t.channel("whatsapp")
    first = await conversation(app, wa, text="Oi, número antigo", name="João", sender="5511911110001")
    second = await conversation(app, wa, text="Oi, número novo", name="João Souza", sender="5511911110002")
    kept, other = await contact_of(app, first), await contact_of(app, second)
    await t.admin.http.patch(f"/api/contacts/{other}", json={"lead_status": "customer"})
    await t.admin.http.patch(f"/api/contacts/{kept}", json={"lead_status": "contacted"})

    r = await t.admin.http.post(f"/api/contacts/{kept}/merge", json={"other_id": other})
    assert r.status_code == 200, r.text
    assert r.json()["merged"]["resolved_conversations"] == [first]  # the older activity
    assert r.json()["contact"]["lead_status"] == "contacted"  # the kept one's stage wins
    one = (await t.admin.http.get(f"/api/conversations/{first}")).json()
    two = (await t.admin.http.get(f"/api/conversations/{second}")).json()
    assert (one["status"], two["status"]) == ("resolved", "queued")
    texts = [
        x["text"] for x in (await t.admin.http.get(f"/api/conversations/{first}/messages")).json()["items"]
    ]
    assert texts[0] == "Oi, número antigo"
    assert f"continues in conversation {second}" in texts[-1]
    # Either number writing again goes to the one open conversation.
    await app.post_webhook(
        wa, notificame_message(wa, text="Pelo antigo", sender="5511911110001", name="João")
    )
    texts = [
        x["text"] for x in (await t.admin.http.get(f"/api/conversations/{second}/messages")).json()["items"]
    ]
    assert texts[-1] == "Pelo antigo"


async def test_a_held_conversation_resolved_by_a_merge_closes_its_holders_interval(app: App) -> None:
    """The merge's resolution is a change of hands like any other: a `resolve` row by the one who
    merged, from the agent who held the conversation (its history, and the reports, say so)."""
    t = await app.tenant()
    wa = await t.channel("whatsapp")
    holder = await t.agent(name="Ana")
    first = await conversation(app, wa, text="Oi, número antigo", name="João", sender="5511911110003")
    second = await conversation(app, wa, text="Oi, número novo", name="João Souza", sender="5511911110004")
    r = await t.admin.http.post(f"/api/conversations/{first}/assign", json={"agent_id": holder.id})
    assert r.status_code == 200, r.text
    kept, other = await contact_of(app, first), await contact_of(app, second)

    r = await t.admin.http.post(f"/api/contacts/{kept}/merge", json={"other_id": other})
    assert r.status_code == 200, r.text
    assert r.json()["merged"]["resolved_conversations"] == [first]
    history = (await t.admin.http.get(f"/api/conversations/{first}/assignments")).json()["items"]
    assert [(x["reason"], x["from_agent_id"], x["to_agent_id"]) for x in history] == [
        ("manual", None, holder.id),
        ("resolve", holder.id, None),
    ]
    assert history[-1]["actor_id"] == t.admin.id
    assert history[-1]["held_since"] == history[0]["at"]


async def test_a_failure_midway_leaves_both_contacts_as_they_were(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = await _pair(app)
    # Both have an open conversation on WhatsApp, so the merge also resolves one before failing.
    other_wa = await contact_of(
        app, await conversation(app, p.wa, text="Outro número", name="Maria", sender="5511987650002")
    )
    before = await _state(app, p.tenant.id)
    seq = await last_seq(app, p.tenant)
    actor = Principal(p.tenant.admin.id, p.tenant.id, "admin", "Admin", p.tenant.admin.email)

    async def broken(*args: Any) -> dict[str, Any]:  # after identities, conversations, appointments moved
        raise RuntimeError("disk full")

    monkeypatch.setattr(merge_action, "merged_profile", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        async with app.runtime.uow() as uow:
            await merge_action.merge(uow, actor, p.kept, other_wa)
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="after the merge"):
        async with app.runtime.uow() as uow:
            await merge_action.merge(uow, actor, p.kept, p.other)
            raise RuntimeError("after the merge, before the commit")
    assert await _state(app, p.tenant.id) == before
    assert await last_seq(app, p.tenant) == seq  # nothing announced either

    # And it goes through afterwards.
    r = await p.tenant.admin.http.post(f"/api/contacts/{p.kept}/merge", json={"other_id": other_wa})
    assert r.status_code == 200, r.text


async def test_merge_refuses_itself_bad_bodies_and_other_tenants_contacts(app: App) -> None:
    p = await _pair(app)
    theirs = await _pair(app)
    admin = p.tenant.admin
    r = await admin.http.post(f"/api/contacts/{p.kept}/merge", json={"other_id": p.kept})
    assert r.status_code == 422 and "itself" in r.json()["error"]
    for bad in ({}, {"other_id": "x"}, {"other_id": 0}, {"other_id": p.other, "also": 1}, [p.other]):
        r = await admin.http.post(f"/api/contacts/{p.kept}/merge", json=bad)
        assert r.status_code == 400, (bad, r.text)
    missing = 987_654_321
    before = await _state(app, theirs.tenant.id)
    ours_before = await _state(app, p.tenant.id)
    cases = (
        (p.kept, theirs.other, p.kept, missing),
        (theirs.kept, p.other, missing, p.other),
        (theirs.kept, theirs.other, missing, missing + 1),
    )
    for path_id, other_id, missing_path_id, missing_other_id in cases:
        r = await admin.http.post(f"/api/contacts/{path_id}/merge", json={"other_id": other_id})
        nothing = await admin.http.post(
            f"/api/contacts/{missing_path_id}/merge", json={"other_id": missing_other_id}
        )
        assert (r.status_code, r.json()) == (404, {"error": "contact not found", "code": "not_found"})
        assert (nothing.status_code, nothing.json()) == (r.status_code, r.json())
    for path in ("conversations", "merge-candidates"):
        assert (await admin.http.get(f"/api/contacts/{theirs.kept}/{path}")).status_code == 404
    assert await _state(app, theirs.tenant.id) == before
    assert await _state(app, p.tenant.id) == ours_before


async def _queued_pair(app: App) -> tuple[Tenant, Agent, int, int, int]:
    """Ana works queue A. One contact writes on A's channel, another on queue B's channel."""
    t = await app.tenant()
    ana = await t.agent(name="Ana")
    qa, qb = await queue(t, "A", ana.id), await queue(t, "B")
    cha, chb = await t.channel("whatsapp", queue_id=qa), await t.channel("instagram", queue_id=qb)
    mine = await conversation(app, cha, name="Visível", sender="5511922220001")
    hidden = await conversation(app, chb, name="Escondido", sender="ig-22220002")
    return t, ana, await contact_of(app, mine), await contact_of(app, hidden), hidden


async def test_an_agent_merges_only_contacts_it_may_read(app: App) -> None:
    t, ana, mine, hidden, hidden_conv = await _queued_pair(app)
    r = await ana.http.post(f"/api/contacts/{mine}/merge", json={"other_id": hidden})
    assert r.status_code == 403, r.text
    r = await ana.http.post(f"/api/contacts/{hidden}/merge", json={"other_id": mine})
    assert r.status_code == 403, r.text
    assert (await ana.http.get(f"/api/contacts/{hidden}/merge-candidates?q=Esc")).status_code == 403
    assert (await ana.http.get(f"/api/contacts/{mine}/merge-candidates?q=Esc")).json()["items"] == []
    assert await contact_of(app, hidden_conv) == hidden

    supervisor = await t.agent(role="supervisor")
    found = (await supervisor.http.get(f"/api/contacts/{mine}/merge-candidates?q=esc")).json()["items"]
    assert [c["id"] for c in found] == [hidden]
    r = await supervisor.http.post(f"/api/contacts/{mine}/merge", json={"other_id": hidden})
    assert r.status_code == 200, r.text
    # Ana's panel lists only what she may open; the supervisor's, both.
    ana_page = (await ana.http.get(f"/api/contacts/{mine}/conversations")).json()["items"]
    sup_page = (await supervisor.http.get(f"/api/contacts/{mine}/conversations")).json()["items"]
    assert len(ana_page) == 1 and len(sup_page) == 2
    assert hidden_conv not in [c["id"] for c in ana_page]


async def test_merge_candidates_share_an_email_or_a_phone(app: App) -> None:
    t = await app.tenant()
    wa, ig = await t.channel("whatsapp"), await t.channel("instagram")
    base = await contact_of(app, await conversation(app, wa, name="Carla", sender="5511933330001"))
    by_phone = await contact_of(app, await conversation(app, ig, name="carla.ig", sender="ig-3333"))
    by_email = await contact_of(app, await conversation(app, ig, name="C. Dias", sender="ig-4444"))
    by_wa_id = await contact_of(app, await conversation(app, wa, name="Carla 2", sender="5511933330009"))
    stranger = await contact_of(app, await conversation(app, ig, name="Outro", sender="ig-5555"))
    admin = t.admin.http
    await admin.patch(
        f"/api/contacts/{base}", json={"email": "carla@example.com", "phone": "+55 11 93333-0009"}
    )
    await admin.patch(f"/api/contacts/{by_phone}", json={"phone": "5511933330001"})
    await admin.patch(f"/api/contacts/{by_email}", json={"email": "Carla@Example.com"})
    await admin.patch(
        f"/api/contacts/{stranger}", json={"email": "outro@example.com", "phone": "5511900000000"}
    )
    found = (await admin.get(f"/api/contacts/{base}/merge-candidates")).json()["items"]
    assert sorted(c["id"] for c in found) == sorted([by_phone, by_email, by_wa_id])
    found = (await admin.get(f"/api/contacts/{base}/merge-candidates?q=CARLA")).json()["items"]
    assert sorted(c["id"] for c in found) == sorted([by_phone, by_email, by_wa_id])
    r = await admin.get(f"/api/contacts/{base}/merge-candidates", params={"q": "+55 (11) 90000"})
    found = r.json()["items"]
    assert [c["id"] for c in found] == [stranger]
    r = await admin.get(f"/api/contacts/{base}/merge-candidates", params={"q": "x" * 201})
    assert r.status_code == 400


def test_every_table_pointing_at_contacts_is_moved_by_a_merge() -> None:
    pointing = {
        table.name
        for table in m.metadata.tables.values()
        for column in table.columns
        for fk in column.foreign_keys
        if fk.column.table is m.contacts
    }
    assert pointing == {t.name for t in merge_action.MOVED}
    assert all("contact_id" in t.c and "tenant_id" in t.c for t in merge_action.MOVED)


async def test_appointment_changes_are_audited_without_their_title(app: App) -> None:
    p = await _pair(app)
    appointment = (await p.tenant.admin.http.get(f"/api/contacts/{p.other}/appointments")).json()["items"][0]
    r = await p.tenant.admin.http.patch(
        f"/api/appointments/{appointment['id']}", json={"status": "completed"}
    )
    assert r.status_code == 200, r.text
    rows = [r for r in await audit_rows(app, p.tenant.id) if r.target_type == "appointment"]
    assert [(r.action, r.target_id) for r in rows] == [
        ("appointment.created", appointment["id"]),
        ("appointment.changed", appointment["id"]),
    ]
    assert rows[1].details["previous_status"] == "scheduled" and rows[1].details["status"] == "completed"
    assert "Limpeza" not in str([r.details for r in rows])
    async with app.runtime.engine.connect() as conn:
        n = (await conn.execute(select(func.count()).where(ap.contact_id == p.other))).scalar_one()
    assert n == 1
