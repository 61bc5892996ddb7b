"""LGPD/GDPR: export everything kept about a contact, and erase a contact (issue 19 item 6).

Owns what "everything about a contact" is and what an erasure clears: the contact's personal data,
its identities, its messages' content, its appointments' titles and the replay log's copies of them,
in one transaction. Figures stay (rows and counts: reports still add up). Both are audited with who
and whom, never with the data itself. It must not call providers nor decide roles (the API does).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Row

from inbox import audit
from inbox import models as m
from inbox.actions.conversations import change, load
from inbox.auth import Principal
from inbox.catalog import attach_labels
from inbox.errors import Invalid, NotFound
from inbox.queries import contact_for, conversations_select
from inbox.serialize import appointment_json, conversation_json, iso, message_json
from inbox.texts import Text
from inbox.uow import UnitOfWork

ct, idc, cv, msg = m.contacts.c, m.contact_identities.c, m.conversations.c, m.messages.c
ap, ev, ob, jb, bt = m.appointments.c, m.events.c, m.outbox.c, m.jobs.c, m.bot_turns.c

# What an erased contact is called from then on, everywhere its name is shown.
ERASED_NAME = "Contato apagado"


class EraseIn(BaseModel):
    """POST /api/contacts/{id}/erase: `{"confirm": true}`, so that no stray click erases anyone."""

    model_config = ConfigDict(extra="forbid")
    confirm: StrictBool  # JSON true itself: "yes" or 1 are not a confirmation


async def _contact(uow: UnitOfWork, actor: Principal, contact_id: int, *, lock: bool = False) -> Row[Any]:
    q = select(m.contacts).where(ct.id == contact_id, ct.tenant_id == actor.tenant_id)
    if lock and uow.dialect == "postgresql":
        q = q.with_for_update()  # two erasures (or an erasure and a profile change) of one contact queue up
    row = (await uow.conn.execute(q)).first()
    if row is None:
        raise NotFound("contact not found")
    return row


async def export_contact(uow: UnitOfWork, actor: Principal, contact_id: int) -> dict[str, Any]:
    """Everything kept about the contact as one JSON document: profile and identities, its
    conversations (labels, messages with their statuses), appointments, the number of bot turns."""
    await _contact(uow, actor, contact_id)
    conn = uow.conn
    rows = (
        await conn.execute(conversations_select().where(cv.contact_id == contact_id).order_by(cv.id))
    ).all()
    conversations = [conversation_json(r._mapping) for r in rows]
    await attach_labels(conn, conversations)
    ids = [c["id"] for c in conversations]
    by_conversation: dict[int, list[Any]] = {i: [] for i in ids}
    if ids:
        for r in await conn.execute(select(m.messages).where(msg.conversation_id.in_(ids)).order_by(msg.id)):
            by_conversation[r.conversation_id].append(message_json(r._mapping))
    appointments = await conn.execute(
        select(m.appointments).where(ap.contact_id == contact_id).order_by(ap.id)
    )
    turns = 0
    if ids:
        turns = (await conn.execute(select(func.count()).where(bt.conversation_id.in_(ids)))).scalar_one()
    messages = sum(len(v) for v in by_conversation.values())
    await audit.record(
        uow,
        actor.tenant_id,
        "contact.exported",
        target_type="contact",
        target_id=contact_id,
        details={"conversations": len(ids), "messages": messages},
    )
    return {
        "exported_at": iso(m.utcnow()),
        "contact": await contact_for(conn, actor, contact_id),
        "conversations": [{**c, "messages": by_conversation[c["id"]]} for c in conversations],
        "appointments": [appointment_json(a._mapping) for a in appointments],
        "bot_turns": turns,
    }


async def erase_contact(uow: UnitOfWork, actor: Principal, contact_id: int, confirm: bool) -> dict[str, Any]:
    """Erase the contact's personal data in one transaction; answers the anonymised contact and what
    was cleared (counts). Its open conversations are resolved and announced; a customer writing again
    afterwards is a new contact, since its identities are gone."""
    if confirm is not True:
        raise Invalid(
            'confirm: must be true to erase a contact (send {"confirm": true})', code="erase_unconfirmed"
        )
    await _contact(uow, actor, contact_id, lock=True)
    conn, tenant_id, now = uow.conn, actor.tenant_id, m.utcnow()
    conv_rows = (await conn.execute(select(cv.id, cv.status).where(cv.contact_id == contact_id))).all()
    ids = [r.id for r in conv_rows]

    # The profile first: the conversation.updated events below carry the anonymised name. Opted out,
    # so that no automation ever writes to whoever the contact row stands for now.
    await conn.execute(
        update(m.contacts)
        .where(ct.id == contact_id)
        .values(name=ERASED_NAME, email=None, phone=None, birthday=None, attributes={}, opted_out_at=now)
    )
    identities = (
        await conn.execute(delete(m.contact_identities).where(idc.contact_id == contact_id))
    ).rowcount
    appointments = (
        await conn.execute(
            update(m.appointments).where(ap.contact_id == contact_id).values(title="", updated_at=now)
        )
    ).rowcount
    messages = events = 0
    if ids:
        # Replies still waiting to go out would now be empty, to someone erased: they never leave.
        unsent = select(ob.message_id).where(ob.conversation_id.in_(ids)).scalar_subquery()
        await conn.execute(
            update(m.messages).where(msg.id.in_(unsent)).values(status="failed", error="contact erased")
        )
        await conn.execute(delete(m.outbox).where(ob.conversation_id.in_(ids)))
        # Rows stay (counts, response times, statuses); the text is also dropped from the search
        # index by its own triggers (SQLite FTS5) or index maintenance (pg_trgm).
        messages = (
            await conn.execute(
                update(m.messages)
                .where(msg.conversation_id.in_(ids))
                .values(text=None, text_code=None, attachments=[], raw=None, deleted=True)
            )
        ).rowcount
        await conn.execute(
            delete(m.jobs).where(jb.kind.in_(("bot", "snooze")), jb.key.in_([str(i) for i in ids]))
        )
        events = await _scrub_event_log(uow, tenant_id, ids)
        for r in conv_rows:
            if r.status != "resolved":
                conv = await load(uow, tenant_id, r.id, lock=True)
                await change(
                    uow,
                    conv,
                    Text("contact.erased", by=actor.name),
                    why="resolve",
                    by=actor.agent_id,
                    status="resolved",
                    resolved_at=now,
                    snoozed_until=None,
                )
    erased = {
        "conversations": len(ids),
        "messages": messages,
        "identities": identities,
        "appointments": appointments,
        "events": events,
    }
    # Who erased whom and how much: never a name, number or text of what was erased.
    await audit.record(
        uow, tenant_id, "contact.erased", target_type="contact", target_id=contact_id, details=erased
    )
    return {"contact": await contact_for(conn, actor, contact_id), "erased": erased}


# The replay log keeps each event's frame for `since` replays (until retention prunes it): the
# contact's copies there are rewritten in place, so a replaying socket gets the same sequence of
# events, now without the content. Deleting them instead would open gaps in the log.
_rewrite = (
    update(m.events)
    .where(ev.tenant_id == bindparam("tid"), ev.seq == bindparam("s"))
    .values(frame=bindparam("f"))
)


async def _scrub_event_log(uow: UnitOfWork, tenant_id: int, conversation_ids: list[int]) -> int:
    rows = (
        await uow.conn.execute(
            select(ev.seq, ev.frame).where(
                ev.tenant_id == tenant_id, ev.conversation_id.in_(conversation_ids)
            )
        )
    ).all()
    changed = [
        {"tid": tenant_id, "s": r.seq, "f": new}
        for r in rows
        if (new := scrub_frame(r.frame, set(conversation_ids))) != r.frame
    ]
    if changed:
        await uow.conn.execute(_rewrite, changed)
    return len(changed)


def scrub_frame(frame: str, conversation_ids: set[int]) -> str:
    """The frame with the erased conversations' messages emptied (as an unsent message is) and the
    contact's name anonymised; anything else in it unchanged. Pure."""
    data = json.loads(frame)
    data["data"] = _scrub(data.get("data"), conversation_ids)
    return json.dumps(data, separators=(",", ":"), default=str)


def _scrub(value: Any, conversation_ids: set[int]) -> Any:
    if isinstance(value, list):
        return [_scrub(v, conversation_ids) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _scrub(v, conversation_ids) for k, v in value.items()}
    if "direction" in out and out.get("conversation_id") in conversation_ids:  # a Message
        out.update(text=None, attachments=[], deleted=True)
    contact = out.get("contact")
    if (
        isinstance(contact, dict) and "name" in contact and out.get("id") in conversation_ids
    ):  # a Conversation
        contact["name"] = ERASED_NAME
    return out
