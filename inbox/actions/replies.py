"""Messages out: a reply (or private note) and its outbox row, written in one transaction.

Owns what an agent or the bot may send (the provider's messaging window, as its adapter rules), the
idempotency key, a human
taking a conversation over by replying, and sending a failed message again. The send itself happens
later, in the outbox worker (inbox/outbox.py), never here.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.base import Window
from inbox import models as m
from inbox.actions.conversations import change, handoff, load
from inbox.actions.events import message_event
from inbox.automations import schedule
from inbox.errors import Conflict, Invalid, NotFound, Unprocessable
from inbox.serialize import MessageData, message_json
from inbox.texts import Text
from inbox.uow import UnitOfWork

msg, cv, ch = m.messages.c, m.conversations.c, m.channels.c


async def window(uow: UnitOfWork, conv: Row[Any]) -> Window:
    """What the channel's provider allows for a free-form message now (its adapter's rule)."""
    adapter = uow.runtime.adapters.get(conv.channel_provider)
    if adapter is None or adapter.window is None:
        return Window()
    row = (await uow.conn.execute(select(m.channels).where(ch.id == conv.channel_id))).one()
    channel = uow.runtime.directory.config(row, with_secrets=False)
    return adapter.window_rule(channel, conv.last_inbound_at, m.utcnow())


async def by_client_id(conn: AsyncConnection, tenant_id: int, client_id: str) -> Any:
    """The message row an idempotency key made in this tenant, or None."""
    q = select(m.messages).where(msg.tenant_id == tenant_id, msg.client_id == client_id)
    return (await conn.execute(q)).first()


def replayed(row: Any, conversation_id: int) -> MessageData:
    """The message an idempotency key already made; the key may not be reused elsewhere."""
    if row.conversation_id != conversation_id:
        raise Conflict(
            "this idempotency key was already used for a message in another conversation",
            code="idempotency_conflict",
        )
    return message_json(row._mapping)


async def _take_over(uow: UnitOfWork, conv: Row[Any], agent_id: int) -> Row[Any]:
    """A human's reply ends the bot's turn (the bot stays silent from now on) and claims a waiting,
    unassigned conversation for the one who answered it (as Chatwoot does)."""
    if conv.status == "bot":
        return await handoff(
            uow,
            conv.tenant_id,
            conv.id,
            reason=Text("handoff.agent_replied"),
            assign_to=agent_id,
            by=agent_id,
        )
    if conv.status == "queued" and conv.assignee_id is None:
        return await change(
            uow,
            conv,
            None,
            why="manual",
            by=agent_id,
            status="assigned",
            assignee_id=agent_id,
            assigned_at=m.utcnow(),
        )
    return conv


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
) -> tuple[MessageData, bool]:
    """Returns (message, created). With a `client_id` already used in this tenant, the existing message
    is returned and nothing new is written (a double click or a retried POST); a concurrent twin with
    the same key loses on the unique (tenant_id, client_id) key with an IntegrityError.

    Raises Unprocessable outside the provider's messaging window (private notes are always allowed).
    A public reply by an agent (`sender_type="agent"`) takes the conversation over (see `_take_over`)."""
    if client_id:
        existing = await by_client_id(uow.conn, tenant_id, client_id)
        if existing is not None:
            return replayed(existing, conversation_id), False
    attachments = attachments or []
    if not (text and text.strip()) and not attachments:
        raise Invalid("a message needs text or attachments", code="message_empty")
    conv: Any = await load(uow, tenant_id, conversation_id, lock=True)
    if not private and not uow.runtime.settings.public_url and any(a.get("upload_id") for a in attachments):
        # The provider fetches an uploaded file from this server, at INBOX_PUBLIC_URL.
        raise Unprocessable(
            "an uploaded file can only be sent once INBOX_PUBLIC_URL says where the provider can "
            "fetch it from; it can be attached to a private note meanwhile",
            code="public_url_missing",
        )
    if not private:
        rule = await window(uow, conv)
        if rule.refusal:
            raise Unprocessable(rule.refusal, code="window_closed")
        if sender_type == "agent" and sender_id is not None:
            conv = await _take_over(uow, conv, sender_id)
    row = await write_outgoing(
        uow, conv, text=text, sender_type=sender_type, sender_id=sender_id, attachments=attachments,
        private=private, client_id=client_id,
    )  # fmt: skip
    if not private and sender_type == "agent":
        await schedule.awaiting_answer(uow, conv, row.id)
    return message_json(row._mapping), True


async def write_outgoing(
    uow: UnitOfWork,
    conv: Row[Any],
    *,
    text: str | None,
    sender_type: str,
    sender_id: int | None,
    attachments: list[dict[str, Any]] | None = None,
    private: bool = False,
    client_id: str | None = None,
    template: dict[str, Any] | None = None,
) -> Row[Any]:
    """The message row (and, unless private, its outbox row) of something we say in `conv` (a row
    of `load`), announced after commit. What may be said was decided by the caller; `template`: the
    approved provider template it is sent as ({"name", "language", "parameters"})."""
    rows = partial(
        outgoing_rows, conv=conv, text=text, sender_type=sender_type, sender_id=sender_id,
        attachments=attachments, private=private, client_id=client_id, template=template,
    )  # fmt: skip
    row = await uow.run_sync(rows)
    announce_outgoing(uow, conv, row)
    return row


def outgoing_rows(
    conn: Connection,
    *,
    conv: Row[Any],
    text: str | None,
    sender_type: str,
    sender_id: int | None,
    attachments: list[dict[str, Any]] | None = None,
    private: bool = False,
    client_id: str | None = None,
    template: dict[str, Any] | None = None,
) -> Row[Any]:
    """`write_outgoing`'s statements, run synchronously (`UnitOfWork.run_sync`: on SQLite one hop to
    aiosqlite's thread for all three); the caller announces the row (`announce_outgoing`)."""
    attachments = attachments or []
    now = m.utcnow()
    row = conn.execute(
        insert(m.messages)
        .values(
            tenant_id=conv.tenant_id,
            conversation_id=conv.id,
            channel_id=conv.channel_id,
            direction="out",
            sender_type=sender_type,
            sender_id=sender_id,
            # As for inbound messages, the kind follows the first attachment (a captioned image).
            kind=(attachments[0].get("kind") or "file") if attachments else "text",
            text=text,
            attachments=attachments,
            status="note" if private else "queued",
            client_id=client_id,
            deleted=False,
            created_at=now,
            template=template,
        )
        .returning(m.messages)
    ).one()
    conv_values: dict[str, Any] = {"last_message_at": now}
    if not private:
        if sender_type == "agent" and conv.first_response_at is None:
            conv_values.update(first_response_at=now, first_responder_id=sender_id)
        conn.execute(_outbox_row(conv.tenant_id, row.id, conv.id, now))
    conn.execute(update(m.conversations).where(cv.id == conv.id).values(**conv_values))
    return row


