"""Transfer to an agent or a queue with a note: who may, what the conversation becomes, the system
message, and the receiving agent told live on its own socket (the previous one told it is gone)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from inbox import models as m
from tests.inbox.api.productivity_support import conversation, queue
from tests.inbox.realtime.client import WsClient, wait_until
from tests.support import App


async def _messages(http: httpx.AsyncClient, conv: int) -> list[dict[str, object]]:
    r = await http.get(f"/api/conversations/{conv}/messages")
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def test_transfer_to_an_agent_reaches_them_live(app: App) -> None:
    t = await app.tenant()
    ana, bruno = await t.agent(name="Ana"), await t.agent(name="Bruno")
    ch = await t.channel()
    conv = await conversation(app, ch, name="Cecília")
    assert (
        await ana.http.post(f"/api/conversations/{conv}/assign", json={"agent_id": ana.id})
    ).status_code == 200

    sockets = {who.id: WsClient(app, who.token) for who in (ana, bruno)}
    for ws in sockets.values():
        await ws.connect()
        await ws.ready()
    try:
        r = await ana.http.post(
            f"/api/conversations/{conv}/transfer",
            json={"agent_id": bruno.id, "note": "Ela quer falar de preço"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["assignee_id"] == bruno.id and r.json()["status"] == "assigned"

        def updates(agent_id: int) -> list[dict[str, object]]:
            return [
                e["data"] for e in sockets[agent_id].events
                if e["type"] == "conversation.updated" and e["data"]["id"] == conv
            ]  # fmt: skip

        await wait_until(
            lambda: any(u["assignee_id"] == bruno.id for u in updates(bruno.id)), what="Bruno told"
        )
        # Ana's list drops it: she gets that one update too.
        await wait_until(lambda: any(u["assignee_id"] == bruno.id for u in updates(ana.id)), what="Ana told")
    finally:
        for ws in sockets.values():
            await ws.close()

    note = [x for x in await _messages(bruno.http, conv) if x["sender"] == {"type": "system", "id": None}]
    assert note[-1]["text"] == "Transferred to Bruno by Ana: Ela quer falar de preço"
    assert note[-1]["status"] == "note"  # never sent to the customer
    # Ana no longer may act on it.
    assert (await ana.http.post(f"/api/conversations/{conv}/resolve")).status_code == 403


async def test_transfer_to_a_queue_unassigns_and_queues(app: App) -> None:
    t = await app.tenant()
    ana, bruno, carla = await t.agent(name="Ana"), await t.agent(name="Bruno"), await t.agent(name="Carla")
    vendas = await queue(t, "Vendas", bruno.id)
    await queue(t, "Suporte", carla.id)
    ch = await t.channel()
    conv = await conversation(app, ch)
    await ana.http.post(f"/api/conversations/{conv}/assign", json={"agent_id": ana.id})
    ws = WsClient(app, bruno.token)
    await ws.connect()
    await ws.ready()
    try:
        r = await ana.http.post(f"/api/conversations/{conv}/transfer", json={"queue_id": vendas})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["assignee_id"], body["queue_id"]) == ("queued", None, vendas)
        await wait_until(
            lambda: any(
                e["type"] == "conversation.updated"
                and e["data"]["id"] == conv
                and e["data"]["queue_id"] == vendas
                for e in ws.events
            ),
            what="the queue's agent told",
        )
    finally:
        await ws.close()
    # Queue members see it, others do not.
    assert (await bruno.http.get(f"/api/conversations/{conv}")).status_code == 200
    assert (await carla.http.get(f"/api/conversations/{conv}")).status_code == 403
    texts = [x["text"] for x in await _messages(bruno.http, conv)]
    assert texts[-1] == "Transferred to queue Vendas by Ana"

    # Both targets: assigned to the agent, in that queue.
    r = await bruno.http.post(
        f"/api/conversations/{conv}/transfer", json={"queue_id": vendas, "agent_id": carla.id}
    )
    assert (r.json()["assignee_id"], r.json()["queue_id"], r.json()["status"]) == (
        carla.id,
        vendas,
        "assigned",
    )


async def test_refusals_change_nothing(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    ana, bruno = await t.agent(name="Ana"), await t.agent(name="Bruno")
    stranger = await other.agent()
    their_queue = await queue(other, "Deles")
    ch = await t.channel()
    conv = await conversation(app, ch)
    await t.admin.http.post(f"/api/conversations/{conv}/assign", json={"agent_id": ana.id})
    url = f"/api/conversations/{conv}/transfer"

    async def state() -> tuple[object, ...]:
        async with app.runtime.engine.connect() as conn:
            c = (await conn.execute(select(m.conversations).where(m.conversations.c.id == conv))).one()
            n = (
                await conn.execute(select(func.count()).where(m.messages.c.conversation_id == conv))
            ).scalar_one()
        return c.status, c.assignee_id, c.queue_id, n

    before = await state()
    r = await ana.http.post(url, json={})
    assert r.status_code == 400 and "agent_id or queue_id" in r.json()["error"]
    r = await ana.http.post(url, json={"agent_id": "Bruno"})
    assert r.status_code == 400 and r.json()["error"].startswith("agent_id")
    r = await ana.http.post(url, json={"agent_id": bruno.id, "note": "x" * 1001})
    assert r.status_code == 400 and r.json()["error"].startswith("note")
    assert (await ana.http.post(url, json={"agent_id": stranger.id})).status_code == 404
    assert (await ana.http.post(url, json={"queue_id": their_queue})).status_code == 404
    # Not Bruno's to move: it is Ana's.
    assert (await bruno.http.post(url, json={"agent_id": bruno.id})).status_code == 403
    # Another tenant's conversation is not found, even with a valid body.
    assert (await stranger.http.post(url, json={"agent_id": stranger.id})).status_code == 404
    await t.admin.http.post(f"/api/admin/agents/{bruno.id}/disable")
    assert (await ana.http.post(url, json={"agent_id": bruno.id})).status_code == 422
    assert await state() == before
    await ana.http.post(f"/api/conversations/{conv}/resolve")
    assert (await ana.http.post(url, json={"agent_id": ana.id})).status_code == 409


async def test_transfer_targets_lists_active_agents_and_queues(app: App) -> None:
    t = await app.tenant()
    ana, gone = await t.agent(name="Ana"), await t.agent(name="Zé")
    await queue(t, "Vendas")
    await t.admin.http.post(f"/api/admin/agents/{gone.id}/disable")
    data = (await ana.http.get("/api/transfer-targets")).json()
    names = [a["name"] for a in data["agents"]]
    assert "Ana" in names and "Zé" not in names
    assert [q["name"] for q in data["queues"]] == ["Vendas"]
