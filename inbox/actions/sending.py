"""What a send's outcome does to a reply: sent (with the provider's id), failed (with the reason),
tried again later, handed back, or dropped. Called by the outbox worker (inbox/workers/outbox.py),
each in its own unit of work.

Owns the merge of a provider echo that was stored before the send answer, and the statuses that beat
it (parked in `pending_statuses`). Locks in one order everywhere: the message, then its outbox row
(as the retry action in inbox/actions/replies.py does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from inbox import models as m
from inbox.actions.events import message_event
from inbox.actions.ingest.statuses import STATUS_RANK, apply_pending_statuses, set_message_status
from inbox.uow import UnitOfWork

ob, msg, cv = m.outbox.c, m.messages.c, m.conversations.c


async def _locked_message(uow: UnitOfWork, message_id: int) -> Any:
    q = select(m.messages).where(msg.id == message_id)
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    return (await uow.conn.execute(q)).first()


async def _conversation(uow: UnitOfWork, conversation_id: int) -> Any:
    return (await uow.conn.execute(select(m.conversations).where(cv.id == conversation_id))).one()


async def record_sent(uow: UnitOfWork, outbox_id: int, message_id: int, provider_message_id: str) -> None:
    """The provider accepted the message: it becomes `sent` (or better) with the provider's id."""
    cur = await _locked_message(uow, message_id)
    await drop(uow, outbox_id)
    if cur is None:
        return
    conv = await _conversation(uow, cur.conversation_id)
    status = cur.status
    # The provider's echo of this very message may have been stored first as a row of its own
    # (ingest could not match it to us): ours is the one that stays, with the better status.
    echo = (
        await uow.conn.execute(
            select(m.messages).where(
                msg.channel_id == cur.channel_id,
                msg.provider_message_id == provider_message_id,
                msg.id != cur.id,
            )
        )
    ).first()
    if echo is not None:
        await uow.conn.execute(delete(m.messages).where(msg.id == echo.id))
        gone = {**echo._mapping, "deleted": True}
        # Clients drop the duplicate they were shown.
        uow.emit(cur.tenant_id, message_event("message.updated", gone, conv._mapping, merged_into=cur.id))
        if echo.status != "failed" and STATUS_RANK.get(echo.status, 0) > STATUS_RANK.get(status, 0):
            status = echo.status
    if STATUS_RANK.get(status, 0) < STATUS_RANK["sent"]:
        status = "sent"
    new = (
        await uow.conn.execute(
            update(m.messages)
            .where(msg.id == cur.id)
            .values(
                provider_message_id=provider_message_id,
                status=status,
                error=cur.error if status == "failed" else None,
            )
            .returning(m.messages)
        )
    ).one()
    uow.emit(cur.tenant_id, message_event("message.updated", new._mapping, conv._mapping))
    # Statuses that beat the send answer were parked; now they have a message to move.
    await apply_pending_statuses(uow, cur.channel_id, provider_message_id)


async def record_failed(uow: UnitOfWork, outbox_id: int, message_id: int, reason: str) -> None:
    """The send failed for good: the message shows `failed` with the reason, to the agent."""
    cur = await _locked_message(uow, message_id)
    await drop(uow, outbox_id)
    if cur is not None and cur.status == "queued":
        await set_message_status(uow, cur._mapping, "failed", reason)


async def reschedule(uow: UnitOfWork, outbox_id: int, due: datetime, reason: str) -> None:
    """A transient failure: the row is tried again at `due`."""
    await uow.conn.execute(
        update(m.outbox)
        .where(ob.id == outbox_id)
        .values(locked_until=None, next_attempt_at=due, last_error=reason[:2000])
    )


async def hand_back(uow: UnitOfWork, row_id: int, *, tried: bool = True) -> None:
    """Release a claimed row now (shutting down) instead of when its lease lapses; a row never tried
    does not count the attempt."""
    values: dict[str, Any] = {"locked_until": None}
    if not tried:
        values["attempts"] = ob.attempts - 1
    await uow.conn.execute(update(m.outbox).where(ob.id == row_id).values(**values))


async def drop(uow: UnitOfWork, outbox_id: int) -> None:
    await uow.conn.execute(delete(m.outbox).where(ob.id == outbox_id))
