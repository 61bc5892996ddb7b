"""Canned responses: create, change, delete (supervisors and admins; the API checks the role).

Owns the short-code rules (unique per tenant: 409) and the files a canned response carries: uploads
of the same tenant (POST /api/uploads), kept by reference in order; another tenant's upload reads
as a missing one (422 naming `upload_ids`). Bodies are stored as written: their
`{{variables}}` are filled in the agent's browser (static/js/template.js) from the open
conversation, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from inbox import models as m
from inbox.catalog import canned_attachments, canned_json
from inbox.errors import Conflict, NotFound, Unprocessable
from inbox.uow import UnitOfWork

cr, cru, up = m.canned_responses.c, m.canned_response_uploads.c, m.uploads.c


async def _checked(uow: UnitOfWork, tenant_id: int, upload_ids: Sequence[int] | None) -> list[int] | None:
    """The uploads, each once in order, once they are all the tenant's (422 naming `upload_ids`).
    Checked before anything is written, so that a refusal costs no write."""
    if upload_ids is None:
        return None
    wanted = list(dict.fromkeys(upload_ids))  # the same file twice is once
    if wanted:
        found = set(
            (
                await uow.conn.execute(select(up.id).where(up.tenant_id == tenant_id, up.id.in_(wanted)))
            ).scalars()
        )
        for upload_id in wanted:
            if upload_id not in found:
                raise Unprocessable(f"upload_ids: upload {upload_id} not found: upload the file again")
    return wanted


async def _attach(uow: UnitOfWork, canned_id: int, upload_ids: list[int] | None) -> None:
    """Replace the canned response's files with these (checked) uploads, in order (None: keep them)."""
    if upload_ids is None:
        return
    await uow.conn.execute(delete(m.canned_response_uploads).where(cru.canned_response_id == canned_id))
    if upload_ids:
        await uow.conn.execute(
            insert(m.canned_response_uploads),
            [
                {"canned_response_id": canned_id, "position": i, "upload_id": upload_id}
                for i, upload_id in enumerate(upload_ids)
            ],
        )


async def _json(uow: UnitOfWork, row: Any) -> dict[str, Any]:
    return canned_json(row, (await canned_attachments(uow.conn, [row.id]))[row.id])


async def create(
    uow: UnitOfWork,
    tenant_id: int,
    agent_id: int,
    short_code: str,
    body: str,
    upload_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    files = await _checked(uow, tenant_id, upload_ids)
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
    await _attach(uow, row.id, files)
    return await _json(uow, row)


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
    uow: UnitOfWork,
    tenant_id: int,
    canned_id: int,
    short_code: str,
    body: str,
    upload_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    await _mine(uow, tenant_id, canned_id)
    files = await _checked(uow, tenant_id, upload_ids)
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
    await _attach(uow, row.id, files)
    return await _json(uow, row)


async def remove(uow: UnitOfWork, tenant_id: int, canned_id: int) -> None:
    await _mine(uow, tenant_id, canned_id)
    # Its files stay uploads of the tenant (a sent reply may show them); only the references go.
    await uow.conn.execute(delete(m.canned_response_uploads).where(cru.canned_response_id == canned_id))
    await uow.conn.execute(delete(m.canned_responses).where(cr.id == canned_id))
