"""The assignment policy, one routing pass at a time (the session app runs no workers, so each test
calls `route_tenant` itself and sees exactly one pass's effect)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from inbox import models as m
from inbox.workers import routing
from inbox.workers.routing import route_tenant, tenants_with_work
from tests.inbox.routing_support import (
    ago,
    conv,
    conversation,
    events,
    last_seq,
    messages_of,
    queue,
    set_agent,
    set_conversation,
    set_settings,
    status,
)
from tests.support import App, notificame_message


async def test_capacity_is_never_exceeded(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent(capacity=2)
    await status(a, "online")
    ids = [await conversation(app, ch) for _ in range(3)]
    r = await route_tenant(app.runtime, t.id)
    assert len(r.assigned) == 2
    rows = [await conv(app, i) for i in ids]
    assert [x.status for x in rows] == ["assigned", "assigned", "queued"]
    assert {x.assignee_id for x in rows[:2]} == {a.id}
    # Nothing more on a second pass: the agent is full.
    assert (await route_tenant(app.runtime, t.id)).assigned == []


async def test_longest_waiting_first(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent(capacity=1)
    await status(a, "online")
    c1, c2, c3 = [await conversation(app, ch) for _ in range(3)]
    await set_conversation(app, c1, queued_at=ago(60))
    await set_conversation(app, c2, queued_at=ago(300))
    await set_conversation(app, c3, queued_at=ago(120))
    r = await route_tenant(app.runtime, t.id)
    assert r.assigned == [(c2, a.id)]


async def test_least_loaded_agent_first(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    busy, free = await t.agent(capacity=5), await t.agent(capacity=5)
    for _ in range(2):
        cid = await conversation(app, ch)
        await set_conversation(app, cid, status="assigned", assignee_id=busy.id)
    await status(busy, "online")
    await status(free, "online")
    ids = [await conversation(app, ch) for _ in range(3)]
    r = await route_tenant(app.runtime, t.id)
    # free: 0 -> 1 -> 2 takes the first two; then both have 2 and the tie goes to the one idle longest.
    by_conv = dict(r.assigned)
    assert by_conv[ids[0]] == free.id
    assert by_conv[ids[1]] == free.id
    assert by_conv[ids[2]] == busy.id


async def test_ties_go_to_the_agent_idle_longest(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    recent, idle = await t.agent(), await t.agent()
    await status(recent, "online")
    await status(idle, "online")
    await set_agent(app, recent.id, last_assigned_at=ago(60))
    await set_agent(app, idle.id, last_assigned_at=ago(600))
    c1 = await conversation(app, ch)
    assert (await route_tenant(app.runtime, t.id)).assigned == [(c1, idle.id)]
    # Now `idle` has one open conversation: the next one goes to `recent` (least loaded first)...
    c2 = await conversation(app, ch)
    assert (await route_tenant(app.runtime, t.id)).assigned == [(c2, recent.id)]
    # ...and with both at one, to the one whose last assignment is older: `idle` (assigned before c2).
    c3 = await conversation(app, ch)
    assert (await route_tenant(app.runtime, t.id)).assigned == [(c3, idle.id)]


async def test_away_and_offline_agents_get_nothing_new(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    away, offline, online = await t.agent(), await t.agent(), await t.agent()
    await status(away, "away")
    await status(online, "online")
    await set_agent(app, away.id, last_assigned_at=ago(9999))  # would win every tie if eligible
    await set_agent(app, offline.id, last_assigned_at=ago(9999))
    ids = [await conversation(app, ch) for _ in range(3)]
    r = await route_tenant(app.runtime, t.id)
    assert sorted(r.assigned) == sorted((i, online.id) for i in ids)


async def test_pick_up_when_capacity_appears(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent(capacity=1)
    c1, c2 = await conversation(app, ch), await conversation(app, ch)
    await set_conversation(app, c1, queued_at=ago(20))
    assert (await route_tenant(app.runtime, t.id)).assigned == []  # nobody online
    await status(a, "online")  # capacity appears: an agent comes online
    assert (await route_tenant(app.runtime, t.id)).assigned == [(c1, a.id)]
    assert (await route_tenant(app.runtime, t.id)).assigned == []  # full
    r = await a.http.post(f"/api/conversations/{c1}/resolve")  # capacity appears: a resolve
    assert r.status_code == 200, r.text
    assert (await route_tenant(app.runtime, t.id)).assigned == [(c2, a.id)]
    # A transfer away frees capacity too.
    other = await t.agent()
    c3 = await conversation(app, ch)
    r = await a.http.post(f"/api/conversations/{c2}/assign", json={"agent_id": other.id})
    assert r.status_code == 200, r.text
    assert (await route_tenant(app.runtime, t.id)).assigned == [(c3, a.id)]


async def test_queue_membership(app: App) -> None:
    t = await app.tenant()
    sales_agent, support_agent, no_queue_agent = await t.agent(), await t.agent(), await t.agent()
    sales = await queue(app, t, "Sales", sales_agent)
    support = await queue(app, t, "Support", support_agent)
    for a in (sales_agent, support_agent, no_queue_agent):
        await status(a, "online")
    # The agent without queues would win every tie, so only membership can keep it out.
    await set_agent(app, sales_agent.id, last_assigned_at=ago(10))
    await set_agent(app, support_agent.id, last_assigned_at=ago(10))
    in_sales = await conversation(app, await t.channel(queue_id=sales))
    in_support = await conversation(app, await t.channel(queue_id=support))
    r = await route_tenant(app.runtime, t.id)
    assert dict(r.assigned) == {in_sales: sales_agent.id, in_support: support_agent.id}
    # A conversation of a channel without a queue is everyone's: the idlest agent takes it.
    anywhere = await conversation(app, await t.channel())
    assert (await route_tenant(app.runtime, t.id)).assigned == [(anywhere, no_queue_agent.id)]


async def test_manual_mode_assigns_nothing(app: App) -> None:
    t = await app.tenant()
    await set_settings(app, t, auto_assign=False)
    ch = await t.channel()
    a = await t.agent()
    await status(a, "online")
    cid = await conversation(app, ch)
    assert (await route_tenant(app.runtime, t.id)).assigned == []
    assert (await conv(app, cid)).status == "queued"
    # Agents pick from the queue themselves.
    r = await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})
    assert r.status_code == 200 and r.json()["assignee_id"] == a.id


async def test_roles_setting_limits_who_is_picked(app: App) -> None:
    t = await app.tenant()
    await set_settings(app, t, assign_roles=["agent"])
    ch = await t.channel()
    await status(t.admin, "online")
    cid = await conversation(app, ch)
    assert (await route_tenant(app.runtime, t.id)).assigned == []
    a = await t.agent()
    await status(a, "online")
    assert (await route_tenant(app.runtime, t.id)).assigned == [(cid, a.id)]


async def test_assignment_writes_a_system_message_and_events(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent(name="Ana")
    await status(a, "online")
    cid = await conversation(app, ch)
    before = await last_seq(app, t)
    await route_tenant(app.runtime, t.id)
    row = await conv(app, cid)
    assert row.status == "assigned" and row.assignee_id == a.id and row.assigned_at is not None
    assert [x.text for x in await messages_of(app, cid) if x.sender_type == "system"] == [
        "Assigned to Ana automatically"
    ]
    updated = await events(app, t, "conversation.updated", after=before)
    assert [(e["conversation_id"], e["assignee_id"], e["data"]["status"]) for e in updated] == [
        (cid, a.id, "assigned")
    ]
    figures = await events(app, t, "queue.updated", after=before)
    assert len(figures) == 1 and figures[0]["queue_id"] == -1  # supervisors only
    assert figures[0]["data"]["totals"]["waiting"] == 0
    # Nothing changed: a second pass announces nothing.
    seq = await last_seq(app, t)
    r = await route_tenant(app.runtime, t.id)
    assert not r.announced and await events(app, t, after=seq) == []


async def test_requeue_after_grace_only_when_the_tenant_says_so(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    gone, here = await t.agent(name="Gone"), await t.agent()
    cid = await conversation(app, ch)
    await set_conversation(app, cid, status="assigned", assignee_id=gone.id, assigned_at=ago(500))
    await status(gone, "away")
    await set_agent(app, gone.id, status_changed_at=ago(120))
    await status(here, "online")
    assert (await route_tenant(app.runtime, t.id)).requeued == []  # default: stays theirs
    await set_settings(app, t, requeue_offline_after_seconds=300)
    assert (await route_tenant(app.runtime, t.id)).requeued == []  # within the grace period
    await set_settings(app, t, requeue_offline_after_seconds=60)
    before = await last_seq(app, t)
    r = await route_tenant(app.runtime, t.id)
    assert r.requeued == [cid] and r.assigned == [(cid, here.id)]
    texts = [x.text for x in await messages_of(app, cid) if x.sender_type == "system"]
    assert texts[-2:] == [
        "Returned to the queue: Gone is away",
        f"Assigned to {here.email.split('@')[0]} automatically",
    ]
    # The previous assignee gets the update that drops it from their list.
    updated = await events(app, t, "conversation.updated", after=before)
    assert updated[0]["prev_assignee_id"] == gone.id


async def test_sla_breach_is_flagged_once_with_an_event(app: App) -> None:
    t = await app.tenant()
    await set_settings(app, t, sla_first_response_seconds=60)
    ch = await t.channel()
    late, fresh, answered = [await conversation(app, ch) for _ in range(3)]
    await set_conversation(app, late, created_at=ago(120))
    await set_conversation(app, answered, created_at=ago(120), first_response_at=ago(100))
    before = await last_seq(app, t)
    r = await route_tenant(app.runtime, t.id)
    assert r.breached == [late]
    row = await conv(app, late)
    assert row.sla_breached_at == row.created_at + timedelta(seconds=60)  # when it breached, not when seen
    assert (await conv(app, fresh)).sla_breached_at is None
    breaches = await events(app, t, "sla.breached", after=before)
    assert len(breaches) == 1 and breaches[0]["queue_id"] == -1
    assert breaches[0]["data"]["conversation"]["id"] == late
    assert breaches[0]["data"]["conversation"]["sla_breached"] is True
    assert (await route_tenant(app.runtime, t.id)).breached == []


async def test_concurrent_passes_never_double_assign(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    agents = [await t.agent(capacity=2) for _ in range(3)]
    for a in agents:
        await status(a, "online")
    ids = await asyncio.gather(*(conversation(app, ch) for _ in range(12)))
    results = await asyncio.gather(*(route_tenant(app.runtime, t.id) for _ in range(6)))
    assigned = [pair for r in results for pair in r.assigned]
    assert len(assigned) == 6 and len({c for c, _ in assigned}) == 6
    rows = [await conv(app, i) for i in ids]
    loads = {a.id: sum(1 for x in rows if x.assignee_id == a.id) for a in agents}
    assert loads == {a.id: 2 for a in agents}
    for i in ids:
        autos = [x for x in await messages_of(app, i) if x.sender_type == "system"]
        assert len(autos) <= 1


async def test_the_poll_visits_only_tenants_with_due_work(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    a = await t.agent()
    cid = await conversation(app, ch)
    assert t.id in await tenants_with_work(app.runtime)  # someone waits
    await set_conversation(app, cid, status="assigned", assignee_id=a.id, created_at=ago(60))
    await status(a, "offline")
    await set_agent(app, a.id, status_changed_at=ago(600))
    # Unanswered for 60 s of a 900 s target, assignee offline but no requeue rule: nothing is due.
    assert t.id not in await tenants_with_work(app.runtime)
    await set_settings(app, t, sla_first_response_seconds=30)
    assert t.id in await tenants_with_work(app.runtime)
    await set_settings(app, t, sla_first_response_seconds=None, requeue_offline_after_seconds=900)
    assert t.id not in await tenants_with_work(app.runtime)
    await set_settings(app, t, sla_first_response_seconds=None, requeue_offline_after_seconds=300)
    assert t.id in await tenants_with_work(app.runtime)


async def test_the_poll_and_the_pass_find_running_clocks_beside_stopped_ones(app: App) -> None:
    """Running clocks are read from their index (ix_conversations_sla_clock), tenant by tenant:
    answered and flagged conversations beside them, however old, make nothing due; a clock the
    handoff started counts from the handoff."""
    a, b = await app.tenant(), await app.tenant()
    for t in (a, b):
        await set_settings(app, t, sla_first_response_seconds=60)
    agent_a, agent_b = await a.agent(), await b.agent()
    cha, chb = await a.channel(), await b.channel()
    answered, flagged, running = [await conversation(app, cha) for _ in range(3)]
    handed = await conversation(app, chb)
    held_a, held_b = (
        {"status": "assigned", "assignee_id": agent_a.id},
        {"status": "assigned", "assignee_id": agent_b.id},
    )
    await set_conversation(app, answered, created_at=ago(600), first_response_at=ago(590), **held_a)
    await set_conversation(app, flagged, created_at=ago(600), sla_breached_at=ago(540), **held_a)
    await set_conversation(app, running, created_at=ago(30), **held_a)
    await set_conversation(app, handed, created_at=ago(600), handed_off_at=ago(30), **held_b)
    due = await tenants_with_work(app.runtime)
    assert a.id not in due and b.id not in due
    await set_conversation(app, running, created_at=ago(90))
    await set_conversation(app, handed, handed_off_at=ago(90))
    due = await tenants_with_work(app.runtime)
    assert a.id in due and b.id in due
    assert (await route_tenant(app.runtime, a.id)).breached == [running]
    assert (await route_tenant(app.runtime, b.id)).breached == [handed]
    row = await conv(app, handed)
    assert row.sla_breached_at == row.handed_off_at + timedelta(seconds=60)
    assert (await conv(app, answered)).sla_breached_at is None
    assert b.id not in await tenants_with_work(app.runtime)  # flagged: its clock stopped


async def test_running_clocks_are_probes_in_their_index_on_sqlite(app: App) -> None:
    """SQLite uses a partial index only when the query's terms imply the index's, term by term: the
    poll's and the pass's reads of running clocks must be probes in ix_conversations_sla_clock by
    tenant (read from the open conversations, they grew with every one of them)."""
    engine = app.runtime.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    t = await app.tenant()
    await set_settings(app, t, sla_first_response_seconds=60)
    await conversation(app, await t.channel())
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        await tenants_with_work(app.runtime)
        await route_tenant(app.runtime, t.id)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)
    clocks = [(s, p) for s, p in seen if m.SLA_RUNNING in s]
    assert len(clocks) == 2  # the poll's oldest clock per tenant, the pass's breaches
    async with engine.connect() as conn:
        for statement, params in clocks:
            explained = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plan = [str(row["detail"]) for row in explained.mappings().all()]
            reads = [step for step in plan if "conversations" in step]
            assert any("ix_conversations_sla_clock (tenant_id=?" in step for step in reads), plan
            assert all("tenant_id=?" in step for step in reads), plan  # probes, no scans


async def test_passes_alongside_webhooks_and_actions_on_the_same_rows(app: App) -> None:
    """Routing never waits on rows others hold (it skips them), so a burst of customer messages, agents'
    actions and passes on the same conversations all complete, and capacity still holds."""
    t = await app.tenant()
    ch = await t.channel()
    agents = [await t.agent(capacity=2) for _ in range(2)]
    for a in agents:
        await status(a, "online")
    senders = [f"55118{i:08d}" for i in range(8)]
    ids = [await conversation(app, ch, sender=s) for s in senders]
    await set_settings(app, t, sla_first_response_seconds=1)
    for i in ids:
        await set_conversation(app, i, created_at=ago(30))

    async def burst(sender: str) -> int:
        r = await app.post_webhook(ch, notificame_message(ch, text="alô?", sender=sender))
        return r.status_code

    jobs: list[Any] = [burst(s) for s in senders * 2]
    jobs += [route_tenant(app.runtime, t.id) for _ in range(4)]
    jobs += [t.admin.http.post(f"/api/conversations/{i}/resolve") for i in ids[6:]]
    results = await asyncio.gather(*jobs)
    assert all(r == 200 for r in results[:16])
    assert all(r.status_code == 200 for r in results[20:])
    await route_tenant(app.runtime, t.id)
    rows = [await conv(app, i) for i in ids]
    assert {
        a.id: sum(1 for r in rows if r.assignee_id == a.id and r.status == "assigned") for a in agents
    } == {a.id: 2 for a in agents}
    assert all(r.sla_breached_at is not None for r in rows[:6])


async def test_the_worker_reads_todays_totals_at_most_every_few_seconds(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's announcements (throttled) reuse today's totals for TODAY_SECONDS: they read the
    whole day's traffic. A direct pass reads them afresh, as GET /api/queues does."""
    monkeypatch.setattr(routing, "TODAY_SECONDS", 3600.0)  # however slow the box
    t = await app.tenant()
    ch = await t.channel()
    await conversation(app, ch)
    before = await last_seq(app, t)
    assert (await route_tenant(app.runtime, t.id, throttle=True)).announced
    [first] = await events(app, t, "queue.updated", after=before)
    assert first["data"]["totals"]["messages_in"] == 1
    await conversation(app, ch)  # another customer: the queue moves, so the next pass announces
    routing._state(app.runtime).at.clear()  # past the announcement throttle, not the totals'
    seq = await last_seq(app, t)
    assert (await route_tenant(app.runtime, t.id, throttle=True)).announced
    [kept] = await events(app, t, "queue.updated", after=seq)
    assert kept["data"]["totals"]["waiting"] == 2 and kept["data"]["totals"]["messages_in"] == 1
    seq = await last_seq(app, t)
    await conversation(app, ch)
    assert (await route_tenant(app.runtime, t.id)).announced
    [fresh] = await events(app, t, "queue.updated", after=seq)
    assert fresh["data"]["totals"]["messages_in"] == 3
