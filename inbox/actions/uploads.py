"""Uploaded files: the row that says whose a stored file is (inbox/uploads.py stores the bytes), and
the lookup that turns a reply's `upload_id`s into its attachments, scoped to the tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.errors import Unprocessable
from inbox.uow import UnitOfWork
from inbox.uploads import attachment, upload_json

up = m.uploads.c


async def record(
    uow: UnitOfWork,
    tenant_id: int,
    agent_id: int | None,
    *,
    storage_key: str,
    name: str,
    mime_type: str,
    size: int,
) -> dict[str, Any]:
    row = (
        await uow.conn.execute(
            insert(m.uploads)
            .values(
                tenant_id=tenant_id,
                agent_id=agent_id,
                storage_key=storage_key,
                name=name,
                mime_type=mime_type,
                size=size,
                created_at=m.utcnow(),
            )
            .returning(m.uploads)
        )
    ).one()
    return upload_json(row)


async def find(conn: AsyncConnection, tenant_id: int, upload_id: int) -> Any:
    """The tenant's upload row, or None (another tenant's is None too)."""
    q = select(m.uploads).where(up.id == upload_id, up.tenant_id == tenant_id)
    return (await conn.execute(q)).first()


async def by_id(conn: AsyncConnection, upload_id: int) -> Any:
    """Any tenant's upload row: only for the signed address, whose signature names the tenant
    (inbox.uploads.signed is checked against the row's tenant before anything is served)."""
    return (await conn.execute(select(m.uploads).where(up.id == upload_id))).first()


async def attachments(
    conn: AsyncConnection, tenant_id: int, upload_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """The attachments of a reply made of these uploads, in order; 422 naming one that is not the
    tenant's (unknown and foreign ids read the same)."""
    if not upload_ids:
        return []
    q = select(m.uploads).where(up.tenant_id == tenant_id, up.id.in_(set(upload_ids)))
    rows = {r.id: r for r in (await conn.execute(q)).all()}
    out = []
    for upload_id in upload_ids:
        row = rows.get(upload_id)
        if row is None:
            raise Unprocessable(f"upload {upload_id} not found: upload the file again", code="upload_missing")
        out.append(attachment(row))
    return out