def announce_outgoing(uow: UnitOfWork, conv: Row[Any], row: Row[Any]) -> None:
    """After commit: `message.created` for the row `outgoing_rows` wrote, and the outbox woken."""
    if row.status != "note":
        uow.after_commit(lambda: uow.runtime.wake("outbox"))
    uow.emit(conv.tenant_id, message_event("message.created", row._mapping, conv._mapping))


def _outbox_row(tenant_id: int, message_id: int, conversation_id: int, now: datetime) -> Any:
    return insert(m.outbox).values(
        tenant_id=tenant_id,
        message_id=message_id,
        conversation_id=conversation_id,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def _enqueue(
    uow: UnitOfWork, tenant_id: int, message_id: int, conversation_id: int, now: datetime
) -> None:
    await uow.conn.execute(_outbox_row(tenant_id, message_id, conversation_id, now))
    uow.after_commit(lambda: uow.runtime.wake("outbox"))


async def retry_message(
    uow: UnitOfWork, tenant_id: int, conversation_id: int, message_id: int
) -> MessageData:
    """A failed message goes back to `queued` with a fresh outbox row (attempts start over)."""
    conv: Any = await load(uow, tenant_id, conversation_id, lock=True)
    q = select(m.messages).where(
        msg.id == message_id, msg.tenant_id == tenant_id, msg.conversation_id == conversation_id
    )
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    row = (await uow.conn.execute(q)).first()
    if row is None:
        raise NotFound("message not found")
    if row.status != "failed" or row.direction != "out" or row.sender_type not in ("agent", "bot"):
        raise Conflict(
            f"only a failed outgoing message can be sent again (this one is {row.status})",
            code="retry_not_failed",
        )
    rule = await window(uow, conv)
    if rule.refusal:
        raise Unprocessable(rule.refusal, code="window_closed")
    now = m.utcnow()
    # The old provider id goes: a late status about the failed attempt must not touch the new one.
    new = (
        await uow.conn.execute(
            update(m.messages)
            .where(msg.id == message_id)
            .values(status="queued", error=None, provider_message_id=None)
            .returning(m.messages)
        )
    ).one()
    await uow.conn.execute(delete(m.outbox).where(m.outbox.c.message_id == message_id))
    await _enqueue(uow, tenant_id, message_id, conversation_id, now)
    uow.emit(tenant_id, message_event("message.updated", new._mapping, conv._mapping))
    return message_json(new._mapping)
