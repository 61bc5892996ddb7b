"""One delivery at a time: statuses, unsends, echoes of the business's own messages, and whatever a
batch leaves over (a lost race, a delivery of mixed events).

Owns the per-event write path, shared by every provider: contact + identity upsert, open-conversation
lookup, message insert with ON CONFLICT DO NOTHING on (channel, provider id), the in-flight echo
claim, tombstones for an unsend that beats its message. Events, bot turns and routing happen only
for rows actually created. The rules are plan.py's; no network calls here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
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
from inbox.actions.events import conversation_event, message_event
from inbox.actions.ingest import plan
from inbox.actions.ingest import statements as st
from inbox.actions.ingest.statuses import _conversation_of, apply_status
from inbox.automations import answers
from inbox.signals import routing_changed
from inbox.uow import UnitOfWork

cv, msg, ct = m.conversations.c, m.messages.c, m.contacts.c


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
    contact_id = (await conn.execute(st.identity, params)).scalar()
    if contact_id is not None:
        name = (await conn.execute(st.contact_name, {"cid": contact_id})).scalar()
        if name is None and ref.name:
            await conn.execute(st.set_contact_name, {"cid": contact_id, "name": ref.name})
            name = ref.name
        return contact_id, name
    new_id = (
        await conn.execute(
            st.insert_contact,
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
            st.on_conflict(uow.dialect).insert_identity,
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
    contact_id = (await conn.execute(st.identity, params)).scalar_one()
    return contact_id, (await conn.execute(st.contact_name, {"cid": contact_id})).scalar()


async def open_conversation(
    uow: UnitOfWork, channel: ChannelConfig, contact_id: int, contact_name: str | None, *, inbound: bool
) -> tuple[Row[Any], bool]:
    """The contact's open conversation on this channel, or a new one (a resolved one is not reused).
    Returns (row, created)."""
    conn = uow.conn
    row = (await conn.execute(st.open_conversation, {"chid": channel.id, "cid": contact_id})).first()
    if row is not None:
        return row, False
    values = plan.new_conversation(channel, contact_id, m.utcnow(), inbound=inbound)
    row = (await conn.execute(st.on_conflict(uow.dialect).insert_conversation, values)).first()
    if row is None:  # a concurrent delivery opened it first
        row = (await conn.execute(st.open_conversation, {"chid": channel.id, "cid": contact_id})).one()
        return row, False
    uow.emit(
        channel.tenant_id, conversation_event("conversation.created", row._mapping, channel, contact_name)
    )
    if row.status == "queued":
        uow.after_commit(lambda: routing_changed(uow.runtime, channel.tenant_id))
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
    if (await conn.execute(st.message_by_pid, {"chid": channel.id, "pid": ev.provider_message_id})).first():
        return 0  # a repeated delivery, or the echo of a message we sent
    inbound = ev.direction == "in"
    contact_id, contact_name = await _contact(uow, channel, ev.contact)
    feedback = await answers.feedback_target(uow, channel.id, contact_id, ev.text) if inbound else None
    if feedback is not None:  # the answer to a feedback request: stored there, nothing reopens
        conv, created = feedback, False
    else:
        conv, created = await open_conversation(uow, channel, contact_id, contact_name, inbound=inbound)
    if not inbound and not created and await _claim_inflight_echo(uow, conv.id, ev):
        return 0
    now = m.utcnow()
    message = plan.message_row(channel, conv.id, contact_id, ev, now)
    row = (await conn.execute(st.on_conflict(uow.dialect).insert_message, message)).first()
    if row is None:
        return 0
    values: dict[str, Any] = {"last_message_at": now}
    conv_changed = False
    if inbound:
        values["last_inbound_at"] = plan.later_inbound(cv.last_inbound_at, plan.written_at(ev, now))
        values["unread_count"] = cv.unread_count + 1
        wake = plan.woken(conv.status, conv.assignee_id, conv.queued_at, now)
        if wake is not None:
            values.update(wake)
            conv_changed = True
        if feedback is not None:
            values.update(answers.score_values(ev.text))
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
            uow.after_commit(lambda: routing_changed(uow.runtime, channel.tenant_id))
    uow.emit(channel.tenant_id, message_event("message.created", row._mapping, conv._mapping))
    if inbound and conv.status == "bot":
        await schedule_bot_turn(uow, channel.tenant_id, conv.id)
    if inbound:
        await answers.opt_out(uow, contact_id, ev.text)
    return 1


async def schedule_bot_turn(uow: UnitOfWork, tenant_id: int, conversation_id: int) -> None:
    """One pending bot job per conversation; each new message pushes it back a little (debounce)."""
    await uow.conn.execute(
        st.on_conflict(uow.dialect).upsert_job,
        {
            "tenant_id": tenant_id,
            "kind": "bot",
            "key": str(conversation_id),
            "run_at": m.utcnow() + plan.BOT_DEBOUNCE,
            "attempts": 0,
            "payload": {"conversation_id": conversation_id},
            "created_at": m.utcnow(),
        },
    )
    uow.after_commit(lambda: uow.runtime.wake("jobs"))


async def _deleted(uow: UnitOfWork, channel: ChannelConfig, ev: MessageDeleted) -> None:
    conn = uow.conn
    row = (await conn.execute(st.message_by_pid, {"chid": channel.id, "pid": ev.provider_message_id})).first()
    if row is None:
        if ev.contact is None:
            return
        # The unsend beat the message: store a tombstone, so the original (arriving later) is a
        # duplicate of it and never shows its content.
        contact_id, name = await _contact(uow, channel, ev.contact)
        conv, _ = await open_conversation(uow, channel, contact_id, name, inbound=True)
        tomb = (
            await conn.execute(
                st.on_conflict(uow.dialect).insert_message,
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
