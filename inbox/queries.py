"""Reads, always scoped to a tenant (and to what the principal may see).

Owns the joined shapes the serializers expect. Never writes.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, and_, any_, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.access import conversation_filter, may_see_conversation
from inbox.auth import Principal
from inbox.catalog import attach_labels, labelled
from inbox.db import per_dialect
from inbox.errors import Forbidden, Invalid, NotFound
from inbox.serialize import ConversationData, contact_json, conversation_json, iso, message_json

cv, ch, ct, msg = m.conversations.c, m.channels.c, m.contacts.c, m.messages.c

CONVERSATION_COLUMNS = (
    m.conversations,
    ch.kind.label("channel_kind"),
    ch.name.label("channel_name"),
    ch.provider.label("channel_provider"),
    ct.name.label("contact_name"),
)


def conversations_select() -> Select[Any]:
    return (
        select(*CONVERSATION_COLUMNS)
        .join(m.channels, ch.id == cv.channel_id)
        .join(m.contacts, ct.id == cv.contact_id)
    )


_one_conversation = conversations_select().where(cv.id == bindparam("cid"))


async def conversation_row(conn: AsyncConnection, conversation_id: int) -> Any:
    return (await conn.execute(_one_conversation, {"cid": conversation_id})).first()


async def conversation_for(conn: AsyncConnection, p: Principal, conversation_id: int) -> Any:
    """The conversation row if `p` may see it: 404 for another tenant's (or none), 403 beyond the rule."""
    row = await conversation_row(conn, conversation_id)
    if row is None or row.tenant_id != p.tenant_id:
        raise NotFound("conversation not found", code="conversation_not_found")
    if not may_see_conversation(p, row.assignee_id, row.queue_id):
        raise Forbidden("this conversation is assigned to another agent", code="conversation_forbidden")
    return row


def _encode_cursor(at: datetime, cid: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{cid}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, cid = raw.rsplit("|", 1)
        return datetime.fromisoformat(at), int(cid)
    except ValueError as exc:
        raise Invalid("cursor is not valid") from exc


async def list_conversations(
    conn: AsyncConnection,
    p: Principal,
    *,
    status: str | None = None,
    assignee: str | None = None,
    channel: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    label: str | None = None,
    contact_id: int | None = None,
) -> dict[str, Any]:
    q = conversations_select().where(cv.tenant_id == p.tenant_id, conversation_filter(p))
    if contact_id is not None:
        q = q.where(cv.contact_id == contact_id)
    if label:
        q = q.where(labelled(p.tenant_id, label))
    if status:
        statuses = [s for s in status.split(",") if s]
        q = q.where(cv.status.in_(statuses))
    if assignee == "me":
        q = q.where(cv.assignee_id == p.agent_id)
    elif assignee == "unassigned":
        q = q.where(cv.assignee_id.is_(None))
    elif assignee:
        try:
            q = q.where(cv.assignee_id == int(assignee))
        except ValueError as exc:
            raise Invalid("assignee must be me, unassigned or an agent id") from exc
    if channel:
        try:
            q = q.where(cv.channel_id == int(channel))
        except ValueError as exc:
            raise Invalid("channel must be a channel id") from exc
    if cursor:
        at, cid = _decode_cursor(cursor)
        q = q.where(or_(cv.last_message_at < at, and_(cv.last_message_at == at, cv.id < cid)))
    q = q.order_by(cv.last_message_at.desc(), cv.id.desc()).limit(limit + 1)
    rows = (await conn.execute(q)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1].last_message_at, rows[-1].id)
    items = [conversation_json(r._mapping) for r in rows]
    await _attach_last_messages(conn, items)
    await attach_labels(conn, items)
    return {"items": items, "next_cursor": next_cursor}


# What `message_json` shows of a message: not the provider's raw payload (kilobytes of JSON decoded
# per row for nothing) nor the columns it never reads.
_SHOWN = "id conversation_id direction sender_type sender_id kind text attachments status error"
_SHOWN += " provider_message_id reply_to client_id created_at text_code deleted"
MESSAGE_JSON_COLUMNS = tuple(msg[name] for name in _SHOWN.split())


