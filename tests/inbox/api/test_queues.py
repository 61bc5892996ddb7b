"""GET /api/queues: every figure on a scripted scenario with known answers, its live counterpart
(`queue.updated`), roles and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime

from inbox import models as m
from inbox.workers.routing import route_tenant
from tests.inbox.realtime.client import WsClient, wait_until
from tests.inbox.routing_support import (
    add_message,
    ago,
    conversation,
    events,
    last_seq,
    queue,
    set_conversation,
    set_settings,
    status,
)
from tests.support import App


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone in which it is now between 12:00 and 13:00, so that "a few hours ago" is
    today and "20 hours ago" is yesterday whenever the test runs. (Etc/GMT signs are inverted.)"""
    offset = 12 - now.astimezone(UTC).hour
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def test_agents_may_not_see_supervisor_routes(app: App) -> None:
    t = await app.tenant()
    a = await t.agent()
    sup = await t.agent(role="supervisor")
    for path in ("/api/queues", "/api/reports", "/api/reports?format=csv"):
        assert (await a.http.get(path)).status_code == 403, path
        assert (await sup.http.get(path)).status_code == 200, path
        assert (await t.admin.http.get(path)).status_code == 200, path
        assert (await app.http.get(path)).status_code == 401, path


async def test_figures_are_the_tenants_own(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    await conversation(app, await other.channel())
    await status(await other.agent(), "online")
    data = (await t.admin.http.get("/api/queues")).json()
    assert data["totals"]["waiting"] == 0 and data["totals"]["conversations"] == 0
    assert [a["id"] for a in data["agents"]] == [t.admin.id]
    assert data["queues"] == [
        {
            "id": None,
            "name": None,
            "waiting": 0,
            "oldest_wait_seconds": None,
            "oldest_queued_at": None,
            "assigned": 0,
            "snoozed": 0,
            "agents_online": 0,
            "agents_available": 0,
        }
    ]


async def test_every_figure_on_a_scripted_day(app: App) -> None:
    now = m.utcnow()
    t = await app.tenant()
    await set_settings(app, t, timezone=noon_zone(now), sla_first_response_seconds=600)
    a1 = await t.agent(capacity=3, name="A1")
    a2 = await t.agent(capacity=2, name="A2")
    sup = await t.agent(role="supervisor", name="Sup")
    sales = await queue(app, t, "Sales", a1, a2)
    support = await queue(app, t, "Support", a2)
    ch1 = await t.channel(queue_id=sales)
    ch2 = await t.channel(queue_id=support)
    ch3 = await t.channel(bot=True)
    await status(a1, "online")
    await status(a2, "away")

    # Waiting: two in Sales (300 s and 120 s), one in Support (60 s).
    c1, c2, c3 = await conversation(app, ch1), await conversation(app, ch1), await conversation(app, ch2)
    await set_conversation(app, c1, queued_at=ago(300, now), sla_breached_at=ago(100, now))
    await set_conversation(app, c2, queued_at=ago(120, now))
    await set_conversation(app, c3, queued_at=ago(60, now))
    # Assigned and answered: first responses of 30 s (A1, Sales) and 90 s (A2, Support).
    c4, c5 = await conversation(app, ch1), await conversation(app, ch2)
    await set_conversation(
        app,
        c4,
        status="assigned",
        assignee_id=a1.id,
        created_at=ago(3600, now),
        first_response_at=ago(3570, now),
    )
    await set_conversation(
        app,
        c5,
        status="assigned",
        assignee_id=a2.id,
        created_at=ago(7200, now),
        first_response_at=ago(7110, now),
    )
    await add_message(app, c4, direction="out", sender_type="agent", sender_id=a1.id)
    # Snoozed (A1's load, not Sales' assigned count).
    c6 = await conversation(app, ch1)
    await set_conversation(app, c6, status="snoozed", assignee_id=a1.id, snoozed_until=ago(-3600, now))
    # Resolved today: first response 60 s, resolution 600 s.
    c7 = await conversation(app, ch1)
    await set_conversation(
        app,
        c7,
        status="resolved",
        assignee_id=a1.id,
        created_at=ago(5000, now),
        first_response_at=ago(4940, now),
        resolved_at=ago(4400, now),
    )
    # The bot alone (a bot reply, never handed off), and one handed off: first response 120 s after
    # the handoff (not after creation), resolved 1000 s after creation.
    c8 = await conversation(app, ch3)
    await add_message(app, c8, direction="out", sender_type="bot")
    c9 = await conversation(app, ch3)
    await set_conversation(
        app,
        c9,
        status="resolved",
        assignee_id=a2.id,
        handoff_reason="asked for a person",
        created_at=ago(1200, now),
        handed_off_at=ago(1000, now),
        queued_at=ago(1000, now),
        first_response_at=ago(880, now),
        resolved_at=ago(200, now),
    )
    # Yesterday: counts for nothing today.
    c10 = await conversation(app, ch1)
    yesterday = ago(20 * 3600, now)
    await set_conversation(
        app,
        c10,
        status="resolved",
        assignee_id=a1.id,
        created_at=yesterday,
        last_message_at=yesterday,
        first_response_at=yesterday,
        resolved_at=ago(19 * 3600, now),
        sla_breached_at=yesterday,
    )
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            m.messages.update().where(m.messages.c.conversation_id == c10).values(created_at=yesterday)
        )

    r = await sup.http.get("/api/queues")
    assert r.status_code == 200, r.text
    data = r.json()
    at = datetime.fromisoformat(data["generated_at"].replace("Z", "+00:00"))

    def waited(seconds: int, when: datetime = at) -> int:
        return int((when - ago(seconds, now)).total_seconds())

    queues = {q["id"]: q for q in data["queues"]}
    assert list(queues) == [sales, support, None]
    assert queues[sales] | {"oldest_queued_at": None} == {
        "id": sales,
        "name": queues[sales]["name"],
        "waiting": 2,
        "oldest_wait_seconds": waited(300),
        "oldest_queued_at": None,
        "assigned": 1,
        "snoozed": 1,
        "agents_online": 1,
        "agents_available": 1,
    }
    assert queues[sales]["name"].startswith("Sales")
    assert (queues[support]["waiting"], queues[support]["oldest_wait_seconds"]) == (1, waited(60))
    assert (queues[support]["assigned"], queues[support]["agents_online"]) == (1, 0)
    assert (queues[None]["waiting"], queues[None]["assigned"], queues[None]["agents_online"]) == (0, 0, 1)

    agents = {a["id"]: a for a in data["agents"]}
    assert {k: agents[a1.id][k] for k in ("status", "open_conversations", "capacity", "queue_ids")} == {
        "status": "online",
        "open_conversations": 2,
        "capacity": 3,
        "queue_ids": [sales],
    }
    assert {k: agents[a2.id][k] for k in ("status", "open_conversations", "capacity", "queue_ids")} == {
        "status": "away",
        "open_conversations": 1,
        "capacity": 2,
        "queue_ids": [sales, support],
    }
    assert agents[sup.id]["status"] == "offline" and agents[sup.id]["open_conversations"] == 0

    totals = data["totals"]
    since = datetime.fromisoformat(totals.pop("since").replace("Z", "+00:00"))
    assert 12 * 3600 <= (now - since).total_seconds() < 13 * 3600
    assert totals == {
        "waiting": 3,
        "assigned": 2,
        "snoozed": 1,
        "agents_online": 1,
        "conversations": 9,
        "messages_in": 9,  # one customer message per conversation today (c10's was yesterday)
        "messages_out": 2,  # A1's reply and the bot's; notes and system messages are not traffic
        "first_responses": 4,  # 30, 60, 90, 120
        "first_response_median_seconds": 75.0,
        "first_response_p90_seconds": 120.0,
        "resolved": 2,  # 600, 1000
        "resolution_median_seconds": 800.0,
        "handed_off": 1,
        "bot_only": 1,
    }
    assert data["sla"]["first_response_target_seconds"] == 600
    assert data["sla"]["breached_today"] == 1
    assert [b["conversation_id"] for b in data["sla"]["breached_open"]] == [c1]
    assert data["timezone"] == noon_zone(now) and data["auto_assign"] is True

    # The live counterpart: a routing pass announces the same figures to supervisors only.
    before = await last_seq(app, t)
    result = await route_tenant(app.runtime, t.id)
    assert result.assigned == [(c1, a1.id)]  # A1 (Sales, online, 2 of 3) takes the longest waiting
    [update] = await events(app, t, "queue.updated", after=before)
    assert update["queue_id"] == -1
    live = {q["id"]: q for q in update["data"]["queues"]}
    at = datetime.fromisoformat(update["data"]["generated_at"].replace("Z", "+00:00"))
    assert (live[sales]["waiting"], live[sales]["oldest_wait_seconds"]) == (1, waited(120, at))
    assert live[sales]["assigned"] == 2
    assert update["data"]["totals"]["first_response_median_seconds"] == 75.0
    assert {a["id"]: a["open_conversations"] for a in update["data"]["agents"]}[a1.id] == 3


