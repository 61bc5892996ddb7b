"""Labels: the tenant's set (supervisors and admins manage it), labels on a conversation (any agent who
may read it; replaces the set), the list filtered by label, the live `conversation.updated` another
agent's socket receives, and conversations per label in the report."""

from __future__ import annotations

from sqlalchemy import func, select

from inbox import models as m
from tests.inbox.api.productivity_support import conversation, queue
from tests.inbox.realtime.client import WsClient, wait_until
from tests.support import App


async def test_label_set_management(app: App) -> None:
    t = await app.tenant()
    sup, agent = await t.agent(role="supervisor"), await t.agent()
    r = await sup.http.post("/api/labels", json={"name": "  VIP  cliente ", "color": "#FF0000"})
    assert r.status_code == 201, r.text
    vip = r.json()
    assert vip["name"] == "VIP cliente" and vip["color"] == "#ff0000"
    auto = (await t.admin.http.post("/api/labels", json={"name": "financeiro"})).json()
    assert auto["color"].startswith("#") and len(auto["color"]) == 7  # a colour from the palette
    assert (await sup.http.post("/api/labels", json={"name": "VIP cliente"})).status_code == 409
    for payload, field in [
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": "ok", "color": "red"}, "color"),
        ({"color": "#000000"}, "name"),
    ]:
        r = await sup.http.post("/api/labels", json=payload)
        assert r.status_code == 400 and r.json()["error"].startswith(field), (payload, r.text)
    assert (await agent.http.post("/api/labels", json={"name": "x"})).status_code == 403
    assert (await agent.http.put(f"/api/labels/{vip['id']}", json={"name": "x"})).status_code == 403
    assert (await agent.http.delete(f"/api/labels/{vip['id']}")).status_code == 403
    r = await sup.http.put(f"/api/labels/{vip['id']}", json={"color": "#00aa00"})
    assert r.json() == {**vip, "color": "#00aa00"}
    assert (await sup.http.put(f"/api/labels/{vip['id']}", json={"name": "financeiro"})).status_code == 409
    names = [x["name"] for x in (await agent.http.get("/api/labels")).json()["items"]]
    assert names == ["VIP cliente", "financeiro"]
    assert (await sup.http.delete(f"/api/labels/{auto['id']}")).status_code == 204
    assert [x["name"] for x in (await agent.http.get("/api/labels")).json()["items"]] == ["VIP cliente"]


async def test_labelling_filtering_and_the_live_update(app: App) -> None:
    t = await app.tenant()
    ana, bia = await t.agent(name="Ana"), await t.agent(name="Bia")
    for name, color in (("vip", "#2563eb"), ("urgente", "#dc2626"), ("spam", "#65a30d")):
        assert (
            await t.admin.http.post("/api/labels", json={"name": name, "color": color})
        ).status_code == 201
    ch = await t.channel()
    first = await conversation(app, ch, name="Carla")
    second = await conversation(app, ch, name="Davi")

    watcher = WsClient(app, bia.token)  # Bia sees unassigned conversations: she must hear of it
    await watcher.connect()
    await watcher.ready()
    try:
        r = await ana.http.post(
            f"/api/conversations/{first}/labels", json={"labels": ["vip", "urgente", "vip"]}
        )
        assert r.status_code == 200, r.text
        assert [x["name"] for x in r.json()["labels"]] == ["urgente", "vip"]

        def labelled() -> list[dict[str, object]]:
            return [
                e for e in watcher.events
                if e["type"] == "conversation.updated" and e["data"]["id"] == first and "labels" in e["data"]
            ]  # fmt: skip

        await wait_until(labelled, what="conversation.updated with labels")
        assert [x["name"] for x in labelled()[-1]["data"]["labels"]] == ["urgente", "vip"]
    finally:
        await watcher.close()

    # The set is replaced, not added to.
    r = await bia.http.post(f"/api/conversations/{second}/labels", json={"labels": ["urgente"]})
    assert [x["name"] for x in r.json()["labels"]] == ["urgente"]
    r = await bia.http.post(f"/api/conversations/{first}/labels", json={"labels": ["vip"]})
    assert [x["name"] for x in r.json()["labels"]] == ["vip"]

    async def listed(label: str) -> list[int]:
        r = await ana.http.get("/api/conversations", params={"label": label})
        assert r.status_code == 200
        return [c["id"] for c in r.json()["items"]]

    assert await listed("vip") == [first]
    assert await listed("urgente") == [second]
    assert await listed("spam") == []
    assert await listed("nenhuma") == []
    items = {c["id"]: c for c in (await ana.http.get("/api/conversations")).json()["items"]}
    assert [x["name"] for x in items[first]["labels"]] == ["vip"]
    one = (await ana.http.get(f"/api/conversations/{second}")).json()
    assert [(x["name"], x["color"]) for x in one["labels"]] == [("urgente", "#dc2626")]

    # An unknown label is refused and changes nothing; so is a malformed body.
    r = await ana.http.post(f"/api/conversations/{first}/labels", json={"labels": ["vip", "inexistente"]})
    assert r.status_code == 422 and "inexistente" in r.json()["error"]
    r = await ana.http.post(f"/api/conversations/{first}/labels", json={"labels": "vip"})
    assert r.status_code == 400 and r.json()["error"].startswith("labels")
    assert await listed("vip") == [first]
    # Clearing.
    r = await ana.http.post(f"/api/conversations/{first}/labels", json={"labels": []})
    assert r.json()["labels"] == [] and await listed("vip") == []


