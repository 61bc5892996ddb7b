"""Labels: the tenant's set (create, rename/recolour, delete: supervisors and admins) and the labels
on a conversation (any agent who may read it).

Owns label uniqueness per tenant (409) and the rule that a conversation's labels are replaced as a
set. Setting them emits `conversation.updated` carrying `labels`, so other agents' lists follow.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from inbox import models as m
from inbox.actions.conversations import visible
from inbox.actions.events import updated_event
from inbox.auth import Principal
from inbox.catalog import label_json, labels_of
from inbox.errors import Conflict, NotFound, Unprocessable
from inbox.serialize import ConversationData
from inbox.uow import UnitOfWork

lb, cl = m.labels.c, m.conversation_labels.c


async def create(uow: UnitOfWork, tenant_id: int, name: str, color: str) -> dict[str, Any]:
    try:
        async with uow.conn.begin_nested():
            row = (
                await uow.conn.execute(
                    insert(m.labels)
                    .values(tenant_id=tenant_id, name=name, color=color, created_at=m.utcnow())
                    .returning(m.labels)
                )
            ).one()
    except IntegrityError as exc:
        raise Conflict(
            f"name: a label named {name!r} already exists", code="name_taken", params={"field": "name"}
        ) from exc
    return label_json(row)


async def _mine(uow: UnitOfWork, tenant_id: int, label_id: int) -> Any:
    row = (
        await uow.conn.execute(select(m.labels).where(lb.id == label_id, lb.tenant_id == tenant_id))
    ).first()
    if row is None:
        raise NotFound("label not found")
    return row


async def change(uow: UnitOfWork, tenant_id: int, label_id: int, values: dict[str, Any]) -> dict[str, Any]:
    row = await _mine(uow, tenant_id, label_id)
    if not values:
        return label_json(row)
    try:
        async with uow.conn.begin_nested():
            row = (
                await uow.conn.execute(
                    update(m.labels).where(lb.id == label_id).values(**values).returning(m.labels)
                )
            ).one()
    except IntegrityError as exc:
        raise Conflict(
            f"name: a label named {values.get('name')!r} already exists",
            code="name_taken",
            params={"field": "name"},
        ) from exc
    return label_json(row)


async def remove(uow: UnitOfWork, tenant_id: int, label_id: int) -> None:
    await _mine(uow, tenant_id, label_id)
    await uow.conn.execute(delete(m.labels).where(lb.id == label_id))


async def set_on_conversation(
    uow: UnitOfWork, actor: Principal, conversation_id: int, names: list[str]
) -> dict[str, Any]:
    """Replace the conversation's labels with `names` (the tenant's labels; an unknown one is 422).
    Returns the conversation row's serialized shape with `labels`."""
    conv = await visible(uow, actor, conversation_id)
    wanted = sorted(set(names))
    rows = (
        await uow.conn.execute(
            select(lb.id, lb.name).where(lb.tenant_id == actor.tenant_id, lb.name.in_(wanted))
        )
    ).all()
    unknown = sorted(set(wanted) - {r.name for r in rows})
    if unknown:
        raise Unprocessable(
            f"labels: no label named {unknown[0]!r}", code="label_unknown", params={"name": unknown[0]}
        )
    await uow.conn.execute(delete(m.conversation_labels).where(cl.conversation_id == conv.id))
    if rows:
        await uow.conn.execute(
            insert(m.conversation_labels),
            [{"conversation_id": conv.id, "label_id": r.id, "tenant_id": actor.tenant_id} for r in rows],
        )
    labels = (await labels_of(uow.conn, [conv.id]))[conv.id]
    event = updated_event(conv)
    data = cast(ConversationData, dict(event.data))
    data["labels"] = labels
    uow.emit(actor.tenant_id, replace(event, data=data))
    return dict(data)