async def test_live_figures_reach_supervisors_only_over_the_websocket(app: App) -> None:
    t = await app.tenant()
    await set_settings(app, t, sla_first_response_seconds=60)
    sup = await t.agent(role="supervisor")
    a = await t.agent()
    ch = await t.channel()
    late = await conversation(app, ch)
    await set_conversation(app, late, created_at=ago(120))
    await status(a, "online")
    sup_ws, agent_ws = WsClient(app, sup.token), WsClient(app, a.token)
    for ws in (sup_ws, agent_ws):
        await ws.connect()
        await ws.ready()
    try:
        result = await route_tenant(app.runtime, t.id)
        assert result.assigned == [(late, a.id)] and result.breached == [late]
        end = await last_seq(app, t)
        await sup_ws.wait_seq(end)
        await wait_until(
            lambda: any(f["data"].get("sla_breached") for f in agent_ws.of_type("conversation.updated")),
            what="the agent's breach update",
        )
        got = [f["type"] for f in sup_ws.events]
        assert "queue.updated" in got and "sla.breached" in got
        figures = sup_ws.of_type("queue.updated")[-1]["data"]
        assert figures["totals"]["waiting"] == 0 and figures["totals"]["assigned"] == 1
        assert {x["id"]: x["open_conversations"] for x in figures["agents"]}[a.id] == 1
        seen = {f["type"] for f in agent_ws.events}
        assert "conversation.updated" in seen
        assert not seen & {"queue.updated", "sla.breached"}
    finally:
        await sup_ws.close()
        await agent_ws.close()
