"""Canned responses: create, change, delete (supervisors and admins; the API checks the role).

Owns the short-code rules (unique per tenant: 409). Bodies are stored as written: their
`{{variables}}` are filled in the agent's browser (static/js/template.js) from the open
conversation, never here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from inbox import models as m
from inbox.catalog import canned_json
from inbox.errors import Conflict, NotFound
from inbox.uow import UnitOfWork

cr = m.canned_responses.c


async def create(
    uow: UnitOfWork, tenant_id: int, agent_id: int, short_code: str, body: str
) -> dict[str, Any]:
    now = m.utcnow()
    try:
        async with uow.conn.begin_nested():
            row = (
                await uow.conn.execute(
                    insert(m.canned_responses)
                    .values(
                        tenant_id=tenant_id,
                        short_code=short_code,
                        body=body,
                        created_by=agent_id,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(m.canned_responses)
                )
            ).one()
    except IntegrityError as exc:
        raise Conflict(
            f"short_code: /{short_code} already exists", code="name_taken", params={"field": "short_code"}
        ) from exc
    return canned_json(row)


async def _mine(uow: UnitOfWork, tenant_id: int, canned_id: int) -> Any:
    row = (
        await uow.conn.execute(
            select(m.canned_responses).where(cr.id == canned_id, cr.tenant_id == tenant_id)
        )
    ).first()
    if row is None:
        raise NotFound("canned response not found")
    return row


async def change(
    uow: UnitOfWork, tenant_id: int, canned_id: int, short_code: str, body: str
) -> dict[str, Any]:
    await _mine(uow, tenant_id, canned_id)
    try:
        async with uow.conn.begin_nested():
            row = (
                await uow.conn.execute(
                    update(m.canned_responses)
                    .where(cr.id == canned_id)
                    .values(short_code=short_code, body=body, updated_at=m.utcnow())
                    .returning(m.canned_responses)
                )
            ).one()
    except IntegrityError as exc:
        raise Conflict(
            f"short_code: /{short_code} already exists", code="name_taken", params={"field": "short_code"}
        ) from exc
    return canned_json(row)


async def remove(uow: UnitOfWork, tenant_id: int, canned_id: int) -> None:
    await _mine(uow, tenant_id, canned_id)
    await uow.conn.execute(delete(m.canned_responses).where(cr.id == canned_id))
