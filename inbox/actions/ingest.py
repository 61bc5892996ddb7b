"""Webhooks in: normalized events -> contacts, conversations, messages, exactly once.

Owns the one write path for inbound traffic, shared by every provider: contact + identity upsert,
open-conversation lookup, message insert with ON CONFLICT DO NOTHING on (channel, provider id).
Events, bot turns and routing happen only for rows actually created. No network calls here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, text, update
from sqlalchemy.engine import Row

from channels.base import (
    ChannelConfig,
    ContactRef,
    InboundEvent,
    MessageDeleted,
    MessageReceived,
    StatusUpdate,
)
from inbox import models as m
from inbox.db import insert as dialect_insert
from inbox.events import Event
from inbox.serialize import conversation_json, message_json
from inbox.uow import UnitOfWork

cv, msg, idt, ct = m.conversations.c, m.messages.c, m.contact_identities.c, m.contacts.c

# Delivery states only move forward; `failed` wins over anything not yet read.
STATUS_RANK = {"received": 0, "queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 3}
# A burst of customer messages while the bot thinks gives one answer: the job waits this long.
BOT_DEBOUNCE = timedelta(milliseconds=400)

_identity = select(idt.contact_id).where(
    idt.tenant_id == bindparam("tid"), idt.kind == bindparam("kind"), idt.external_id == bindparam("xid")
)
_contact_name = select(ct.name).where(ct.id == bindparam("cid"))
_open_conversation = select(m.conversations).where(
    cv.channel_id == bindparam("chid"), cv.contact_id == bindparam("cid"), cv.status != "resolved"
)
_message_by_pid = select(m.messages).where(
    msg.channel_id == bindparam("chid"), msg.provider_message_id == bindparam("pid")
)
_insert_contact = insert(m.contacts).returning(ct.id)
_set_contact_name = update(m.contacts).where(ct.id == bindparam("cid"), ct.name.is_(None))


class _Statements:
    """Dialect-specific statements (ON CONFLICT), built once per dialect."""

    def __init__(self, dialect: str) -> None:
        self.insert_identity = (
            dialect_insert(dialect, m.contact_identities)
            .on_conflict_do_nothing(index_elements=["tenant_id", "kind", "external_id"])
            .returning(idt.contact_id)
        )
        self.insert_conversation = (
            dialect_insert(dialect, m.conversations)
            .on_conflict_do_nothing(
                index_elements=["channel_id", "contact_id"],
                # A literal, not a bound parameter: PostgreSQL must prove this implies the partial
                # index's predicate, which it cannot do for a generic plan's parameter (asyncpg
                # switches to generic plans after five executions).
                index_where=text("status <> 'resolved'"),
            )
            .returning(m.conversations)
        )
        self.insert_message = (
            dialect_insert(dialect, m.messages)
            .on_conflict_do_nothing(index_elements=["channel_id", "provider_message_id"])
            .returning(m.messages)
        )
        self.upsert_job = dialect_insert(dialect, m.jobs)
        self.upsert_job = self.upsert_job.on_conflict_do_update(
            index_elements=["kind", "key"], set_={"run_at": self.upsert_job.excluded.run_at}
        )


_STATEMENTS: dict[str, _Statements] = {}


def statements(dialect: str) -> _Statements:
    """The dialect's ON CONFLICT statements, built once (the batch path in ingest_batch.py shares them)."""
    s = _STATEMENTS.get(dialect)
    if s is None:
        s = _STATEMENTS[dialect] = _Statements(dialect)
    return s


def _stmts(uow: UnitOfWork) -> _Statements:
    return statements(uow.dialect)


def opening_status(channel: ChannelConfig, *, inbound: bool = True) -> str:
    """How a conversation opens: one the customer starts on a bot channel begins with the bot;
    otherwise (or opened by an echo of the business) it queues."""
    return "bot" if channel.bot_enabled and inbound else "queued"


def message_row(
    channel: ChannelConfig, conversation_id: int, contact_id: int, ev: MessageReceived, now: datetime
) -> dict[str, Any]:
    """The messages row for a received message or an echo (the batch path writes the same rows)."""
    inbound = ev.direction == "in"
    return {
        "tenant_id": channel.tenant_id,
        "conversation_id": conversation_id,
        "channel_id": channel.id,
        "direction": ev.direction,
        # An echo is the business speaking from elsewhere (phone app, Business Suite).
        "sender_type": "contact" if inbound else "agent",
        "sender_id": contact_id if inbound else None,
        "kind": ev.kind,
        "text": ev.text,
        "attachments": [asdict(a) for a in ev.attachments],
        "status": "received" if inbound else "sent",
        "provider_message_id": ev.provider_message_id,
        "reply_to": ev.reply_to,
        "deleted": False,
        "raw": dict(ev.raw) if ev.raw is not None else None,
        "provider_ts": ev.timestamp,
        "created_at": now,
    }


