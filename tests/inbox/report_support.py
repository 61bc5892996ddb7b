"""A scripted past day for the reports' tests (tests/inbox/test_reports.py, test_report_rollup.py):
four conversations on two channels with known times, written as the actions write them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inbox import models as m
from tests.inbox.routing_support import add_message, conv, conversation, set_conversation
from tests.support import App, Tenant


def at(hh: int, mm: int, day: int = 10) -> datetime:
    return datetime(2025, 3, day, hh, mm, tzinfo=UTC)


async def inbound_at(app: App, conversation_id: int, when: datetime) -> None:
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            m.messages.update()
            .where(m.messages.c.conversation_id == conversation_id, m.messages.c.direction == "in")
            .values(created_at=when)
        )


async def history(app: App, conversation_id: int, reason: str, when: datetime, **values: Any) -> None:
    """An assignment history row, as the actions write them (from_agent_id, to_agent_id, actor_id,
    held_since in `values`)."""
    c = await conv(app, conversation_id)
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            m.assignments.insert().values(
                tenant_id=c.tenant_id,
                conversation_id=c.id,
                at=when,
                reason=reason,
                queue_id=c.queue_id,
                channel_id=c.channel_id,
                **values,
            )
        )


async def scripted_day(app: App) -> tuple[Tenant, dict[str, int]]:
    t = await app.tenant()
    a1 = await t.agent(name="Ana")
    a2 = await t.agent(name="=HYPERLINK(1)")  # a name a spreadsheet would run as a formula
    ch1 = await t.channel("whatsapp")
    ch2 = await t.channel("instagram")
    r1, r2 = await conversation(app, ch1), await conversation(app, ch1)
    r3, r4 = await conversation(app, ch2), await conversation(app, ch2)
    # r1: answered by Ana after 120 s, resolved after 1800 s.
    await set_conversation(
        app,
        r1,
        status="resolved",
        assignee_id=a1.id,
        created_at=at(9, 10),
        assigned_at=at(9, 11),
        first_response_at=at(9, 12),
        resolved_at=at(9, 40),
        first_responder_id=a1.id,  # the stored credit, as replies and resolve write it
        resolved_by_id=a1.id,
    )
    await inbound_at(app, r1, at(9, 10))
    await add_message(app, r1, direction="out", sender_type="agent", sender_id=a1.id, at=at(9, 12))
    await history(app, r1, "manual", at(9, 11), to_agent_id=a1.id, actor_id=a1.id)
    await history(app, r1, "resolve", at(9, 40), from_agent_id=a1.id, held_since=at(9, 11), actor_id=a1.id)
    await add_message(
        app, r1, direction="out", sender_type="agent", sender_id=a1.id, status="note", at=at(9, 20)
    )
    # r2: still open with the second agent, answered after 300 s, breached the SLA first.
    await set_conversation(
        app,
        r2,
        status="assigned",
        assignee_id=a2.id,
        created_at=at(9, 50),
        assigned_at=at(9, 51),
        first_response_at=at(9, 55),
        sla_breached_at=at(9, 54),
        first_responder_id=a2.id,
        held_since=at(9, 51),
    )
    await inbound_at(app, r2, at(9, 50))
    await add_message(app, r2, direction="out", sender_type="agent", sender_id=a2.id, at=at(9, 55))
    await history(app, r2, "auto", at(9, 51), to_agent_id=a2.id)
    # r3: the bot first, handed off at 10:32, answered 180 s after the handoff, resolved at 11:32.
    await set_conversation(
        app,
        r3,
        status="resolved",
        assignee_id=a1.id,
        created_at=at(10, 30),
        handed_off_at=at(10, 32),
        handoff_reason="asked for a person",
        assigned_at=at(10, 33),
        first_response_at=at(10, 35),
        resolved_at=at(11, 32),
        first_responder_id=a1.id,
        resolved_by_id=a1.id,  # no actor: its holder
    )
    await inbound_at(app, r3, at(10, 30))
    await add_message(app, r3, direction="out", sender_type="bot", at=at(10, 31))
    await add_message(app, r3, direction="out", sender_type="agent", sender_id=a1.id, at=at(10, 35))
    await history(app, r3, "handoff", at(10, 32))
    await history(app, r3, "auto", at(10, 33), to_agent_id=a1.id)
    # Resolved by whoever held it: a resolve row without an actor credits its holder.
    await history(app, r3, "resolve", at(11, 32), from_agent_id=a1.id, held_since=at(10, 33))
    # r4: from the day before, resolved at 00:30 of the day (5400 s after it started).
    await set_conversation(
        app,
        r4,
        status="resolved",
        assignee_id=a2.id,
        created_at=at(23, 0, day=9),
        last_message_at=at(23, 0, day=9),
        assigned_at=at(23, 1, day=9),
        first_response_at=at(23, 10, day=9),
        resolved_at=at(0, 30),
        resolved_by_id=a2.id,  # no agent reply: the first response is credited to nobody
    )
    await inbound_at(app, r4, at(23, 0, day=9))
    await history(app, r4, "auto", at(23, 1, day=9), to_agent_id=a2.id)
    await history(app, r4, "resolve", at(0, 30), from_agent_id=a2.id, held_since=at(23, 1, day=9))
    return t, {"a1": a1.id, "a2": a2.id, "ch1": ch1.id, "ch2": ch2.id}
