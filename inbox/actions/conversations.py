"""Conversation state changes: handoff (bot -> human), system messages.

Owns the conversation lifecycle rules. Each change writes a system message and emits
`conversation.updated` (to the new and the previous assignee).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from inbox import models as m
from inbox.actions.ingest import conversation_data, message_event
from inbox.errors import NotFound
from inbox.events import Event
from inbox.queries import conversations_select
from inbox.uow import UnitOfWork

cv, jb = m.conversations.c, m.jobs.c


async def load(uow: UnitOfWork, tenant_id: int, conversation_id: int, *, lock: bool = False) -> Row[Any]:
    """The conversation joined with channel and contact (the serializer's shape); 404 if not the tenant's."""
    q = conversations_select().where(cv.id == conversation_id, cv.tenant_id == tenant_id)
    if lock and uow.dialect == "postgresql":
        q = q.with_for_update(of=m.conversations)
    row = (await uow.conn.execute(q)).first()
    if row is None:
        raise NotFound("conversation not found")
    return row


def updated_event(row: Row[Any], prev_assignee_id: Any = None) -> Event:
    data = conversation_data(
        row._mapping,
        _ChannelView(row.channel_kind, row.channel_name, row.channel_provider),  # type: ignore[arg-type]
        row.contact_name,
    )
    return Event(
        "conversation.updated",
        data,
        conversation_id=row.id,
        assignee_id=row.assignee_id,
        prev_assignee_id=prev_assignee_id if prev_assignee_id != row.assignee_id else None,
        queue_id=row.queue_id,
    )


class _ChannelView:
    """The three channel fields the conversation serializer needs."""

    def __init__(self, kind: str, name: str, provider: str) -> None:
        self.kind, self.name, self.provider = kind, name, provider


async def change(uow: UnitOfWork, row: Row[Any], note: str | None, **values: Any) -> Row[Any]:
    """Update a conversation, write an optional system message, emit conversation.updated."""
    await uow.conn.execute(update(m.conversations).where(cv.id == row.id).values(**values))
    new = await load(uow, row.tenant_id, row.id)
    if note:
        await system_message(uow, new, note)
    uow.emit(row.tenant_id, updated_event(new, prev_assignee_id=row.assignee_id))
    return new


async def system_message(uow: UnitOfWork, conv: Row[Any], text: str) -> dict[str, Any]:
    row = (
        await uow.conn.execute(
            insert(m.messages)
            .values(
                tenant_id=conv.tenant_id,
                conversation_id=conv.id,
                channel_id=conv.channel_id,
                direction="out",
                sender_type="system",
                sender_id=None,
                kind="text",
                text=text,
                attachments=[],
                status="note",
                deleted=False,
                created_at=m.utcnow(),
            )
            .returning(m.messages)
        )
    ).one()
    uow.emit(conv.tenant_id, message_event("message.created", row._mapping, conv._mapping))
    return dict(row._mapping)


async def handoff(
    uow: UnitOfWork,
    tenant_id: int,
    conversation_id: int,
    *,
    reason: str,
    assign_to: int | None = None,
) -> Row[Any]:
    """Bot -> human: the conversation queues (or goes straight to `assign_to`) and the bot is silent
    there from now on (its pending turn is dropped; the bot only ever answers status `bot`)."""
    conv = await load(uow, tenant_id, conversation_id, lock=True)
    await uow.conn.execute(m.jobs.delete().where(jb.kind == "bot", jb.key == str(conversation_id)))
    if conv.status != "bot":
        return conv
    now = m.utcnow()
    values: dict[str, Any] = {"handoff_reason": reason}
    if assign_to is not None:
        values.update(
            status="assigned", assignee_id=assign_to, assigned_at=now, queued_at=conv.queued_at or now
        )
    else:
        values.update(status="queued", queued_at=now)
        uow.after_commit(lambda: uow.runtime.wake("routing"))
    return await change(uow, conv, f"Handed to a human: {reason}", **values)


async def conversation_ids_for(uow: UnitOfWork, tenant_id: int, status: str) -> list[int]:
    q = select(cv.id).where(cv.tenant_id == tenant_id, cv.status == status)
    return list((await uow.conn.execute(q)).scalars())