def conversation_data(
    row: Mapping[Any, Any], channel: ChannelConfig, contact_name: str | None
) -> dict[str, Any]:
    data = dict(row)
    data.update(
        channel_kind=channel.kind,
        channel_name=channel.name,
        channel_provider=channel.provider,
        contact_name=contact_name,
    )
    return conversation_json(data)


def conversation_event(
    type_: str, row: Mapping[Any, Any], channel: ChannelConfig, contact_name: str | None, prev: Any = None
) -> Event:
    return Event(
        type_,  # type: ignore[arg-type]
        conversation_data(row, channel, contact_name),
        conversation_id=row["id"],
        assignee_id=row["assignee_id"],
        prev_assignee_id=prev,
        queue_id=row["queue_id"],
    )


def message_event(type_: str, row: Mapping[Any, Any], conv: Mapping[Any, Any]) -> Event:
    return Event(
        type_,  # type: ignore[arg-type]
        message_json(row),
        conversation_id=row["conversation_id"],
        assignee_id=conv["assignee_id"],
        queue_id=conv["queue_id"],
    )


async def ingest(uow: UnitOfWork, channel: ChannelConfig, events: Sequence[InboundEvent]) -> int:
    """Store what `events` say. Returns how many new messages were created."""
    created = 0
    for ev in events:
        if isinstance(ev, MessageReceived):
            created += await _message(uow, channel, ev)
        elif isinstance(ev, StatusUpdate):
            await apply_status(uow, channel, ev)
        elif isinstance(ev, MessageDeleted):
            await _deleted(uow, channel, ev)
    return created


async def _contact(uow: UnitOfWork, channel: ChannelConfig, ref: ContactRef) -> tuple[int, str | None]:
    """The contact behind an identity, created on first sight. Concurrent first messages converge on
    one contact: the identity's unique key decides, and the loser drops the contact it made."""
    conn = uow.conn
    params = {"tid": channel.tenant_id, "kind": ref.kind, "xid": ref.external_id}
    contact_id = (await conn.execute(_identity, params)).scalar()
    if contact_id is not None:
        name = (await conn.execute(_contact_name, {"cid": contact_id})).scalar()
        if name is None and ref.name:
            await conn.execute(_set_contact_name, {"cid": contact_id, "name": ref.name})
            name = ref.name
        return contact_id, name
    new_id = (
        await conn.execute(
            _insert_contact,
            {
                "tenant_id": channel.tenant_id,
                "name": ref.name,
                "lead_status": "new",
                "attributes": {},
                "created_at": m.utcnow(),
            },
        )
    ).scalar_one()
    won = (
        await conn.execute(
            _stmts(uow).insert_identity,
            {
                "tenant_id": channel.tenant_id,
                "contact_id": new_id,
                "kind": ref.kind,
                "external_id": ref.external_id,
            },
        )
    ).scalar()
    if won is not None:
        return new_id, ref.name
    await conn.execute(delete(m.contacts).where(ct.id == new_id))
    contact_id = (await conn.execute(_identity, params)).scalar_one()
    return contact_id, (await conn.execute(_contact_name, {"cid": contact_id})).scalar()


async def open_conversation(
    uow: UnitOfWork, channel: ChannelConfig, contact_id: int, contact_name: str | None, *, inbound: bool
) -> tuple[Row[Any], bool]:
    """The contact's open conversation on this channel, or a new one (a resolved one is not reused).
    Returns (row, created)."""
    conn = uow.conn
    row = (await conn.execute(_open_conversation, {"chid": channel.id, "cid": contact_id})).first()
    if row is not None:
        return row, False
    now = m.utcnow()
    status = opening_status(channel, inbound=inbound)
    row = (
        await conn.execute(
            _stmts(uow).insert_conversation,
            {
                "tenant_id": channel.tenant_id,
                "channel_id": channel.id,
                "contact_id": contact_id,
                "queue_id": channel.queue_id,
                "status": status,
                "created_at": now,
                "last_message_at": now,
                "queued_at": now if status == "queued" else None,
                "bot_turns": 0,
                "unread_count": 0,
            },
        )
    ).first()
    if row is None:  # a concurrent delivery opened it first
        row = (await conn.execute(_open_conversation, {"chid": channel.id, "cid": contact_id})).one()
        return row, False
    uow.emit(
        channel.tenant_id, conversation_event("conversation.created", row._mapping, channel, contact_name)
    )
    if status == "queued":
        uow.after_commit(lambda: uow.runtime.wake("routing"))
    return row, True


