"""The assignment history's one writer: a row per change of hands, in the transaction of the change.

Owns what a row says (who held it before and after, who did it, why, when) and the holder's interval
start. Every path that moves a conversation between agents, queues and the bot calls `record`:
`conversations.change` for people's actions and the bot's handoff (it refuses a change of hands
without a reason), routing for automatic assignment and the offline requeue. One INSERT per change,
nothing per message. The read (a conversation's list) is `inbox.queries.assignment_history`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, insert, literal, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m

a = m.assignments.c

Reason = Literal["auto", "manual", "transfer", "handoff", "requeue", "unassign", "resolve", "reopen"]
# Statuses in which the assignee holds the conversation (counts against capacity, and its time is
# theirs); a resolved conversation keeps its assignee for the record but nobody holds it.
HELD = ("assigned", "snoozed")


def holder(conv: Row[Any] | Any) -> int | None:
    """The agent holding a conversation row now, if any."""
    held: int | None = conv.assignee_id if conv.status in HELD else None
    return held


async def record(
    conn: AsyncConnection,
    conv: Row[Any] | Any,
    reason: Reason,
    *,
    from_agent_id: int | None,
    to_agent_id: int | None,
    at: datetime,
    actor_id: int | None = None,
    assigned_at: datetime | None = None,
) -> None:
    """One row, one INSERT. `conv`: the conversation after the change (tenant, id, queue). The
    previous holder's interval began at the conversation's latest row (a scalar subquery in the same
    statement), or, with no row yet (before the history existed), at `assigned_at`: the previous
    holder's assignment time as the conversation had it before the change."""
    held_since: Any = None
    if from_agent_id is not None:
        latest = select(func.max(a.at)).where(a.conversation_id == conv.id).scalar_subquery()
        held_since = (
            func.coalesce(latest, literal(assigned_at, m.UTCDateTime()))
            if assigned_at is not None
            else latest
        )
    await conn.execute(
        insert(m.assignments).values(
            tenant_id=conv.tenant_id,
            conversation_id=conv.id,
            at=at,
            reason=reason,
            from_agent_id=from_agent_id,
            to_agent_id=to_agent_id,
            actor_id=actor_id,
            queue_id=conv.queue_id,
            channel_id=conv.channel_id,
            held_since=held_since,
        )
    )
