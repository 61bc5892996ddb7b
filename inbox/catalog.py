"""Reads of what a tenant keeps for its agents: canned responses and labels (with the labels each
conversation carries, and the label filter of the conversation list).

Owns those reads and the LIKE escaping every substring search uses. Never writes (inbox/actions/
canned.py and labels.py do).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.serialize import ConversationData, iso
from inbox.uploads import attachment

cr, lb, cl = m.canned_responses.c, m.labels.c, m.conversation_labels.c
cru, up = m.canned_response_uploads.c, m.uploads.c

LIKE_ESCAPE = "\\"


def like_pattern(q: str) -> str:
    """`%q%` with LIKE's wildcards in `q` escaped: a customer's `50%` or `a_b` is searched as text."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def canned_json(row: Any, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "short_code": row.short_code,
        "body": row.body,
        "attachments": attachments,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def canned_attachments(
    conn: AsyncConnection, canned_ids: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each canned response's files in order, shaped as a reply's uploaded attachment (`upload_id`
    is what the composer sends back)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in canned_ids}
    if out:
        rows = await conn.execute(
            select(cru.canned_response_id, m.uploads)
            .join(m.uploads, up.id == cru.upload_id)
            .where(cru.canned_response_id.in_(list(out)))
            .order_by(cru.canned_response_id, cru.position)
        )
        for r in rows:
            out[r.canned_response_id].append(attachment(r))
    return out


async def list_canned(conn: AsyncConnection, tenant_id: int, q: str | None) -> dict[str, Any]:
    stmt = select(m.canned_responses).where(cr.tenant_id == tenant_id)
    if q and q.strip():
        like = like_pattern(q.strip().lower())
        stmt = stmt.where(
            or_(
                func.lower(cr.short_code).like(like, escape=LIKE_ESCAPE),
                func.lower(cr.body).like(like, escape=LIKE_ESCAPE),
            )
        )
    rows = (await conn.execute(stmt.order_by(cr.short_code))).all()
    files = await canned_attachments(conn, [r.id for r in rows])
    return {"items": [canned_json(r, files[r.id]) for r in rows]}


def label_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "color": row.color}


async def list_labels(conn: AsyncConnection, tenant_id: int) -> dict[str, Any]:
    rows = await conn.execute(select(m.labels).where(lb.tenant_id == tenant_id).order_by(lb.name))
    return {"items": [label_json(r) for r in rows]}


async def labels_of(
    conn: AsyncConnection, conversation_ids: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each conversation's labels (by name), one query."""
    ids = list(conversation_ids)
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = await conn.execute(
        select(cl.conversation_id, m.labels)
        .join(m.labels, lb.id == cl.label_id)
        .where(cl.conversation_id.in_(ids))
        .order_by(lb.name)
    )
    for r in rows:
        out[r.conversation_id].append(label_json(r))
    return out


async def attach_labels(conn: AsyncConnection, items: list[ConversationData]) -> None:
    """Conversations (serialized) get `labels`: [{"id", "name", "color"}]."""
    by_id = await labels_of(conn, [i["id"] for i in items])
    for item in items:
        item["labels"] = by_id.get(item["id"], [])


def labelled(tenant_id: int, name: str) -> ColumnElement[bool]:
    """SQL condition: the conversation carries the tenant's label `name`."""
    return m.conversations.c.id.in_(
        select(cl.conversation_id)
        .join(m.labels, lb.id == cl.label_id)
        .where(lb.tenant_id == tenant_id, lb.name == name)
    )


async def label_report(
    conn: AsyncConnection, tenant_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Conversations per label among those active in [start, end) (created before its end, with a
    message since its start): every label of the tenant, zeros included, most used first."""
    cv = m.conversations.c
    active = select(cv.id).where(cv.tenant_id == tenant_id, cv.last_message_at >= start, cv.created_at < end)
    n = func.count(cl.conversation_id)
    rows = await conn.execute(
        select(lb.id, lb.name, lb.color, n.label("conversations"))
        .select_from(m.labels)
        .outerjoin(m.conversation_labels, and_(cl.label_id == lb.id, cl.conversation_id.in_(active)))
        .where(lb.tenant_id == tenant_id)
        .group_by(lb.id, lb.name, lb.color)
        .order_by(n.desc(), lb.name)
    )
    return [
        {"label_id": r.id, "name": r.name, "color": r.color, "conversations": int(r.conversations)}
        for r in rows
    ]
