"""Search across the tenant's messages (text) and contacts (name, phone or other identity), scoped to
what the principal may read (inbox/access.py). Never writes.

Owns the matching rule: the query is a plain substring, case-insensitive (and accent-insensitive on
PostgreSQL where `unaccent` is installed). Nothing in it is an operator: LIKE wildcards are escaped,
and on SQLite the FTS5 query is one quoted string. The index behind it is migration 0005's: SQLite's
FTS5 trigram table, PostgreSQL's trigram index on `inbox_search_norm(text)`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.access import conversation_filter
from inbox.auth import Principal
from inbox.catalog import LIKE_ESCAPE, like_pattern
from inbox.errors import Invalid
from inbox.serialize import contact_json, message_json

msg, cv, ch, ct, idc = m.messages.c, m.conversations.c, m.channels.c, m.contacts.c, m.contact_identities.c

MAX_QUERY = 200
CONTACTS_LIMIT = 20
# FTS5's trigram tokenizer indexes three-character windows: shorter queries cannot use it.
TRIGRAM = 3
PHONE = re.compile(r"[\d\s()+.-]+")


def _fts_phrase(q: str) -> str:
    """`q` as one FTS5 string: inside double quotes (doubled when in `q`) nothing is an operator."""
    return '"' + q.replace('"', '""') + '"'


def _text_matches(dialect: str, q: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        norm = func.inbox_search_norm
        return norm(msg.text).like(norm(like_pattern(q)), escape=LIKE_ESCAPE)
    if len(q) >= TRIGRAM:
        fts: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(text("messages_fts"))
            .where(text("messages_fts MATCH :phrase").bindparams(phrase=_fts_phrase(q)))
        )
        return msg.id.in_(fts)
    return msg.text.like(like_pattern(q), escape=LIKE_ESCAPE)  # SQLite's LIKE ignores ASCII case


def _name_matches(dialect: str, column: Any, q: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        norm = func.inbox_search_norm
        return norm(column).like(norm(like_pattern(q)), escape=LIKE_ESCAPE)
    return func.lower(column).like(like_pattern(q.lower()), escape=LIKE_ESCAPE)


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise Invalid("cursor is not valid") from exc


async def search(
    conn: AsyncConnection, p: Principal, q: str | None, *, cursor: str | None = None, limit: int = 30
) -> dict[str, Any]:
    """`{"contacts": [...], "messages": [...], "next_cursor"}`, newest first. Messages page with
    `cursor`; contacts (a short list) come with the first page only."""
    q = (q or "").strip()
    if not q:
        raise Invalid("q: give something to search for", code="search_empty")
    if len(q) > MAX_QUERY:
        raise Invalid(f"q: at most {MAX_QUERY} characters")
    before = _cursor(cursor)
    dialect = conn.dialect.name
    seen = and_(cv.tenant_id == p.tenant_id, conversation_filter(p))

    stmt = (
        select(
            m.messages,
            cv.status.label("conversation_status"),
            cv.assignee_id.label("conversation_assignee_id"),
            cv.contact_id.label("contact_id"),
            ct.name.label("contact_name"),
            ch.kind.label("channel_kind"),
            ch.name.label("channel_name"),
        )
        .join(m.conversations, cv.id == msg.conversation_id)
        .join(m.contacts, ct.id == cv.contact_id)
        .join(m.channels, ch.id == cv.channel_id)
        .where(msg.tenant_id == p.tenant_id, seen, msg.deleted.is_(False), _text_matches(dialect, q))
    )
    if before is not None:
        stmt = stmt.where(msg.id < before)
    rows = (await conn.execute(stmt.order_by(msg.id.desc()).limit(limit + 1))).all()
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    messages = []
    for r in rows[:limit]:
        item: dict[str, Any] = dict(message_json(r._mapping))
        item["conversation"] = {
            "id": r.conversation_id,
            "status": r.conversation_status,
            "assignee_id": r.conversation_assignee_id,
            "contact": {"id": r.contact_id, "name": r.contact_name},
            "channel": {"id": r.channel_id, "kind": r.channel_kind, "name": r.channel_name},
        }
        messages.append(item)

    contacts = [] if before is not None else await _contacts(conn, p, q, seen)
    return {"contacts": contacts, "messages": messages, "next_cursor": next_cursor}


async def _contacts(
    conn: AsyncConnection, p: Principal, q: str, seen: ColumnElement[bool]
) -> list[dict[str, Any]]:
    dialect = conn.dialect.name
    identity: ColumnElement[bool] = func.lower(idc.external_id).like(
        like_pattern(q.lower()), escape=LIKE_ESCAPE
    )
    digits = re.sub(r"\D", "", q)
    if PHONE.fullmatch(q) and len(digits) >= 4:  # "+55 (11) 9123-4567" finds 5511912345678
        identity = or_(identity, idc.external_id.like(like_pattern(digits), escape=LIKE_ESCAPE))
    by_identity = select(idc.contact_id).where(idc.tenant_id == p.tenant_id, identity)
    # The contact's newest conversation the principal may read: what a result opens, and for an
    # agent the proof it may see the contact at all.
    latest = (
        select(cv.contact_id, func.max(cv.id).label("conversation_id"))
        .where(seen)
        .group_by(cv.contact_id)
        .subquery()
    )
    rows = (
        await conn.execute(
            select(m.contacts, latest.c.conversation_id)
            .join(latest, latest.c.contact_id == ct.id)
            .where(
                ct.tenant_id == p.tenant_id,
                or_(_name_matches(dialect, ct.name, q), ct.id.in_(by_identity)),
            )
            .order_by(ct.created_at.desc(), ct.id.desc())
            .limit(CONTACTS_LIMIT)
        )
    ).all()
    ids = [r.id for r in rows]
    identities: dict[int, list[Any]] = {i: [] for i in ids}
    if ids:
        for ident in await conn.execute(
            select(m.contact_identities).where(idc.contact_id.in_(ids)).order_by(idc.id)
        ):
            identities[ident.contact_id].append(ident._mapping)
    out = []
    for r in rows:
        item = contact_json(r._mapping, identities[r.id])
        item["conversation_id"] = r.conversation_id
        out.append(item)
    return out
