"""The assignment history: every path that changes a conversation's hands writes its row in the same
transaction (auto, manual, reply, transfer, handoff, requeue, unassign, resolve, reopen); changes that
keep the hands (snooze) write none; a change of hands without a reason is refused; the timeline's
list is the visible conversation's rows only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import actions as bot_actions
from inbox import models as m
from inbox.actions import conversations
from inbox.workers.routing import route_tenant
from tests.inbox.routing_support import (
    ago,
    conv,
    conversation,
    set_agent,
    set_conversation,
    set_settings,
    status,
)
from tests.support import App

asg = m.assignments.c


async def rows(app: App, conversation_id: int) -> list[Any]:
    async with app.runtime.engine.connect() as conn:
        q = select(m.assignments).where(asg.conversation_id == conversation_id).order_by(asg.at, asg.id)
        return list((await conn.execute(q)).all())


def shape(r: Any) -> tuple[Any, ...]:
    return (r.reason, r.from_agent_id, r.to_agent_id, r.actor_id)


async def test_people_paths_each_write_their_row(app: App) -> None:
    t = await app.tenant()
    ana, bruno = await t.agent(name="Ana"), await t.agent(name="Bruno")
    sup = t.admin
    ch = await t.channel()
    cid = await conversation(app, ch)
    post = sup.http.post
    assert (await post(f"/api/conversations/{cid}/assign", json={"agent_id": ana.id})).status_code == 200
    r = await post(f"/api/conversations/{cid}/transfer", json={"agent_id": bruno.id, "note": "preço"})
    assert r.status_code == 200, r.text
    assert (await post(f"/api/conversations/{cid}/snooze", json={"until": "2099-01-01T00:00:00Z"})).is_success
    assert (await post(f"/api/conversations/{cid}/resolve")).status_code == 200
    assert (await post(f"/api/conversations/{cid}/reopen")).status_code == 200
    assert (await post(f"/api/conversations/{cid}/assign", json={"agent_id": None})).status_code == 200
    # No-ops write nothing: unassigning what nobody holds, resolving twice.
    assert (await post(f"/api/conversations/{cid}/assign", json={"agent_id": None})).status_code == 200

    got = await rows(app, cid)
    assert [shape(r) for r in got] == [
        ("manual", None, ana.id, sup.id),
        ("transfer", ana.id, bruno.id, sup.id),  # the snooze kept it Bruno's: no row
        ("resolve", bruno.id, None, sup.id),
        ("reopen", None, bruno.id, sup.id),
        ("unassign", bruno.id, None, sup.id),
    ]
    # Each closed interval starts where the holder got it.
    assert got[1].held_since == got[0].at
    assert got[2].held_since == got[1].at
    assert got[4].held_since == got[3].at

    # The timeline's list: the same rows for whoever sees the conversation.
    r = await sup.http.get(f"/api/conversations/{cid}/assignments")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["reason"], i["from_agent_id"], i["to_agent_id"]) for i in items] == [
        (x.reason, x.from_agent_id, x.to_agent_id) for x in got
    ]
    other = await app.tenant("Other")
    assert (await other.admin.http.get(f"/api/conversations/{cid}/assignments")).status_code == 404


async def test_routing_writes_auto_and_requeue(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    gone, here = await t.agent(name="Gone"), await t.agent(name="Here")
    await status(gone, "online")
    cid = await conversation(app, ch)
    assert (await route_tenant(app.runtime, t.id)).assigned == [(cid, gone.id)]
    await status(gone, "away")
    await set_agent(app, gone.id, status_changed_at=ago(120))
    await status(here, "online")
    await set_settings(app, t, requeue_offline_after_seconds=60)
    r = await route_tenant(app.runtime, t.id)
    assert r.requeued == [cid] and r.assigned == [(cid, here.id)]
    got = await rows(app, cid)
    assert [shape(x) for x in got] == [
        ("auto", None, gone.id, None),
        ("requeue", gone.id, None, None),
        ("auto", None, here.id, None),
    ]
    assert got[1].held_since == got[0].at


async def test_a_conversation_from_before_the_history_starts_its_interval_at_assigned_at(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    ana, bruno = await t.agent(), await t.agent()
    cid = await conversation(app, ch)
    since = ago(900)
    await set_conversation(app, cid, status="assigned", assignee_id=ana.id, assigned_at=since)
    r = await t.admin.http.post(f"/api/conversations/{cid}/transfer", json={"agent_id": bruno.id})
    assert r.status_code == 200
    (row,) = await rows(app, cid)
    assert (row.reason, row.from_agent_id, row.held_since) == ("transfer", ana.id, since)


async def test_bot_handoff_and_a_reply_taking_over(app: App) -> None:
    t = await app.tenant()
    ana = await t.agent(name="Ana")
    ch = await t.channel(bot=True)
    cid = await conversation(app, ch)
    assert (await conv(app, cid)).status == "bot"
    async with app.runtime.uow() as uow:
        outcome = await bot_actions.hand_off(
            uow, t.id, cid, reason="asked for a person", message=None, outcome="handed_off", answer=None
        )
    assert outcome == "handed_off"
    # A queued conversation answered by an agent becomes theirs.
    r = await ana.http.post(f"/api/conversations/{cid}/messages", json={"text": "Olá!"})
    assert r.status_code == 202, r.text
    assert [shape(x) for x in await rows(app, cid)] == [
        ("handoff", None, None, None),
        ("manual", None, ana.id, ana.id),
    ]


async def test_an_agent_taking_over_from_the_bot(app: App) -> None:
    t = await app.tenant()
    ana = await t.agent(name="Ana")
    ch = await t.channel(bot=True)
    cid = await conversation(app, ch)
    r = await ana.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": ana.id})
    assert r.status_code == 200, r.text
    assert [shape(x) for x in await rows(app, cid)] == [("handoff", None, ana.id, ana.id)]


async def test_a_change_of_hands_without_a_reason_is_refused(app: App) -> None:
    t = await app.tenant()
    ana = await t.agent()
    ch = await t.channel()
    cid = await conversation(app, ch)
    with pytest.raises(RuntimeError, match="reason"):
        async with app.runtime.uow() as uow:
            row = await conversations.load(uow, t.id, cid, lock=True)
            await conversations.change(uow, row, None, status="assigned", assignee_id=ana.id)
    # Rolled back: nothing changed, nothing recorded.
    assert (await conv(app, cid)).assignee_id is None and await rows(app, cid) == []


async def test_the_migration_back_fills_what_the_rows_tell(app: App) -> None:
    """The back-fill's statements run on a database already at head in the migration test; here the
    same rules on rows shaped as before the history (no rows of their own)."""
    from importlib import import_module

    migration = import_module("migrations.versions.0011_assignment_history")
    t = await app.tenant()
    ana = await t.agent()
    ch = await t.channel()
    cid = await conversation(app, ch)
    handed, assigned = ago(3600), ago(3500)
    resolved = assigned + timedelta(minutes=30)
    await set_conversation(
        app,
        cid,
        status="resolved",
        assignee_id=ana.id,
        handed_off_at=handed,
        assigned_at=assigned,
        resolved_at=resolved,
    )
    async with app.runtime.engine.begin() as conn:
        steps = migration.backfill_steps()
        for step in steps:
            await conn.execute(
                migration.insert_step(step.where(migration.cv.c.id == cid))  # this conversation only
            )
    assert [(x.reason, x.from_agent_id, x.to_agent_id, x.at, x.held_since) for x in await rows(app, cid)] == [
        ("handoff", None, None, handed, None),
        ("backfill", None, ana.id, assigned, None),
        ("resolve", ana.id, None, resolved, assigned),
    ]
