"""GET /api/reports: a scripted past day with known answers (volume by hour and channel, first
response and resolution times, per-agent performance), the CSV export, period rules."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from inbox import models as m
from inbox.reports import CSV_COLUMNS, period
from inbox.routing_settings import RoutingSettings
from inbox.serialize import iso
from tests.inbox.report_support import at, inbound_at, scripted_day
from tests.inbox.routing_support import conv, conversation, set_conversation
from tests.support import App


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
        "reassignments": 0,
        "reassigned_conversations": 0,
        "assigned_conversations": 3,
        "reassignment_rate": 0.0,
        # Ana: 9:11-9:40 and 10:33-11:32; the second agent: 9:51 to the day's end (still open) and
        # the last 30 minutes of the conversation from the day before.
        "handling_seconds": 1740.0 + 3540.0 + 50940.0 + 1800.0,
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
        "handling_seconds": 5280.0,
        "reassigned_away": 0,
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


async def test_credit_follows_the_history(app: App) -> None:
    """Assigned to A, transferred to B, who replies and resolves: B's first response and resolution,
    A's holding time (until the transfer), one reassignment, from A."""
    t = await app.tenant()
    a, b = await t.agent(name="A"), await t.agent(name="B")
    ch = await t.channel()
    cid = await conversation(app, ch)
    post = t.admin.http.post
    assert (await post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})).status_code == 200
    assert (await post(f"/api/conversations/{cid}/transfer", json={"agent_id": b.id})).status_code == 200
    assert (await b.http.post(f"/api/conversations/{cid}/messages", json={"text": "Olá"})).status_code == 202
    assert (await b.http.post(f"/api/conversations/{cid}/resolve")).status_code == 200

    c = await conv(app, cid)
    async with app.runtime.engine.connect() as conn:
        given, moved, resolved = (
            await conn.execute(
                m.assignments.select()
                .where(m.assignments.c.conversation_id == cid)
                .order_by(m.assignments.c.at)
            )
        ).all()
    assert (moved.from_agent_id, moved.to_agent_id, resolved.from_agent_id) == (a.id, b.id, b.id)
    assert resolved.at == c.resolved_at

    now = m.utcnow()
    window = {"from": iso(now - timedelta(hours=1)), "to": iso(now + timedelta(hours=1))}
    data = (await t.admin.http.get("/api/reports", params=window)).json()
    agents = {x["agent_id"]: x for x in data["agents"]}
    held_by_a = round((moved.at - given.at).total_seconds(), 1)
    held_by_b = round((resolved.at - moved.at).total_seconds(), 1)
    assert agents[a.id]["handling_seconds"] == pytest.approx(held_by_a, abs=0.01)
    assert agents[b.id]["handling_seconds"] == pytest.approx(held_by_b, abs=0.01)
    assert (agents[a.id]["first_responses"], agents[a.id]["resolved"], agents[a.id]["reassigned_away"]) == (
        0,
        0,
        1,
    )
    assert (agents[b.id]["first_responses"], agents[b.id]["resolved"], agents[b.id]["reassigned_away"]) == (
        1,
        1,
        0,
    )
    frt = round((c.first_response_at - c.created_at).total_seconds(), 1)
    assert agents[b.id]["first_response_median_seconds"] == pytest.approx(frt, abs=0.01)
    assert agents[b.id]["resolution_median_seconds"] == pytest.approx(
        round((c.resolved_at - c.created_at).total_seconds(), 1), abs=0.01
    )
    assert (agents[a.id]["assigned"], agents[b.id]["assigned"]) == (1, 1)
    totals = data["totals"]
    assert (
        totals["reassignments"],
        totals["reassigned_conversations"],
        totals["assigned_conversations"],
    ) == (1, 1, 1)
    assert totals["reassignment_rate"] == 1.0
    # The transfer counted on the conversation's channel (the history's rows carry it).
    assert [c["reassignments"] for c in data["by_channel"] if c["channel_id"] == ch.id] == [1]
    (no_queue,) = data["by_queue"]
    assert (
        no_queue["queue_id"],
        no_queue["conversations"],
        no_queue["resolved"],
        no_queue["reassignments"],
    ) == (
        None,
        1,
        1,
        1,
    )


async def test_heatmap_buckets_in_the_tenants_zone(app: App) -> None:
    """Weekday (0 = Sunday) and hour in the tenant's zone, on both databases, across a DST change:
    São Paulo had none in 2025, New York moved on 9 March 2025 (UTC-5 -> UTC-4)."""
    t = await app.tenant()
    ch = await t.channel()
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            m.tenants.update()
            .where(m.tenants.c.id == t.id)
            .values(settings={"routing": {"timezone": "America/New_York"}})
        )
    saturday, monday = await conversation(app, ch), await conversation(app, ch)
    # Saturday 8 March 2025 23:30 in New York (UTC-5) = Sunday 04:30 UTC.
    sat = datetime(2025, 3, 9, 4, 30, tzinfo=UTC)
    # Monday 10 March 2025 09:15 in New York (UTC-4 since the day before) = 13:15 UTC.
    mon = datetime(2025, 3, 10, 13, 15, tzinfo=UTC)
    for cid, when in ((saturday, sat), (monday, mon)):
        await set_conversation(app, cid, created_at=when, last_message_at=when)
        await inbound_at(app, cid, when)
    r = await t.admin.http.get("/api/reports", params={"from": "2025-03-08", "to": "2025-03-10"})
    assert r.status_code == 200, r.text
    assert r.json()["heatmap"] == [
        {"weekday": 1, "hour": 9, "conversations": 1, "messages_in": 1},
        {"weekday": 6, "hour": 23, "conversations": 1, "messages_in": 1},
    ]
    r = await t.admin.http.get(
        "/api/reports",
        params={"from": "2025-03-08", "to": "2025-03-10", "format": "csv", "section": "heatmap"},
    )
    cells = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["key"], x["weekday"], x["hour"], x["conversations"]) for x in cells] == [
        ("1-09", "1", "9", "1"),
        ("6-23", "6", "23", "1"),
    ]
