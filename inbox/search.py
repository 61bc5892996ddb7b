"""Search across the tenant's messages (text) and contacts (name, e-mail, phone field, phone or other
identity), scoped to what the principal may read (inbox/access.py). Never writes.

Owns the matching rule: the query is a plain substring, case-insensitive (and accent-insensitive on
PostgreSQL where `unaccent` is installed). Nothing in it is an operator: LIKE wildcards are escaped,
and on SQLite the FTS5 query is one quoted string. The index behind it is migration 0005's: SQLite's
FTS5 trigram table, fed after commit since migration 0016 (inbox/workers/search_index.py: a message
is found about a second after it is stored, its deletion or cleared text at once), PostgreSQL's
trigram index on `inbox_search_norm(text)` (a message is found at once); on PostgreSQL
migration 0010 adds trigram indexes for contacts' names, e-mails and identities, 0014 one for the
digits of contacts' phone field. Measured by `inbox bench --search` (docs/benchmark.md).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    union,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import Join

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
# What people put between a phone number's digits; removed from the contact's own phone field (free
# text) before its digits are compared. Constants inline, not parameters: PostgreSQL matches the
# expression against migration 0014's index `ix_search_contacts_phone` only as written there.
PHONE_SEPARATORS = (" ", "(", ")", "+", "-", ".", "/")


def phone_digits(value: Any) -> Any:
    """`value` without PHONE_SEPARATORS, the same SQL on both databases (SQLite has no regexp_replace)."""
    for sep in PHONE_SEPARATORS:
        value = func.replace(value, literal_column(f"'{sep}'"), literal_column("''"))
    return value


def _fts_phrase(q: str) -> str:
    """`q` as one FTS5 string: inside double quotes (doubled when in `q`) nothing is an operator."""
    return '"' + q.replace('"', '""') + '"'


# SQLite's FTS5 table (migration 0005), for joining: not a Core table, as it exists in one dialect.
_FTS = table("messages_fts", column("rowid", Integer), column("messages_fts"))


class _InOrder(Join):
    """A join SQLite runs in the written order, left table outside: `CROSS JOIN`, SQLite's documented
    way to fix the order of a join (https://sqlite.org/optoverview.html#crossjoin). Elsewhere a join."""

    inherit_cache = True


@compiles(_InOrder, "sqlite")
def _cross_join(join: _InOrder, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    left, right = compiler.process(join.left, **kw), compiler.process(join.right, **kw)
    return f"{left} CROSS JOIN {right} ON {compiler.process(join.onclause, **kw)}"


def _contains(dialect: str, haystack: Any, q: str) -> ColumnElement[bool]:
    """`q` is in `haystack`, compared as this dialect's search compares (see the module's note)."""
    if dialect == "postgresql":
        norm = func.inbox_search_norm
        if len(q) < TRIGRAM:
            # No trigram index can narrow a shorter string (pg_trgm takes no trigram from '%ok%' and
            # a GIN scan then reads every entry); the planner still estimated a handful of rows and
            # rechecked every contact of every tenant through the index. `strpos` (the same test,
            # not indexable) leaves it the tenant's rows to read, newest first where it can.
            return func.strpos(norm(haystack), norm(q)) > 0
        return norm(haystack).like(norm(like_pattern(q)), escape=LIKE_ESCAPE)
    return haystack.like(like_pattern(q), escape=LIKE_ESCAPE)  # SQLite's LIKE ignores ASCII case


def _messages_matching(dialect: str, q: str) -> tuple[FromClause, ColumnElement[bool], ColumnElement[Any]]:
    """Where the matching messages come from, the match, and the id they are ordered and paged by."""
    if dialect == "sqlite" and len(q) >= TRIGRAM:
        # Joined and ordered by the FTS table's rowid (= the message id): FTS5 then walks its hits
        # newest first and stops at the end of the page. `id IN (SELECT rowid ... MATCH)` listed every
        # hit of every tenant first (27 ms for a common word over 200,000 messages, 1 ms joined).
        return (
            _InOrder(_FTS, m.messages, msg.id == _FTS.c.rowid),
            _FTS.c.messages_fts.match(_fts_phrase(q)),
            _FTS.c.rowid,
        )
    return m.messages, _contains(dialect, msg.text, q), msg.id


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

    source, matches, order = _messages_matching(dialect, q)
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
        # Messages first, newest first, until the page is full; then each one's conversation. Left
        # to itself SQLite (no statistics: the product runs no ANALYZE) started from the tenant's
        # or the agent's conversations and sorted all of their matching messages (250 ms for a
        # two-letter query over 200,000 messages).
        .select_from(
            _InOrder(source, m.conversations, cv.id == msg.conversation_id)
            .join(m.contacts, ct.id == cv.contact_id)
            .join(m.channels, ch.id == cv.channel_id)
        )
        .where(msg.tenant_id == p.tenant_id, seen, msg.deleted.is_(False), matches)
    )
    if before is not None:
        stmt = stmt.where(order < before)
    rows = (await conn.execute(stmt.order_by(order.desc()).limit(limit + 1))).all()
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
    # Identities compared lower-cased (accents kept), the phone digits too (a no-op on digits): one
    # expression, which PostgreSQL's trigram index covers (migration 0010).
    if dialect == "postgresql" and len(q) < TRIGRAM:
        identity = func.strpos(func.lower(idc.external_id), q.lower()) > 0  # see _contains
    else:
        identity = func.lower(idc.external_id).like(like_pattern(q.lower()), escape=LIKE_ESCAPE)
    digits = re.sub(r"\D", "", q)
    phone_like = PHONE.fullmatch(q) is not None and len(digits) >= 4
    if phone_like:  # "+55 (11) 9123-4567" finds 5511912345678
        identity = or_(identity, func.lower(idc.external_id).like(like_pattern(digits), escape=LIKE_ESCAPE))
    # The e-mail kept on the contact (the panel's field), lower-cased like the identities.
    if dialect == "postgresql" and len(q) < TRIGRAM:
        email = func.strpos(func.lower(ct.email), q.lower()) > 0
    else:
        email = func.lower(ct.email).like(like_pattern(q.lower()), escape=LIKE_ESCAPE)
    parts = [
        select(ct.id).where(ct.tenant_id == p.tenant_id, _contains(dialect, ct.name, q)),
        select(ct.id).where(ct.tenant_id == p.tenant_id, email),
        select(idc.contact_id).where(idc.tenant_id == p.tenant_id, identity),
    ]
    if phone_like:
        # The phone kept on the contact (the panel's field, free text): its digits hold the query's.
        # At least 4 digits, so PostgreSQL's trigram index (migration 0014) always narrows.
        phone = phone_digits(ct.phone).like(like_pattern(digits), escape=LIKE_ESCAPE)
        parts.append(select(ct.id).where(ct.tenant_id == p.tenant_id, phone))
    matched = union(*parts)
    # The contact's newest conversation the principal may read: what a result opens, and for an
    # agent the proof it may see the contact at all. Only for the matched contacts: grouping all of
    # the tenant's conversations cost more than the rest of the search.
    latest = (
        select(cv.contact_id, func.max(cv.id).label("conversation_id"))
        .where(seen, cv.contact_id.in_(matched))
        .group_by(cv.contact_id)
        .subquery()
    )
    rows = (
        await conn.execute(
            select(m.contacts, latest.c.conversation_id)
            .join(latest, latest.c.contact_id == ct.id)
            .where(ct.tenant_id == p.tenant_id)
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
