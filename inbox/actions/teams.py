"""Who works where: queue membership, agent capacity and role, a channel's queue, routing settings.

Owns the writes behind the admin API's team pages (tenant, agent and channel creation stay in
inbox/actions/admin.py). Every change that moves who may be assigned pokes routing after commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from inbox import audit, routing_settings
from inbox import models as m
from inbox.actions.admin import update_channel
from inbox.actions.events import agent_event
from inbox.auth import ROLES
from inbox.errors import Invalid, NotFound
from inbox.serialize import AgentData, agent_json
from inbox.signals import routing_changed
from inbox.uow import UnitOfWork
from inbox.validation import validate

qu, qm, ag, tn = m.queues.c, m.queue_members.c, m.agents.c, m.tenants.c


def _poke(uow: UnitOfWork, tenant_id: int) -> None:
    rt = uow.runtime
    uow.after_commit(lambda: routing_changed(rt, tenant_id))


async def list_queues(uow: UnitOfWork, tenant_id: int) -> list[dict[str, Any]]:
    rows = (await uow.conn.execute(select(m.queues).where(qu.tenant_id == tenant_id).order_by(qu.id))).all()
    members: dict[int, list[int]] = {}
    for queue_id, agent_id in await uow.conn.execute(
        select(qm.queue_id, qm.agent_id).where(qm.tenant_id == tenant_id).order_by(qm.agent_id)
    ):
        members.setdefault(queue_id, []).append(agent_id)
    return [{"id": r.id, "name": r.name, "agent_ids": members.get(r.id, [])} for r in rows]


async def set_members(uow: UnitOfWork, tenant_id: int, queue_id: int, agent_ids: list[int]) -> dict[str, Any]:
    """Replace a queue's members. Unknown ids (or another tenant's) are refused, not skipped."""
    q = (await uow.conn.execute(select(m.queues).where(qu.id == queue_id, qu.tenant_id == tenant_id))).first()
    if q is None:
        raise NotFound("queue not found")
    wanted = sorted(set(agent_ids))
    if wanted:
        found = set(
            (
                await uow.conn.execute(select(ag.id).where(ag.tenant_id == tenant_id, ag.id.in_(wanted)))
            ).scalars()
        )
        missing = [a for a in wanted if a not in found]
        if missing:
            raise NotFound(f"unknown agents {missing}")
    await uow.conn.execute(delete(m.queue_members).where(qm.queue_id == queue_id))
    if wanted:
        await uow.conn.execute(
            insert(m.queue_members),
            [{"queue_id": queue_id, "agent_id": a, "tenant_id": tenant_id} for a in wanted],
        )
    _poke(uow, tenant_id)
    await audit.record(
        uow,
        tenant_id,
        "queue.members_set",
        target_type="queue",
        target_id=queue_id,
        details={"agent_ids": wanted},
    )
    return {"id": q.id, "name": q.name, "agent_ids": wanted}


async def update_agent(
    uow: UnitOfWork, tenant_id: int, agent_id: int, *, capacity: int | None = None, role: str | None = None
) -> AgentData:
    values: dict[str, Any] = {}
    if capacity is not None:
        if capacity < 0:
            raise Invalid("capacity must be zero or more", code="capacity_negative")
        values["capacity"] = capacity
    if role is not None:
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        values["role"] = role
    if not values:
        raise Invalid("nothing to change: give capacity or role")
    row = (
        await uow.conn.execute(
            update(m.agents)
            .where(ag.id == agent_id, ag.tenant_id == tenant_id)
            .values(**values)
            .returning(m.agents)
        )
    ).first()
    if row is None:
        raise NotFound("agent not found")
    data = agent_json(row._mapping)
    uow.emit(tenant_id, agent_event(data))
    _poke(uow, tenant_id)
    await audit.record(
        uow, tenant_id, "agent.updated", target_type="agent", target_id=agent_id, details=values
    )
    return data


async def set_channel_queue(
    uow: UnitOfWork, tenant_id: int, channel_id: int, queue_id: int | None
) -> dict[str, Any]:
    """New conversations of the channel go to `queue_id` (open ones keep theirs)."""
    if queue_id is not None:
        found = select(qu.id).where(qu.id == queue_id, qu.tenant_id == tenant_id)
        if (await uow.conn.execute(found)).first() is None:
            raise NotFound("queue not found")
    return await update_channel(uow, tenant_id, channel_id, queue_id=queue_id)


async def get_routing(uow: UnitOfWork, tenant_id: int) -> dict[str, Any]:
    return (await routing_settings.load(uow.conn, tenant_id)).model_dump(mode="json")


async def update_routing(uow: UnitOfWork, tenant_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the stored routing settings (a null value restores that default)."""
    q = select(tn.settings).where(tn.id == tenant_id)
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    stored = (await uow.conn.execute(q)).scalar()
    if stored is None:
        raise NotFound("tenant not found")
    settings = dict(stored)
    layer = dict(settings.get("routing") or {})
    for key, value in changes.items():
        if value is None and key not in ("requeue_offline_after_seconds", "sla_first_response_seconds"):
            layer.pop(key, None)
        else:
            layer[key] = value
    checked = validate(routing_settings.RoutingSettings, layer, what="settings")
    settings["routing"] = layer
    await uow.conn.execute(update(m.tenants).where(tn.id == tenant_id).values(settings=settings))
    _poke(uow, tenant_id)
    await audit.record(
        uow, tenant_id, "settings.routing_updated", target_type="tenant", target_id=tenant_id, details=changes
    )
    return checked.model_dump(mode="json")
