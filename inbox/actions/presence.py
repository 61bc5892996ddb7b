"""Agent status (online / away / offline): set by the agent, or by the websocket hub when the last
socket closes. Coming online is capacity appearing, so routing is woken; any change moves the
supervisor's figures, so the tenant is marked for the routing worker's next pass either way.

Presence fits habits (issue 15 item 8): the status an agent chooses is remembered
(`agents.chosen_status`). Logging in restores it (`arrive`: online unless the agent last chose
away), and a socket opening after presence set the agent offline restores it too (`resume`), so an
agent never lands offline and invisible to auto-assignment by accident. Only a status the agent
chose is remembered: presence going offline is not a choice.
"""

from __future__ import annotations

from sqlalchemy import select, update

from inbox import models as m
from inbox.actions.events import agent_event
from inbox.errors import Invalid, NotFound
from inbox.serialize import AgentData, agent_json
from inbox.signals import routing_changed
from inbox.uow import UnitOfWork

STATUSES = ("online", "away", "offline")
WORKING = ("online", "away")  # the statuses logging in or reconnecting brings back
ag = m.agents.c


async def set_status(
    uow: UnitOfWork, tenant_id: int, agent_id: int, status: str, *, chosen: bool = False
) -> AgentData:
    """`chosen`: the agent (not presence) set it, so it is remembered for the next login."""
    if status not in STATUSES:
        raise Invalid(f"status: must be one of {', '.join(STATUSES)}")
    if chosen:
        await uow.conn.execute(
            update(m.agents)
            .where(ag.id == agent_id, ag.tenant_id == tenant_id, ag.chosen_status.is_distinct_from(status))
            .values(chosen_status=status)
        )
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


async def arrive(uow: UnitOfWork, tenant_id: int, agent_id: int) -> AgentData:
    """An agent logged in: back to the working status it last chose (online when it never chose,
    or chose offline: logging in is starting work). Remembered as chosen from now on."""
    chosen = (
        await uow.conn.execute(select(ag.chosen_status).where(ag.id == agent_id, ag.tenant_id == tenant_id))
    ).scalar_one_or_none()
    return await set_status(uow, tenant_id, agent_id, chosen if chosen in WORKING else "online", chosen=True)


async def resume(uow: UnitOfWork, tenant_id: int, agent_id: int) -> None:
    """An agent's socket opened: if presence had set it offline (its last socket closed) while the
    agent's own choice was a working status, that status comes back. An agent that chose offline
    stays offline."""
    row = (
        await uow.conn.execute(
            select(ag.status, ag.chosen_status).where(ag.id == agent_id, ag.tenant_id == tenant_id)
        )
    ).first()
    if row is not None and row.status == "offline" and row.chosen_status in WORKING:
        await set_status(uow, tenant_id, agent_id, row.chosen_status)
