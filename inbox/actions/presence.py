"""Agent status (online / away / offline): set by the agent, or by the websocket hub when the last
socket closes. Coming online is capacity appearing, so routing is woken; any change moves the
supervisor's figures, so the tenant is marked for the routing worker's next pass either way."""

from __future__ import annotations

from sqlalchemy import select, update

from inbox import models as m
from inbox.actions.events import agent_event
from inbox.errors import Invalid, NotFound
from inbox.serialize import AgentData, agent_json
from inbox.signals import routing_changed
from inbox.uow import UnitOfWork

STATUSES = ("online", "away", "offline")
ag = m.agents.c


async def set_status(uow: UnitOfWork, tenant_id: int, agent_id: int, status: str) -> AgentData:
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    # Only a real change restarts the status clock (requeue grace, idle tie-break) and is announced:
    # a reconnecting socket may say "online" again and again.
    row = (
        await uow.conn.execute(
            update(m.agents)
            .where(ag.id == agent_id, ag.tenant_id == tenant_id, ag.status != status)
            .values(status=status, status_changed_at=m.utcnow())
            .returning(m.agents)
        )
    ).first()
    if row is None:
        same = select(m.agents).where(ag.id == agent_id, ag.tenant_id == tenant_id)
        unchanged = (await uow.conn.execute(same)).first()
        if unchanged is None:
            raise NotFound("agent not found")
        return agent_json(unchanged._mapping)
    data = agent_json(row._mapping)
    uow.emit(tenant_id, agent_event(data))
    rt = uow.runtime
    uow.after_commit(lambda: routing_changed(rt, tenant_id))
    return data
