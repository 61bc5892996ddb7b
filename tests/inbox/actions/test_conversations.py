"""POST /api/conversations/{id}/assign|resolve|reopen|snooze|handoff and PUT /api/agents/me/status:
rules, permissions, system messages, events, tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from inbox import models as m
from inbox.actions import admin
from inbox.workers.routing import snooze_job
from tests.inbox.routing_support import (
    conv,
    conversation,
    events,
    last_seq,
    messages_of,
    set_conversation,
    status,
)
from tests.support import App, notificame_message


def system_texts(rows: list) -> list[str]:
    return [r.text for r in rows if r.sender_type == "system"]


async def test_agent_takes_an_unassigned_conversation(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent(name="Ana")
    cid = await conversation(app, ch)
    before = await last_seq(app, t)
    r = await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "assigned" and r.json()["assignee_id"] == a.id
    row = await conv(app, cid)
    assert row.assigned_at is not None
    assert system_texts(await messages_of(app, cid)) == ["Assigned to Ana"]
    types = [e["type"] for e in await events(app, t, after=before)]
    assert types == ["message.created", "conversation.updated"]


async def test_transfer_tells_the_previous_assignee_and_moves_visibility(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a, b = await t.agent(name="Ana"), await t.agent(name="Bia")
    cid = await conversation(app, ch)
    assert (await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})).status_code == 200
    before = await last_seq(app, t)
    r = await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": b.id})
    assert r.status_code == 200 and r.json()["assignee_id"] == b.id
    [updated] = await events(app, t, "conversation.updated", after=before)
    assert updated["assignee_id"] == b.id and updated["prev_assignee_id"] == a.id
    assert system_texts(await messages_of(app, cid))[-1] == "Assigned to Bia by Ana"
    # Now Ana may no longer see it, nor take it back.
    assert (await a.http.get(f"/api/conversations/{cid}")).status_code == 403
    r = await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})
    assert r.status_code == 403
    # A supervisor may move anything; null gives it back to the queue.
    sup = await t.agent(role="supervisor")
    r = await sup.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": None})
    assert r.status_code == 200 and r.json()["status"] == "queued" and r.json()["assignee_id"] is None


async def test_back_to_the_queue_keeps_the_place_of_an_unanswered_customer(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent()
    cid = await conversation(app, ch)
    first_queued = (await conv(app, cid)).queued_at
    await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})
    r = await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": None})
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert (await conv(app, cid)).queued_at == first_queued


async def test_assign_checks(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    ch = await t.channel()
    a = await t.agent()
    stranger = await other.agent()
    cid = await conversation(app, ch)
    url = f"/api/conversations/{cid}/assign"
    assert (await a.http.post(url, json={"agent_id": stranger.id})).status_code == 404
    assert (await a.http.post(url, json={"agent_id": "x"})).status_code == 400
    assert (await a.http.post(url, json={})).status_code == 400
    assert (await a.http.post("/api/conversations/nope/assign", json={"agent_id": None})).status_code == 404
    gone = await t.agent()
    async with app.runtime.uow() as uow:
        await admin.disable_agent(uow, t.id, gone.id)
    assert (await a.http.post(url, json={"agent_id": gone.id})).status_code == 422


@pytest.mark.parametrize("action", ["assign", "resolve", "reopen", "snooze", "handoff"])
async def test_another_tenants_conversation_is_not_found(app: App, action: str) -> None:
    t, other = await app.tenant(), await app.tenant()
    cid = await conversation(app, await other.channel())
    bodies = {
        "assign": {"agent_id": t.admin.id},
        "snooze": {"until": (m.utcnow() + timedelta(hours=1)).isoformat()},
    }
    r = await t.admin.http.post(f"/api/conversations/{cid}/{action}", json=bodies.get(action, {}))
    assert r.status_code == 404, r.text
    row = await conv(app, cid)
    assert row.status == "queued" and row.assignee_id is None


async def test_agent_may_not_act_on_a_colleagues_conversation(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a, b = await t.agent(), await t.agent()
    cid = await conversation(app, ch)
    await set_conversation(app, cid, status="assigned", assignee_id=b.id)
    for action in ("resolve", "reopen", "handoff"):
        assert (await a.http.post(f"/api/conversations/{cid}/{action}")).status_code == 403
    until = (m.utcnow() + timedelta(hours=1)).isoformat()
    assert (await a.http.post(f"/api/conversations/{cid}/snooze", json={"until": until})).status_code == 403
    assert (await conv(app, cid)).status == "assigned"


async def test_resolve_and_reopen(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent(name="Ana")
    cid = await conversation(app, ch)
    await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})
    r = await a.http.post(f"/api/conversations/{cid}/resolve")
    assert r.status_code == 200 and r.json()["status"] == "resolved" and r.json()["resolved_at"]
    assert r.json()["assignee_id"] == a.id  # credited in reports, no longer counted as load
    seq = await last_seq(app, t)
    assert (await a.http.post(f"/api/conversations/{cid}/resolve")).status_code == 200  # idempotent
    assert await last_seq(app, t) == seq
    assert (await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})).status_code == 409
    r = await a.http.post(f"/api/conversations/{cid}/reopen")
    assert r.status_code == 200 and r.json()["status"] == "assigned" and r.json()["assignee_id"] == a.id
    assert r.json()["resolved_at"] is None
    assert system_texts(await messages_of(app, cid))[-2:] == ["Resolved by Ana", "Reopened by Ana"]


async def test_reopen_when_the_contact_has_another_open_conversation_is_409(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    old = await conversation(app, ch, sender="5511988887777")
    assert (await t.admin.http.post(f"/api/conversations/{old}/resolve")).status_code == 200
    new = await conversation(app, ch, sender="5511988887777")
    assert new != old
    r = await t.admin.http.post(f"/api/conversations/{old}/reopen")
    assert r.status_code == 409
    assert f"open conversation on this channel (id {new})" in r.json()["error"]
    assert (await conv(app, old)).status == "resolved"


async def test_reopen_without_an_active_assignee_queues(app: App) -> None:
    t = await app.tenant()
    cid = await conversation(app, await t.channel())
    await t.admin.http.post(f"/api/conversations/{cid}/resolve")
    r = await t.admin.http.post(f"/api/conversations/{cid}/reopen")
    assert r.status_code == 200 and r.json()["status"] == "queued"


async def test_snooze_and_customer_message_wakes_it(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent()
    sender = "5511977776666"
    cid = await conversation(app, ch, sender=sender)
    await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})
    past = (m.utcnow() - timedelta(minutes=1)).isoformat()
    assert (await a.http.post(f"/api/conversations/{cid}/snooze", json={"until": past})).status_code == 400
    assert (await a.http.post(f"/api/conversations/{cid}/snooze", json={"until": "soon"})).status_code == 400
    until = m.utcnow() + timedelta(hours=2)
    r = await a.http.post(f"/api/conversations/{cid}/snooze", json={"until": until.isoformat()})
    assert r.status_code == 200 and r.json()["status"] == "snoozed"
    assert r.json()["assignee_id"] == a.id
    async with app.runtime.engine.connect() as conn:
        job = (
            await conn.execute(select(m.jobs).where(m.jobs.c.kind == "snooze", m.jobs.c.key == str(cid)))
        ).one()
    assert abs((job.run_at - until).total_seconds()) < 0.01
    # The customer writes: back to the assignee at once (ingest wakes snoozed conversations).
    r = await app.post_webhook(ch, notificame_message(ch, text="still there?", sender=sender))
    assert r.status_code == 200
    row = await conv(app, cid)
    assert row.status == "assigned" and row.assignee_id == a.id and row.snoozed_until is None


async def test_snooze_job_wakes_on_time_and_respects_a_later_snooze(app: App) -> None:
    t = await app.tenant()
    cid = await conversation(app, await t.channel())
    until = m.utcnow() + timedelta(hours=1)
    r = await t.admin.http.post(f"/api/conversations/{cid}/snooze", json={"until": until.isoformat()})
    assert r.status_code == 200

    async def job() -> object:
        async with app.runtime.engine.connect() as conn:
            q = select(m.jobs).where(m.jobs.c.kind == "snooze", m.jobs.c.key == str(cid))
            return (await conn.execute(q)).one()

    await snooze_job(app.runtime, await job())  # early: nothing happens, the job moves to `until`
    assert (await conv(app, cid)).status == "snoozed"
    await set_conversation(app, cid, snoozed_until=m.utcnow() - timedelta(seconds=1))
    await snooze_job(app.runtime, await job())
    row = await conv(app, cid)
    assert row.status == "queued" and row.snoozed_until is None  # no assignee: back to the queue
    assert system_texts(await messages_of(app, cid))[-1] == "Snooze ended"


async def test_handoff_and_takeover_of_a_bot_conversation(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel(bot=True)
    a = await t.agent(name="Ana")
    first = await conversation(app, ch)
    second = await conversation(app, ch)
    assert (await conv(app, first)).status == "bot"
    r = await a.http.post(f"/api/conversations/{first}/handoff", json={"reason": "VIP customer"})
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert r.json()["handoff_reason"] == "VIP customer"
    row = await conv(app, first)
    assert row.handed_off_at is not None and row.queued_at == row.handed_off_at
    # Handoff of a conversation already with humans answers it unchanged.
    r = await a.http.post(f"/api/conversations/{first}/handoff")
    assert r.status_code == 200 and r.json()["status"] == "queued"
    # Assigning a bot conversation is an agent taking over.
    r = await a.http.post(f"/api/conversations/{second}/assign", json={"agent_id": a.id})
    assert r.status_code == 200 and r.json()["status"] == "assigned"
    assert r.json()["handoff_reason"] == "taken over by Ana"
    assert (await conv(app, second)).handed_off_at is not None


async def test_status_route(app: App) -> None:
    t = await app.tenant()
    a = await t.agent()
    r = await a.http.put("/api/agents/me/status", json={"status": "busy"})
    assert r.status_code == 400
    before = await last_seq(app, t)
    await status(a, "online")
    await status(a, "online")  # the same again: no news
    updates = await events(app, t, "agent.updated", after=before)
    assert len(updates) == 1 and updates[0]["data"]["status"] == "online"
    r = await a.http.get("/api/agents")
    assert r.status_code == 200
    mine = next(x for x in r.json()["items"] if x["id"] == a.id)
    assert mine["status"] == "online" and mine["open_conversations"] == 0 and "password_hash" not in mine
    assert {x["id"] for x in r.json()["items"]} == {a.id, t.admin.id}