async def test_agents_label_only_what_they_may_read(app: App) -> None:
    t = await app.tenant()
    ana, bia = await t.agent(), await t.agent()
    await t.admin.http.post("/api/labels", json={"name": "vip"})
    ch = await t.channel()
    conv = await conversation(app, ch)
    assert (
        await t.admin.http.post(f"/api/conversations/{conv}/assign", json={"agent_id": ana.id})
    ).status_code == 200
    r = await bia.http.post(f"/api/conversations/{conv}/labels", json={"labels": ["vip"]})
    assert r.status_code == 403
    # Bia's label filter does not reveal Ana's conversation either.
    assert (
        await ana.http.post(f"/api/conversations/{conv}/labels", json={"labels": ["vip"]})
    ).status_code == 200
    assert (await bia.http.get("/api/conversations", params={"label": "vip"})).json()["items"] == []
    # A conversation in a queue Bia is not in is not hers to label either.
    q = await queue(t, "Vendas", ana.id)
    queued = await conversation(app, ch, name="Outro")
    await t.admin.http.post(f"/api/conversations/{queued}/transfer", json={"queue_id": q})
    assert (
        await bia.http.post(f"/api/conversations/{queued}/labels", json={"labels": ["vip"]})
    ).status_code == 403


async def test_another_tenants_conversation_and_labels(app: App) -> None:
    ours, theirs = await app.tenant(), await app.tenant()
    await ours.admin.http.post("/api/labels", json={"name": "vip"})
    their_label = (await theirs.admin.http.post("/api/labels", json={"name": "deles"})).json()
    conv = await conversation(app, await theirs.channel())
    r = await ours.admin.http.post(f"/api/conversations/{conv}/labels", json={"labels": ["vip"]})
    assert r.status_code == 404
    mine = await conversation(app, await ours.channel())
    r = await ours.admin.http.post(f"/api/conversations/{mine}/labels", json={"labels": ["deles"]})
    assert r.status_code == 422  # their label is not ours to use
    assert (
        await ours.admin.http.put(f"/api/labels/{their_label['id']}", json={"name": "x"})
    ).status_code == 404
    assert (await ours.admin.http.delete(f"/api/labels/{their_label['id']}")).status_code == 404
    cl = m.conversation_labels.c
    async with app.runtime.engine.connect() as conn:
        on_theirs = (await conn.execute(select(func.count()).where(cl.conversation_id == conv))).scalar_one()
        on_mine = (await conn.execute(select(func.count()).where(cl.conversation_id == mine))).scalar_one()
        theirs_now = (
            await conn.execute(select(m.labels.c.name).where(m.labels.c.id == their_label["id"]))
        ).scalar()
    assert (on_theirs, on_mine, theirs_now) == (0, 0, "deles")


async def test_report_counts_conversations_per_label(app: App) -> None:
    t = await app.tenant()
    for name in ("vip", "urgente", "nunca"):
        await t.admin.http.post("/api/labels", json={"name": name})
    ch = await t.channel()
    convs = [await conversation(app, ch, name=f"C{i}") for i in range(3)]
    await t.admin.http.post(f"/api/conversations/{convs[0]}/labels", json={"labels": ["vip", "urgente"]})
    await t.admin.http.post(f"/api/conversations/{convs[1]}/labels", json={"labels": ["vip"]})
    report = (await t.admin.http.get("/api/reports")).json()
    assert "totals" in report and "agents" in report  # the existing shape stays
    by_label = {x["name"]: x["conversations"] for x in report["by_label"]}
    assert by_label == {"vip": 2, "urgente": 1, "nunca": 0}
    assert [x["name"] for x in report["by_label"]][:2] == ["vip", "urgente"]  # most used first
    agent = await t.agent()
    assert (await agent.http.get("/api/reports")).status_code == 403
