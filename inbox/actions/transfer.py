"""Transfer: hand a conversation to another agent or queue with an optional note.

Owns the transfer rule: at least one target; to an agent, it is assigned to them (status
`assigned`, a snoozed one stays snoozed); to a queue only, it waits there unassigned (`queued`). One
system message says who moved it where, with the note. Visibility and events come from
inbox/actions/conversations.py: the receiving agent (or queue) gets `conversation.updated`, the
previous assignee gets it once more so its list drops it, and routing is poked after commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row

from inbox import audit
from inbox import models as m
from inbox.actions.conversations import change, handoff, load, visible
from inbox.auth import Principal
from inbox.errors import Conflict, Invalid, NotFound, Unprocessable
from inbox.texts import Text
from inbox.uow import UnitOfWork

ag, qu = m.agents.c, m.queues.c


async def transfer(
    uow: UnitOfWork,
    actor: Principal,
    conversation_id: int,
    *,
    agent_id: int | None,
    queue_id: int | None,
    note: str | None,
) -> Row[Any]:
    if agent_id is None and queue_id is None:
        raise Invalid("agent_id or queue_id: give at least one", code="transfer_no_target")
    conv = await visible(uow, actor, conversation_id)
    if conv.status == "resolved":
        raise Conflict("the conversation is resolved; reopen it first", code="conversation_resolved")
    target = None
    if agent_id is not None:
        target = (
            await uow.conn.execute(select(m.agents).where(ag.id == agent_id, ag.tenant_id == actor.tenant_id))
        ).first()
        if target is None:
            raise NotFound("agent not found")
        if target.disabled_at is not None:
            raise Unprocessable("agent_id: that agent is disabled", code="agent_disabled")
    queue = None
    if queue_id is not None:
        queue = (
            await uow.conn.execute(select(m.queues).where(qu.id == queue_id, qu.tenant_id == actor.tenant_id))
        ).first()
        if queue is None:
            raise NotFound("queue not found")

    # Audited with ids only: the note is typed by hand and may quote the customer.
    await audit.record(
        uow,
        actor.tenant_id,
        "conversation.transferred",
        target_type="conversation",
        target_id=conv.id,
        details={
            "agent_id": target.id if target is not None else None,
            "queue_id": queue.id if queue is not None else None,
            "previous_agent_id": conv.assignee_id,
            "note": bool(note),
        },
    )
    text = _note(
        actor.name,
        target.name if target is not None else None,
        queue.name if queue is not None else None,
        note,
    )
    now = m.utcnow()
    values: dict[str, Any] = {}
    if queue is not None:
        values["queue_id"] = queue.id
    if conv.status == "bot":
        # The bot stops answering: the humans it is transferred to take over (bot -> human handoff).
        if values:
            await uow.conn.execute(
                update(m.conversations).where(m.conversations.c.id == conv.id).values(**values)
            )
        await handoff(
            uow,
            actor.tenant_id,
            conv.id,
            reason=Text("handoff.transferred", by=actor.name),
            by=actor.agent_id,
        )
        conv = await load(uow, actor.tenant_id, conv.id)
        values = {}
    if target is not None:
        values.update(assignee_id=target.id, assigned_at=now)
        if conv.status == "queued":
            values["status"] = "assigned"
        await uow.conn.execute(update(m.agents).where(ag.id == target.id).values(last_assigned_at=now))
    else:
        values.update(assignee_id=None, assigned_at=None, status="queued", queued_at=now)
    return await change(uow, conv, text, why="transfer", by=actor.agent_id, **values)


def _note(by: str, agent: str | None, queue: str | None, note: str | None) -> Text:
    """ "Transferred to Ana and queue Sales by Bia: <note>"."""
    if agent is not None and queue is not None:
        where = Text("transfer.agent_queue", name=agent, queue=queue)
    elif agent is not None:
        where = Text("transfer.agent", name=agent)
    else:
        where = Text("transfer.queue", queue=queue or "")
    if note:
        return Text("conversation.transferred_note", target=where, by=by, note=note)
    return Text("conversation.transferred", target=where, by=by)
