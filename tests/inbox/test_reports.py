"""GET /api/reports: a scripted past day with known answers (volume by hour and channel, first
response and resolution times, per-agent performance), the CSV export, period rules."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from inbox import models as m
from inbox.reports import CSV_COLUMNS, period
from inbox.routing_settings import RoutingSettings
from tests.inbox.routing_support import add_message, conversation, set_conversation
from tests.support import App, Tenant


def at(hh: int, mm: int, day: int = 10) -> datetime:
    return datetime(2025, 3, day, hh, mm, tzinfo=UTC)


async def inbound_at(app: App, conversation_id: int, when: datetime) -> None:
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            m.messages.update()
            .where(m.messages.c.conversation_id == conversation_id, m.messages.c.direction == "in")
            .values(created_at=when)
        )


async def scripted_day(app: App) -> tuple[Tenant, dict[str, int]]:
    t = await app.tenant()
    a1 = await t.agent(name="Ana")
    a2 = await t.agent(name="=HYPERLINK(1)")  # a name a spreadsheet would run as a formula
    ch1 = await t.channel("whatsapp")
    ch2 = await t.channel("instagram")
    r1, r2 = await conversation(app, ch1), await conversation(app, ch1)
    r3, r4 = await conversation(app, ch2), await conversation(app, ch2)
    # r1: answered by Ana after 120 s, resolved after 1800 s.
    await set_conversation(
        app,
        r1,
        status="resolved",
        assignee_id=a1.id,
        created_at=at(9, 10),
        assigned_at=at(9, 11),
        first_response_at=at(9, 12),
        resolved_at=at(9, 40),
    )
    await inbound_at(app, r1, at(9, 10))
    await add_message(app, r1, direction="out", sender_type="agent", sender_id=a1.id, at=at(9, 12))
    await add_message(
        app, r1, direction="out", sender_type="agent", sender_id=a1.id, status="note", at=at(9, 20)
    )
    # r2: still open with the second agent, answered after 300 s, breached the SLA first.
    await set_conversation(
        app,
        r2,
        status="assigned",
        assignee_id=a2.id,
        created_at=at(9, 50),
        assigned_at=at(9, 51),
        first_response_at=at(9, 55),
        sla_breached_at=at(9, 54),
    )
    await inbound_at(app, r2, at(9, 50))
    await add_message(app, r2, direction="out", sender_type="agent", sender_id=a2.id, at=at(9, 55))
    # r3: the bot first, handed off at 10:32, answered 180 s after the handoff, resolved at 11:32.
    await set_conversation(
        app,
        r3,
        status="resolved",
        assignee_id=a1.id,
        created_at=at(10, 30),
        handed_off_at=at(10, 32),
        handoff_reason="asked for a person",
        assigned_at=at(10, 33),
        first_response_at=at(10, 35),
        resolved_at=at(11, 32),
    )
    await inbound_at(app, r3, at(10, 30))
    await add_message(app, r3, direction="out", sender_type="bot", at=at(10, 31))
    await add_message(app, r3, direction="out", sender_type="agent", sender_id=a1.id, at=at(10, 35))
    # r4: from the day before, resolved at 00:30 of the day (5400 s after it started).
    await set_conversation(
        app,
        r4,
        status="resolved",
        assignee_id=a2.id,
        created_at=at(23, 0, day=9),
        last_message_at=at(23, 0, day=9),
        assigned_at=at(23, 1, day=9),
        first_response_at=at(23, 10, day=9),
        resolved_at=at(0, 30),
    )
    await inbound_at(app, r4, at(23, 0, day=9))
    return t, {"a1": a1.id, "a2": a2.id, "ch1": ch1.id, "ch2": ch2.id}


async def test_a_scripted_day(app: App) -> None:
    t, ids = await scripted_day(app)
    r = await t.admin.http.get("/api/reports", params={"from": "2025-03-10", "to": "2025-03-10"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert (data["from"], data["to"]) == ("2025-03-10T00:00:00Z", "2025-03-11T00:00:00Z")
    assert data["totals"] == {
        "conversations": 3,
        "messages_in": 3,
        "messages_out": 4,  # two of Ana's, one of the second agent, the bot's; not the note
        "handed_off": 1,
        "bot_only": 0,
        "sla_breached": 1,
    }
    hours = data["volume_by_hour"]
    assert len(hours) == 24 and hours[0]["hour"] == "2025-03-10T00:00:00Z"
    busy = {h["hour"][11:13]: h for h in hours if h["conversations"] or h["messages_in"] or h["messages_out"]}
    assert busy == {
        "09": {"hour": "2025-03-10T09:00:00Z", "conversations": 2, "messages_in": 2, "messages_out": 2},
        "10": {"hour": "2025-03-10T10:00:00Z", "conversations": 1, "messages_in": 1, "messages_out": 2},
    }
    channels = {c["channel_id"]: c for c in data["by_channel"]}
    assert set(channels) == {ids["ch1"], ids["ch2"]}  # the tenant's own channels only
    assert {k: channels[ids["ch1"]][k] for k in ("kind", "conversations", "messages_in", "messages_out")} == {
        "kind": "whatsapp",
        "conversations": 2,
        "messages_in": 2,
        "messages_out": 2,
    }
    assert (channels[ids["ch2"]]["conversations"], channels[ids["ch2"]]["messages_out"]) == (1, 2)
    assert data["first_response"] == {"count": 3, "median_seconds": 180.0, "p90_seconds": 300.0}
    assert data["resolution"] == {"count": 3, "median_seconds": 3720.0, "p90_seconds": 5400.0}
    agents = {a["agent_id"]: a for a in data["agents"]}
    assert agents[ids["a1"]] == {
        "agent_id": ids["a1"],
        "name": "Ana",
        "role": "agent",
        "assigned": 2,
        "resolved": 2,
        "messages_out": 2,
        "first_responses": 2,
        "first_response_median_seconds": 150.0,
        "resolution_median_seconds": 2760.0,
    }
    a2 = agents[ids["a2"]]
    assert (a2["assigned"], a2["resolved"], a2["messages_out"], a2["first_responses"]) == (1, 1, 1, 1)
    assert (a2["first_response_median_seconds"], a2["resolution_median_seconds"]) == (300.0, 5400.0)
    assert agents[t.admin.id]["first_response_median_seconds"] is None

    # The same as one CSV sheet.
    r = await t.admin.http.get(
        "/api/reports", params={"from": "2025-03-10", "to": "2025-03-10", "format": "csv"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="report-2025-03-10-2025-03-11.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(csv.DictReader(io.StringIO(r.text)).fieldnames or ()) == CSV_COLUMNS
    assert [x["section"] for x in rows].count("hour") == 24
    total = next(x for x in rows if x["section"] == "total")
    assert (total["conversations"], total["messages_out"], total["first_response_median_seconds"]) == (
        "3",
        "4",
        "180.0",
    )
    agent_rows = {x["key"]: x for x in rows if x["section"] == "agent"}
    assert agent_rows[str(ids["a1"])]["resolution_median_seconds"] == "2760.0"
    assert agent_rows[str(ids["a2"])]["label"] == "'=HYPERLINK(1)"  # defused
    assert agent_rows[str(t.admin.id)]["first_response_median_seconds"] == ""
    r = await t.admin.http.get(
        "/api/reports",
        params={"from": "2025-03-10", "to": "2025-03-10", "format": "csv", "section": "channel"},
    )
    assert [x["section"] for x in csv.DictReader(io.StringIO(r.text))] == ["channel", "channel"]
    # Each CSV download is audited (issue 19 item 3: exports); the JSON the page reads is not.
    exported = [
        a for a in (await t.admin.http.get("/api/audit")).json()["items"] if a["action"] == "report.exported"
    ]
    assert [a["details"]["section"] for a in exported] == ["channel", "all"]
    assert exported[0]["actor"]["id"] == t.admin.id and exported[0]["details"]["from"].startswith("2025-03-")


async def test_report_period_rules(app: App) -> None:
    t = await app.tenant()
    get = t.admin.http.get
    assert (await get("/api/reports", params={"from": "2025-03-10", "to": "2025-03-09"})).status_code == 400
    assert (await get("/api/reports", params={"from": "2025-01-01", "to": "2025-06-01"})).status_code == 400
    assert (await get("/api/reports", params={"from": "yesterday"})).status_code == 400
    assert (await get("/api/reports", params={"format": "xml"})).status_code == 400
    r = await get("/api/reports")
    assert r.status_code == 200 and len(r.json()["volume_by_hour"]) >= 6 * 24


def test_period_in_the_tenants_zone() -> None:
    sp = RoutingSettings(timezone="America/Sao_Paulo")
    now = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)
    start, end = period("2025-03-10", "2025-03-10", now, sp)
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (at(3, 0), at(3, 0, day=11))
    start, end = period("2025-03-10T08:00:00", "2025-03-10T12:00:00Z", now, sp)
    assert (start.astimezone(UTC), end) == (at(11, 0), at(12, 0))
    start, end = period(None, None, now, sp)
    assert end == now and start.astimezone(UTC) == datetime(2025, 3, 6, 3, 0, tzinfo=UTC)