async def _claim_inflight_echo(uow: UnitOfWork, conv_id: int, ev: MessageReceived) -> bool:
    """An echo of a reply we are sending right now (its send answer not stored yet) must not become a
    second row: give the provider id to our in-flight row instead."""
    row = (
        await uow.conn.execute(
            select(msg.id)
            .where(
                msg.conversation_id == conv_id,
                msg.direction == "out",
                msg.provider_message_id.is_(None),
                msg.status == "queued",
                msg.text == ev.text,
            )
            .order_by(msg.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return False
    await uow.conn.execute(
        update(m.messages).where(msg.id == row.id).values(provider_message_id=ev.provider_message_id)
    )
    return True


async def _message(uow: UnitOfWork, channel: ChannelConfig, ev: MessageReceived) -> int:
    conn = uow.conn
    if (await conn.execute(_message_by_pid, {"chid": channel.id, "pid": ev.provider_message_id})).first():
        return 0  # a repeated delivery, or the echo of a message we sent
    inbound = ev.direction == "in"
    contact_id, contact_name = await _contact(uow, channel, ev.contact)
    conv, created = await open_conversation(uow, channel, contact_id, contact_name, inbound=inbound)
    if not inbound and not created and await _claim_inflight_echo(uow, conv.id, ev):
        return 0
    now = m.utcnow()
    row = (
        await conn.execute(_stmts(uow).insert_message, message_row(channel, conv.id, contact_id, ev, now))
    ).first()
    if row is None:
        return 0
    values: dict[str, Any] = {"last_message_at": now}
    conv_changed = False
    if inbound:
        values["last_inbound_at"] = now
        values["unread_count"] = cv.unread_count + 1
        if conv.status == "snoozed":  # a customer message wakes a snoozed conversation
            values.update(status="assigned" if conv.assignee_id else "queued", snoozed_until=None)
            if not conv.assignee_id:
                values["queued_at"] = now
            conv_changed = True
    elif conv.first_response_at is None:
        values["first_response_at"] = now
    conv = (
        await conn.execute(
            update(m.conversations).where(cv.id == conv.id).values(**values).returning(m.conversations)
        )
    ).one()
    if conv_changed:
        uow.emit(
            channel.tenant_id,
            conversation_event("conversation.updated", conv._mapping, channel, contact_name),
        )
        if conv.status == "queued":
            uow.after_commit(lambda: uow.runtime.wake("routing"))
    uow.emit(channel.tenant_id, message_event("message.created", row._mapping, conv._mapping))
    if inbound and conv.status == "bot":
        await schedule_bot_turn(uow, channel.tenant_id, conv.id)
    return 1


async def schedule_bot_turn(uow: UnitOfWork, tenant_id: int, conversation_id: int) -> None:
    """One pending bot job per conversation; each new message pushes it back a little (debounce)."""
    await uow.conn.execute(
        _stmts(uow).upsert_job,
        {
            "tenant_id": tenant_id,
            "kind": "bot",
            "key": str(conversation_id),
            "run_at": m.utcnow() + BOT_DEBOUNCE,
            "attempts": 0,
            "payload": {"conversation_id": conversation_id},
            "created_at": m.utcnow(),
        },
    )
    uow.after_commit(lambda: uow.runtime.wake("jobs"))


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
        await uow.conn.execute(_message_by_pid, {"chid": channel.id, "pid": ev.provider_message_id})
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
    row = (await uow.conn.execute(_message_by_pid, {"chid": channel_id, "pid": provider_message_id})).first()
    if row is not None:
        await set_message_status(uow, row._mapping, best.status, best.error)


async def _watermark(uow: UnitOfWork, channel: ChannelConfig, ev: StatusUpdate) -> None:
    """Messenger: every message to this contact sent up to the watermark reached `ev.status`."""
    assert ev.contact is not None and ev.watermark is not None
    contact_id = (
        await uow.conn.execute(
            _identity, {"tid": channel.tenant_id, "kind": ev.contact.kind, "xid": ev.contact.external_id}
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


async def _deleted(uow: UnitOfWork, channel: ChannelConfig, ev: MessageDeleted) -> None:
    conn = uow.conn
    row = (await conn.execute(_message_by_pid, {"chid": channel.id, "pid": ev.provider_message_id})).first()
    if row is None:
        if ev.contact is None:
            return
        # The unsend beat the message: store a tombstone, so the original (arriving later) is a
        # duplicate of it and never shows its content.
        contact_id, name = await _contact(uow, channel, ev.contact)
        conv, _ = await open_conversation(uow, channel, contact_id, name, inbound=True)
        tomb = (
            await conn.execute(
                _stmts(uow).insert_message,
                {
                    "tenant_id": channel.tenant_id,
                    "conversation_id": conv.id,
                    "channel_id": channel.id,
                    "direction": "in",
                    "sender_type": "contact",
                    "sender_id": contact_id,
                    "kind": "text",
                    "text": None,
                    "attachments": [],
                    "status": "received",
                    "provider_message_id": ev.provider_message_id,
                    "deleted": True,
                    "created_at": m.utcnow(),
                },
            )
        ).first()
        if tomb is not None:
            uow.emit(channel.tenant_id, message_event("message.created", tomb._mapping, conv._mapping))
        return
    if row.deleted:
        return
    new = (
        await conn.execute(
            update(m.messages)
            .where(msg.id == row.id)
            .values(text=None, attachments=[], deleted=True, raw=None)
            .returning(m.messages)
        )
    ).one()
    conv = await _conversation_of(uow, new.conversation_id)
    uow.emit(channel.tenant_id, message_event("message.updated", new._mapping, conv._mapping))
