"""The audit of conversation actions on both databases: assignment, transfer, resolve, reopen, handoff
and snooze by a person each leave exactly one row naming the agent and the conversation, visible to
the tenant's admin in GET /api/audit and to no other tenant; a no-op leaves none, and neither do the
automatic routing assignment nor a bot's handoff."""

from __future__ import annotations

from typing import Any

from inbox.actions import conversations, routing
from tests.inbox.api.productivity_support import conversation
from tests.inbox.setup_support import audit_rows
from tests.support import App


async def _conversation_rows(app: App, tenant_id: int) -> list[Any]:
    return [r for r in await audit_rows(app, tenant_id) if r.action.startswith("conversation.")]


async def test_each_action_by_a_person_leaves_one_row_with_actor_and_target(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    ana, bruno = await t.agent(name="Ana"), await t.agent(name="Bruno")
    conv = await conversation(app, await t.channel(), text="Quero remarcar", name="Cecília")
    bot_conv = await conversation(app, await t.channel(bot=True), name="Davi")
    url = f"/api/conversations/{conv}"

    steps = [
        (ana, f"{url}/assign", {"agent_id": ana.id}, "conversation.assigned", conv),
        (ana, f"{url}/assign", {"agent_id": ana.id}, None, conv),  # already hers: nothing changes
        (ana, f"{url}/transfer", {"agent_id": bruno.id, "note": "Cecília quer remarcar"},
         "conversation.transferred", conv),
        (bruno, f"{url}/snooze", {"until": "2099-01-01T09:00:00Z"}, "conversation.snoozed", conv),
        (bruno, f"{url}/reopen", {}, "conversation.reopened", conv),  # wakes the snoozed one
        (bruno, f"{url}/resolve", {}, "conversation.resolved", conv),
        (bruno, f"{url}/resolve", {}, None, conv),  # already resolved
        (bruno, f"{url}/reopen", {}, "conversation.reopened", conv),
        (bruno, f"{url}/assign", {"agent_id": None}, "conversation.assigned", conv),  # back to the queue
        (ana, f"/api/conversations/{bot_conv}/handoff", {}, "conversation.handed_off", bot_conv),
        (ana, f"/api/conversations/{bot_conv}/handoff", {}, None, bot_conv),  # with humans already
    ]  # fmt: skip
    expected = []
    for who, path, body, action, target in steps:
        r = await who.http.post(path, json=body)
        assert r.status_code == 200, (path, r.text)
        if action is not None:
            expected.append((action, who.id, target))

    rows = await _conversation_rows(app, t.id)
    assert [(r.action, r.actor_id, r.target_id) for r in rows] == expected
    assert all(r.target_type == "conversation" and r.address == "127.0.0.1" for r in rows)
    transferred = rows[1].details
    assert transferred == {"agent_id": bruno.id, "queue_id": None, "previous_agent_id": ana.id, "note": True}
    assert rows[2].details == {"until": "2099-01-01T09:00:00+00:00"}
    assert rows[6].details == {"agent_id": None, "previous_agent_id": bruno.id}
    # Typed by hand, it may quote the customer: the note's text is not kept, nor the customer's name.
    assert all("Cecília" not in str(r.details) for r in rows)

    # The agents' actions are the admin's to read; another tenant's admin sees none of them.
    items = (await t.admin.http.get("/api/audit")).json()["items"]
    seen = [
        (i["action"], i["actor"]["id"], i["target"]["id"])
        for i in items
        if i["action"].startswith("conversation.")
    ]
    assert seen == list(reversed(expected))
    assert {i["actor"]["name"] for i in items if i["action"] == "conversation.transferred"} == {"Ana"}
    theirs = (await other.admin.http.get("/api/audit")).json()["items"]
    assert not [i for i in theirs if i["action"].startswith("conversation.")]
    assert await _conversation_rows(app, other.id) == []


async def test_routing_and_the_bot_are_not_recorded(app: App) -> None:
    t = await app.tenant()
    ana = await t.agent(name="Ana")
    assert (await ana.http.put("/api/agents/me/status", json={"status": "online"})).status_code == 200
    conv = await conversation(app, await t.channel())
    async with app.runtime.uow() as uow:
        await routing.route(uow, t.id)
    assert (await ana.http.get(f"/api/conversations/{conv}")).json()["assignee_id"] == ana.id
    bot_conv = await conversation(app, await t.channel(bot=True))
    async with app.runtime.uow() as uow:  # what the bot does when it hands over
        await conversations.handoff(uow, t.id, bot_conv, reason="the customer asked for a person")
    assert (await ana.http.get(f"/api/conversations/{bot_conv}")).json()["status"] != "bot"
    assert await _conversation_rows(app, t.id) == []


async def test_a_refused_action_leaves_no_row(app: App) -> None:
    t = await app.tenant()
    ana, bruno = await t.agent(name="Ana"), await t.agent(name="Bruno")
    conv = await conversation(app, await t.channel())
    assert (
        await ana.http.post(f"/api/conversations/{conv}/assign", json={"agent_id": ana.id})
    ).status_code == 200
    # Bruno may not touch Ana's conversation; a past snooze is refused; a resolved one cannot move.
    assert (await bruno.http.post(f"/api/conversations/{conv}/resolve")).status_code == 403
    r = await ana.http.post(f"/api/conversations/{conv}/snooze", json={"until": "2001-01-01T00:00:00Z"})
    assert r.status_code == 400
    assert (await ana.http.post(f"/api/conversations/{conv}/resolve")).status_code == 200
    r = await ana.http.post(f"/api/conversations/{conv}/transfer", json={"agent_id": bruno.id})
    assert r.status_code == 409
    assert [r.action for r in await _conversation_rows(app, t.id)] == [
        "conversation.assigned",
        "conversation.resolved",
    ]
