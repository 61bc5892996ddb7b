"""Marking a conversation read: its unread count (one per conversation, shared by the team) goes
back to zero when an agent opens it, and every agent's list hears so through conversation.updated.

Owns only that counter. Must not touch status or assignment.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from inbox import models as m
from inbox.access import may_see_conversation
from inbox.actions.conversations import load
from inbox.actions.events import updated_event
from inbox.auth import Principal
from inbox.errors import Forbidden
from inbox.uow import UnitOfWork

cv = m.conversations.c


async def mark_read(uow: UnitOfWork, actor: Principal, conversation_id: int) -> Any:
    """404 for another tenant's conversation, 403 beyond what `actor` may see; no event when there
    was nothing unread (opening a conversation twice is free)."""
    conv = await load(uow, actor.tenant_id, conversation_id)
    if not may_see_conversation(actor, conv.assignee_id, conv.queue_id):
        raise Forbidden("this conversation is assigned to another agent", code="conversation_forbidden")
    if not conv.unread_count:
        return conv
    await uow.conn.execute(
        update(m.conversations).where(cv.id == conv.id, cv.unread_count > 0).values(unread_count=0)
    )
    conv = await load(uow, actor.tenant_id, conversation_id)
    uow.emit(actor.tenant_id, updated_event(conv))
    return conv
