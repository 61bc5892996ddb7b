"""Presence that fits habits (issue 15 item 8), on both databases: logging in brings an agent online,
or back to the status it last chose, where auto-assignment sees it; a socket opening after presence
set it offline restores that choice; a login with no socket goes offline after the grace."""

from __future__ import annotations

from sqlalchemy import select

from inbox import models as m
from inbox.actions.presence import set_status
from inbox.config import Settings
from inbox.workers.routing import route_tenant
from tests.inbox.realtime.client import WsClient, wait_until
from tests.inbox.routing_support import conv, conversation, set_settings
from tests.support import PASSWORD, Agent, App, running_app


async def _login(app: App, agent: Agent) -> dict:
    r = await app.http.post("/api/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


async def _status(app: App, agent_id: int) -> str:
    async with app.runtime.engine.connect() as conn:
        q = select(m.agents.c.status).where(m.agents.c.id == agent_id)
        return str((await conn.execute(q)).scalar_one())


async def test_login_makes_an_agent_online_and_restores_its_last_choice(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    assert await _status(app, agent.id) == "offline"  # never logged in, never chose

    first = await _login(app, agent)
    assert first["agent"]["status"] == "online"
    listed = (await tenant.admin.http.get("/api/agents")).json()["items"]
    assert next(a for a in listed if a["id"] == agent.id)["status"] == "online"

    # Away is remembered: presence takes the agent offline when its tabs close, the next login
    # brings back away, not online.
    r = await agent.http.put("/api/agents/me/status", json={"status": "away"})
    assert r.status_code == 200 and r.json()["status"] == "away"
    async with app.runtime.uow() as uow:
        await set_status(uow, tenant.id, agent.id, "offline")  # as presence does
    assert (await _login(app, agent))["agent"]["status"] == "away"

    # Choosing offline is ending the shift: the next login is starting one.
    await agent.http.put("/api/agents/me/status", json={"status": "offline"})
    assert (await _login(app, agent))["agent"]["status"] == "online"
    assert await _status(app, agent.id) == "online"


async def test_auto_assignment_sees_an_agent_that_just_logged_in(app: App) -> None:
    tenant = await app.tenant()
    await set_settings(app, tenant, auto_assign=True)
    agent = await tenant.agent()
    ch = await tenant.channel()
    cid = await conversation(app, ch)
    await route_tenant(app.runtime, tenant.id)
    assert (await conv(app, cid)).status == "queued"  # nobody online yet

    await _login(app, agent)
    await route_tenant(app.runtime, tenant.id)
    row = await conv(app, cid)
    assert (row.status, row.assignee_id) == ("assigned", agent.id)


async def test_a_socket_restores_the_chosen_status_presence_took_away(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    r = await agent.http.put("/api/agents/me/status", json={"status": "away"})
    assert r.status_code == 200
    async with app.runtime.uow() as uow:
        await set_status(uow, tenant.id, agent.id, "offline")  # the last tab closed, grace passed
    ws = WsClient(app, agent.token)
    await ws.connect()
    await ws.ready()
    await wait_until(lambda: _is(app, agent.id, "away"), what="away again")
    await ws.close()

    # An agent that chose offline stays offline when it opens the inbox.
    other = await tenant.agent()
    await other.http.put("/api/agents/me/status", json={"status": "offline"})
    ws = WsClient(app, other.token)
    await ws.connect()
    await ws.ready()
    assert await _status(app, other.id) == "offline"
    await ws.close()


async def _is(app: App, agent_id: int, status: str) -> bool:
    return await _status(app, agent_id) == status


async def test_a_login_without_a_socket_goes_offline_after_the_grace(settings: Settings) -> None:
    async with running_app(settings.but(presence_grace_seconds=0.5)) as app:
        tenant = await app.tenant()
        agent, kept = await tenant.agent(), await tenant.agent()
        await _login(app, agent)
        await _login(app, kept)
        ws = WsClient(app, kept.token)  # this one opens the inbox
        await ws.connect()
        await ws.ready()
        await wait_until(lambda: _is(app, agent.id, "offline"), what="offline after the grace")
        assert await _status(app, kept.id) == "online"
        await ws.close()
