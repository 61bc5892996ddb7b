"""Reads around one contact for the contact panel: whether the principal may read it, and which other
contacts may be the same person (merge candidates). Never writes.

Owns the contact's visibility rule: supervisors and admins read every contact of their tenant; an
agent reads a contact when it may see one of its conversations (inbox/access.py's rule), as search
already shows contacts (inbox/search.py).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.access import conversation_filter
from inbox.auth import Principal
from inbox.catalog import LIKE_ESCAPE, like_pattern
from inbox.errors import Forbidden, Invalid, NotFound
from inbox.queries import contacts_json

ct, cv, idc = m.contacts.c, m.conversations.c, m.contact_identities.c

CANDIDATES = 20
MAX_QUERY = 200
# A phone number (or a WhatsApp id, which is one) has at least this many digits.
_MIN_PHONE = 6


def readable(p: Principal) -> ColumnElement[bool]:
    """SQL condition (beyond the tenant) on contacts `p` may read."""
    if p.sees_all:
        return true()
    seen = select(cv.contact_id).where(cv.tenant_id == p.tenant_id, conversation_filter(p))
    return ct.id.in_(seen)


async def readable_contact(conn: AsyncConnection, p: Principal, contact_id: int) -> Row[Any]:
    """The contacts row: 404 unless the tenant's, 403 when `p` may see none of its conversations."""
    row = (
        await conn.execute(select(m.contacts).where(ct.id == contact_id, ct.tenant_id == p.tenant_id))
    ).first()
    if row is None:
        raise NotFound("contact not found")
    if not p.sees_all:
        seen = (await conn.execute(select(ct.id).where(ct.id == contact_id, readable(p)))).first()
        if seen is None:
            raise Forbidden("you may not see this contact's conversations")
    return row


def _digits(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    return digits if len(digits) >= _MIN_PHONE else None


async def merge_candidates(
    conn: AsyncConnection, p: Principal, contact_id: int, q: str | None
) -> list[dict[str, Any]]:
    """Other contacts `p` may read that may be the same person, newest first. With `q`: those whose
    name, email, phone or channel id contains it. Without: those sharing the contact's email, or
    its phone number as a phone or a channel id (a WhatsApp id is the number)."""
    row = await readable_contact(conn, p, contact_id)
    stmt = select(m.contacts).where(ct.tenant_id == p.tenant_id, ct.id != contact_id, readable(p))
    q = (q or "").strip()
    if len(q) > MAX_QUERY:
        raise Invalid(f"q: at most {MAX_QUERY} characters")
    if q:
        like = like_pattern(q.lower())
        matches: list[ColumnElement[bool]] = [
            func.lower(column).like(like, escape=LIKE_ESCAPE) for column in (ct.name, ct.email, ct.phone)
        ]
        identity: ColumnElement[bool] = func.lower(idc.external_id).like(like, escape=LIKE_ESCAPE)
        if digits := _digits(q):  # "+55 (11) 9123-4567" finds 5511912345678
            identity = or_(identity, idc.external_id.like(like_pattern(digits), escape=LIKE_ESCAPE))
            matches.append(ct.phone.like(like_pattern(digits), escape=LIKE_ESCAPE))
        matches.append(ct.id.in_(select(idc.contact_id).where(idc.tenant_id == p.tenant_id, identity)))
        stmt = stmt.where(or_(*matches))
    else:
        own = (await conn.execute(select(idc.external_id).where(idc.contact_id == contact_id))).scalars()
        phones = {d for d in (_digits(row.phone), *(_digits(x) for x in own if x.isdigit())) if d}
        same: list[ColumnElement[bool]] = []
        if row.email:
            same.append(ct.email == row.email)
        if phones:
            same.append(ct.phone.in_(sorted(phones | {f"+{x}" for x in phones})))
            same.append(
                ct.id.in_(
                    select(idc.contact_id).where(
                        idc.tenant_id == p.tenant_id, idc.external_id.in_(sorted(phones))
                    )
                )
            )
        if not same:
            return []
        stmt = stmt.where(or_(*same))
    rows = (await conn.execute(stmt.order_by(ct.id.desc()).limit(CANDIDATES))).all()
    return await contacts_json(conn, rows)
