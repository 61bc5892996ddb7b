"""The admin API behind routing: settings, queues and members, agent capacity and role, a channel's
queue, disabling an agent; roles and tenant isolation."""

from __future__ import annotations

from inbox.workers.routing import route_tenant
from tests.inbox.routing_support import conv, conversation, status
from tests.support import App


async def test_routing_settings(app: App) -> None:
    t = await app.tenant()
    sup = await t.agent(role="supervisor")
    a = await t.agent()
    r = await sup.http.get("/api/admin/routing")
    assert r.status_code == 200 and r.json() == {
        "auto_assign": True,
        "assign_roles": ["agent", "supervisor", "admin"],
        "requeue_offline_after_seconds": None,
        "sla_first_response_seconds": 900,
        "timezone": "UTC",
    }
    assert (await a.http.get("/api/admin/routing")).status_code == 403
    assert (await sup.http.patch("/api/admin/routing", json={"auto_assign": False})).status_code == 403
    patch = t.admin.http.patch
    assert (await patch("/api/admin/routing", json={"timezone": "Mars/Base"})).status_code == 400
    assert (await patch("/api/admin/routing", json={"colour": "red"})).status_code == 400
    assert (await patch("/api/admin/routing", json={"assign_roles": ["boss"]})).status_code == 400
    r = await patch(
        "/api/admin/routing",
        json={"auto_assign": False, "timezone": "America/Sao_Paulo", "sla_first_response_seconds": None},
    )
    assert r.status_code == 200, r.text
    assert r.json()["auto_assign"] is False and r.json()["sla_first_response_seconds"] is None
    assert (await sup.http.get("/api/queues")).json()["timezone"] == "America/Sao_Paulo"
    # Manual mode now: an online agent gets nothing.
    await status(a, "online")
    cid = await conversation(app, await t.channel())
    assert (await route_tenant(app.runtime, t.id)).assigned == []
    r = await patch("/api/admin/routing", json={"auto_assign": None})  # back to the default
    assert r.json()["auto_assign"] is True and r.json()["timezone"] == "America/Sao_Paulo"
    assert (await route_tenant(app.runtime, t.id)).assigned == [(cid, a.id)]


async def test_queues_and_members(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    sup = await t.agent(role="supervisor")
    a, b = await t.agent(), await t.agent()
    stranger = await other.agent()
    assert (await sup.http.post("/api/admin/queues", json={"name": "Sales"})).status_code == 403
    r = await t.admin.http.post("/api/admin/queues", json={"name": "Sales"})
    assert r.status_code == 201, r.text
    qid = r.json()["id"]
    assert (await t.admin.http.post("/api/admin/queues", json={"name": "Sales"})).status_code == 409
    url = f"/api/admin/queues/{qid}/members"
    assert (await a.http.put(url, json={"agent_ids": [a.id]})).status_code == 403
    assert (await sup.http.put(url, json={"agent_ids": [a.id, stranger.id]})).status_code == 404
    r = await sup.http.put(url, json={"agent_ids": [b.id, a.id, a.id]})
    assert r.status_code == 200 and r.json()["agent_ids"] == sorted([a.id, b.id])
    # Another tenant's queue is not found.
    assert (await other.admin.http.put(url, json={"agent_ids": []})).status_code == 404
    assert (await other.admin.http.get("/api/admin/queues")).json()["items"] == []
    r = await sup.http.get("/api/admin/queues")
    assert r.json()["items"] == [{"id": qid, "name": "Sales", "agent_ids": sorted([a.id, b.id])}]
    # Members see the queue's unassigned conversations once the channel feeds it.
    ch = await t.channel()
    r = await t.admin.http.patch(f"/api/admin/channels/{ch.id}", json={"queue_id": qid})
    assert r.status_code == 200 and r.json()["queue_id"] == qid
    assert (
        await other.admin.http.patch(f"/api/admin/channels/{ch.id}", json={"queue_id": None})
    ).status_code == 404
    cid = await conversation(app, ch)
    assert (await conv(app, cid)).queue_id == qid
    assert (await a.http.get(f"/api/conversations/{cid}")).status_code == 200
    r = await sup.http.put(url, json={"agent_ids": [b.id]})
    assert (await a.http.get(f"/api/conversations/{cid}")).status_code == 403


async def test_agents_capacity_role_and_disable(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    sup = await t.agent(role="supervisor")
    a, b = await t.agent(capacity=1), await t.agent()
    assert (await sup.http.patch(f"/api/admin/agents/{a.id}", json={"capacity": 3})).json()["capacity"] == 3
    assert (await sup.http.patch(f"/api/admin/agents/{a.id}", json={"role": "admin"})).status_code == 403
    assert (await a.http.patch(f"/api/admin/agents/{a.id}", json={"capacity": 9})).status_code == 403
    assert (
        await other.admin.http.patch(f"/api/admin/agents/{a.id}", json={"capacity": 0})
    ).status_code == 404
    r = await t.admin.http.patch(f"/api/admin/agents/{b.id}", json={"role": "supervisor"})
    assert r.status_code == 200 and r.json()["role"] == "supervisor"
    r = await t.admin.http.post(
        "/api/admin/agents",
        json={"email": "new.agent@example.org", "name": "New", "password": "long enough", "capacity": 2},
    )
    assert r.status_code == 201 and r.json()["capacity"] == 2 and "password" not in r.text
    # A disabled agent's conversations go back to the queue on the next pass, and on to someone else.
    await status(a, "online")
    cid = await conversation(app, await t.channel())
    assert (await route_tenant(app.runtime, t.id)).assigned == [(cid, a.id)]
    assert (await other.admin.http.post(f"/api/admin/agents/{a.id}/disable")).status_code == 404
    assert (await t.admin.http.post(f"/api/admin/agents/{a.id}/disable")).status_code == 200
    await status(b, "online")
    r = await route_tenant(app.runtime, t.id)
    assert r.requeued == [cid] and r.assigned == [(cid, b.id)]
