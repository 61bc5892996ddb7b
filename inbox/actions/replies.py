"""Messages out: a reply (or private note) and its outbox row, written in one transaction.

Owns what an agent or the bot may send and the idempotency key. The send itself happens later, in
the outbox worker (inbox/outbox.py), never here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from inbox import models as m
from inbox.actions.conversations import load
from inbox.actions.ingest import message_event
from inbox.errors import Invalid
from inbox.serialize import message_json
from inbox.uow import UnitOfWork

msg, cv = m.messages.c, m.conversations.c


async def create_reply(
    uow: UnitOfWork,
    tenant_id: int,
    conversation_id: int,
    *,
    text: str | None,
    sender_type: str,
    sender_id: int | None,
    attachments: list[dict[str, Any]] | None = None,
    private: bool = False,
    client_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Returns (message, created). With a `client_id` already used in this tenant, the existing message
    is returned and nothing new is written (a double click or a retried POST)."""
    if client_id:
        existing = (
            await uow.conn.execute(
                select(m.messages).where(msg.tenant_id == tenant_id, msg.client_id == client_id)
            )
        ).first()
        if existing is not None:
            return message_json(existing._mapping), False
    attachments = attachments or []
    if not (text and text.strip()) and not attachments:
        raise Invalid("a message needs text or attachments")
    conv = await load(uow, tenant_id, conversation_id)
    now = m.utcnow()
    row = (
        await uow.conn.execute(
            insert(m.messages)
            .values(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                channel_id=conv.channel_id,
                direction="out",
                sender_type=sender_type,
                sender_id=sender_id,
                kind=(attachments[0].get("kind") or "file") if attachments and not text else "text",
                text=text,
                attachments=attachments,
                status="note" if private else "queued",
                client_id=client_id,
                deleted=False,
                created_at=now,
            )
            .returning(m.messages)
        )
    ).one()
    conv_values: dict[str, Any] = {"last_message_at": now}
    if not private:
        if sender_type == "agent" and conv.first_response_at is None:
            conv_values["first_response_at"] = now
        await uow.conn.execute(
            insert(m.outbox).values(
                tenant_id=tenant_id,
                message_id=row.id,
                conversation_id=conversation_id,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        uow.after_commit(lambda: uow.runtime.wake("outbox"))
    await uow.conn.execute(update(m.conversations).where(cv.id == conversation_id).values(**conv_values))
    uow.emit(tenant_id, message_event("message.created", row._mapping, conv._mapping))
    return message_json(row._mapping), True
