"""Delivery statuses of the business's messages: they move forward only, whatever order the provider
sends them in; one that beats the send answer is parked until the outbox stores the provider's id.

Owns the status order (`STATUS_RANK`), Messenger's watermarks, and `pending_statuses`. Used by the
per-delivery path (single.py) and by the outbox's outcomes (inbox/actions/sending.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Row

from channels.base import ChannelConfig, StatusUpdate
from inbox import models as m
from inbox.actions.events import message_event
from inbox.actions.ingest import statements as st
from inbox.uow import UnitOfWork

cv, msg = m.conversations.c, m.messages.c

# Delivery states only move forward; `failed` wins over anything not yet read.
STATUS_RANK = {"received": 0, "queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 3}


async def _conversation_of(uow: UnitOfWork, conversation_id: int) -> Row[Any]:
    return (await uow.conn.execute(select(m.conversations).where(cv.id == conversation_id))).one()


async def set_message_status(
    uow: UnitOfWork, row: Mapping[Any, Any], status: str, error: str | None, *, force: bool = False
) -> bool:
    """Move a message's status forward (never back). Emits message.updated when it moved."""
    current = row["status"]
    if current in ("note", "received"):
        return False
    if not force and STATUS_RANK.get(status, 0) <= STATUS_RANK.get(current, 0):
        return False
    new = (
        await uow.conn.execute(
            update(m.messages)
            .where(msg.id == row["id"])
            .values(status=status, error=error if status == "failed" else None)
            .returning(m.messages)
        )
    ).one()
    conv = await _conversation_of(uow, new.conversation_id)
    uow.emit(new.tenant_id, message_event("message.updated", new._mapping, conv._mapping))
    return True


async def apply_status(uow: UnitOfWork, channel: ChannelConfig, ev: StatusUpdate) -> None:
    if ev.provider_message_id is None:
        if ev.watermark is not None and ev.contact is not None:
            await _watermark(uow, channel, ev)
        return
    row = (
        await uow.conn.execute(st.message_by_pid, {"chid": channel.id, "pid": ev.provider_message_id})
    ).first()
    if row is None:
        # The status beat the send answer: keep it until the outbox stores that provider id.
        await uow.conn.execute(
            insert(m.pending_statuses).values(
                channel_id=channel.id,
                provider_message_id=ev.provider_message_id,
                status=ev.status,
                error=ev.error,
                created_at=m.utcnow(),
            )
        )
        return
    await set_message_status(uow, row._mapping, ev.status, ev.error)


async def apply_pending_statuses(uow: UnitOfWork, channel_id: int, provider_message_id: str) -> None:
    """Called by the outbox once a send answer gave the message its provider id."""
    ps = m.pending_statuses.c
    where = and_(ps.channel_id == channel_id, ps.provider_message_id == provider_message_id)
    pending = (await uow.conn.execute(select(m.pending_statuses).where(where).order_by(ps.id))).all()
    if not pending:
        return
    await uow.conn.execute(delete(m.pending_statuses).where(where))
    best = max(pending, key=lambda p: STATUS_RANK.get(p.status, 0))
    by_pid = {"chid": channel_id, "pid": provider_message_id}
    row = (await uow.conn.execute(st.message_by_pid, by_pid)).first()
    if row is not None:
        await set_message_status(uow, row._mapping, best.status, best.error)


async def _watermark(uow: UnitOfWork, channel: ChannelConfig, ev: StatusUpdate) -> None:
    """Messenger: every message to this contact sent up to the watermark reached `ev.status`."""
    assert ev.contact is not None and ev.watermark is not None
    contact_id = (
        await uow.conn.execute(
            st.identity, {"tid": channel.tenant_id, "kind": ev.contact.kind, "xid": ev.contact.external_id}
        )
    ).scalar()
    if contact_id is None:
        return
    lower = [
        s
        for s, r in STATUS_RANK.items()
        if r < STATUS_RANK[ev.status] and s in ("queued", "sent", "delivered")
    ]
    # Our rows carry our clock; the watermark is the provider's. A small slack covers clock skew.
    until: datetime = ev.watermark + timedelta(seconds=2)
    rows = (
        await uow.conn.execute(
            select(m.messages)
            .join(m.conversations, cv.id == msg.conversation_id)
            .where(
                cv.channel_id == channel.id,
                cv.contact_id == contact_id,
                msg.direction == "out",
                msg.provider_message_id.is_not(None),
                msg.status.in_(lower),
                msg.created_at <= until,
            )
        )
    ).all()
    for row in rows:
        await set_message_status(uow, row._mapping, ev.status, None)
