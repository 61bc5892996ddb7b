"""Agent status (online / away / offline): set by the agent, or by the websocket hub when the last
socket closes. Coming online is capacity appearing, so routing is woken."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from inbox import models as m
from inbox.errors import Invalid, NotFound
from inbox.events import Event
from inbox.serialize import agent_json
from inbox.uow import UnitOfWork

STATUSES = ("online", "away", "offline")
ag = m.agents.c


async def set_status(uow: UnitOfWork, tenant_id: int, agent_id: int, status: str) -> dict[str, Any]:
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    row = (
        await uow.conn.execute(
            update(m.agents)
            .where(ag.id == agent_id, ag.tenant_id == tenant_id)
            .values(status=status, status_changed_at=m.utcnow())
            .returning(m.agents)
        )
    ).first()
    if row is None:
        raise NotFound("agent not found")
    data = agent_json(row._mapping)
    uow.emit(tenant_id, Event("agent.updated", data))
    if status == "online":
        uow.after_commit(lambda: uow.runtime.wake("routing"))
    return data