def _last_messages_of(dialect: str) -> Select[Any]:
    """The newest message of each of the conversations `ids`. On PostgreSQL the ids are one array
    parameter: an expanding IN was rendered anew for every page (its 50 placeholders and casts)."""
    if dialect == "postgresql":
        within = msg.conversation_id == any_(bindparam("ids", type_=postgresql.ARRAY(BigInteger)))
    else:
        within = msg.conversation_id.in_(bindparam("ids", expanding=True))
    newest = select(func.max(msg.id)).where(within).group_by(msg.conversation_id)
    return select(*MESSAGE_JSON_COLUMNS).where(msg.id.in_(newest))


_last_messages = per_dialect(_last_messages_of)


async def _attach_last_messages(conn: AsyncConnection, items: list[ConversationData]) -> None:
    """Each item's newest message as `last_message` (the list's preview line): one query per page,
    max(id) per conversation on ix_messages_conversation."""
    ids = [i["id"] for i in items]
    if not ids:
        return
    rows = await conn.execute(_last_messages(conn.dialect.name), {"ids": ids})
    by_conversation = {r.conversation_id: message_json(r._mapping) for r in rows}
    for item in items:
        item["last_message"] = by_conversation.get(item["id"])


_messages_of = select(m.messages).where(msg.conversation_id == bindparam("cid")).order_by(msg.id)


async def list_messages(conn: AsyncConnection, p: Principal, conversation_id: int) -> dict[str, Any]:
    await conversation_for(conn, p, conversation_id)
    rows = await conn.execute(_messages_of, {"cid": conversation_id})
    return {"items": [message_json(r._mapping) for r in rows]}


async def message_row(conn: AsyncConnection, tenant_id: int, message_id: int) -> Any:
    row = (await conn.execute(select(m.messages).where(msg.id == message_id))).first()
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("message not found")
    return row


async def search_contacts(
    conn: AsyncConnection, p: Principal, q: str | None, limit: int = 50
) -> dict[str, Any]:
    idc = m.contact_identities.c
    stmt = select(m.contacts).where(ct.tenant_id == p.tenant_id)
    if q:
        like = f"%{q.strip().lower()}%"
        by_identity = select(idc.contact_id).where(
            idc.tenant_id == p.tenant_id, func.lower(idc.external_id).like(like)
        )
        stmt = stmt.where(or_(func.lower(ct.name).like(like), ct.id.in_(by_identity)))
    rows = (await conn.execute(stmt.order_by(ct.id.desc()).limit(limit))).all()
    return {"items": await contacts_json(conn, rows)}


async def contacts_json(conn: AsyncConnection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Contacts rows as Contacts, with their identities (one query for all)."""
    idc = m.contact_identities.c
    ids = [r.id for r in rows]
    identities: dict[int, list[Any]] = {i: [] for i in ids}
    if ids:
        for ident in await conn.execute(
            select(m.contact_identities).where(idc.contact_id.in_(ids)).order_by(idc.id)
        ):
            identities[ident.contact_id].append(ident._mapping)
    return [contact_json(r._mapping, identities[r.id]) for r in rows]


async def contact_for(conn: AsyncConnection, p: Principal, contact_id: int) -> dict[str, Any]:
    row = (await conn.execute(select(m.contacts).where(ct.id == contact_id))).first()
    if row is None or row.tenant_id != p.tenant_id:
        raise NotFound("contact not found")
    idc = m.contact_identities.c
    idents = [
        i._mapping
        for i in await conn.execute(select(m.contact_identities).where(idc.contact_id == contact_id))
    ]
    return contact_json(row._mapping, idents)


async def assignment_history(conn: AsyncConnection, p: Principal, conversation_id: int) -> dict[str, Any]:
    """A conversation's assignment history, oldest first, for whoever may see the conversation. Ids
    only (the browser knows agents' and queues' names)."""
    await conversation_for(conn, p, conversation_id)
    a = m.assignments.c
    rows = await conn.execute(
        select(m.assignments)
        .where(a.tenant_id == p.tenant_id, a.conversation_id == conversation_id)
        .order_by(a.at, a.id)
    )
    return {
        "items": [
            {
                "id": r.id,
                "at": iso(r.at),
                "reason": r.reason,
                "from_agent_id": r.from_agent_id,
                "to_agent_id": r.to_agent_id,
                "actor_id": r.actor_id,
                "queue_id": r.queue_id,
                "held_since": iso(r.held_since),
            }
            for r in rows
        ]
    }
