"""Reports for a period: volume by hour, channel and queue, busiest hours per weekday, first response
and resolution times, per-agent performance (credited from the assignment history), reassignments;
as JSON or one CSV sheet.

Owns the period rules and report definitions (the same ones as the live figures in inbox/figures.py).
Reads only. Every figure is SQL: the hours (inbox/report_rollup.py) and the running totals of the
grouped figures (inbox/report_cells.py: medians and p90 from log-scale histograms, within 5% of the
value + 1 s). Python handles one row per group and bucket, never one per conversation.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox import report_cells
from inbox import report_rollup as rollup
from inbox.errors import Invalid
from inbox.routing_settings import RoutingSettings
from inbox.serialize import iso

cv, msg, ch, ag, qu, asg = (
    m.conversations.c,
    m.messages.c,
    m.channels.c,
    m.agents.c,
    m.queues.c,
    m.assignments.c,
)
MAX_DAYS = 93
CSV_COLUMNS = (
    "section",
    "key",
    "label",
    "conversations",
    "messages_in",
    "messages_out",
    "assigned",
    "resolved",
    "first_responses",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_median_seconds",
    "handling_seconds",
    "reassignments",
    "reassignment_rate",
    "weekday",
    "hour",
)
TIMED = (
    "resolved",
    "first_responses",
    "first_response_median_seconds",
    "resolution_median_seconds",
    "reassignments",
)
SECTIONS = ("total", "hour", "channel", "queue", "agent", "heatmap", "label")


def period(
    raw_from: str | None, raw_to: str | None, now: datetime, settings: RoutingSettings
) -> tuple[datetime, datetime]:
    """[start, end) from the query. A date means that day in the tenant's zone, and `to` as a date
    includes that day; a date-time without an offset is in the tenant's zone too. Default: the last
    7 days, today included."""
    tz = settings.tz

    def parse(value: str, *, end: bool) -> datetime:
        try:
            if len(value) == 10:
                day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
                return datetime.combine(day, time(0), tzinfo=tz)
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise Invalid(f"not a date or ISO 8601 time: {value!r}") from exc
        return at if at.tzinfo is not None else at.replace(tzinfo=tz)

    end = parse(raw_to, end=True) if raw_to else now
    if raw_from:
        start = parse(raw_from, end=False)
    else:
        local_today = now.astimezone(tz).date()
        start = datetime.combine(local_today - timedelta(days=6), time(0), tzinfo=tz)
    if start >= end:
        raise Invalid("from must be before to")
    if end - start > timedelta(days=MAX_DAYS):
        raise Invalid(f"a report covers at most {MAX_DAYS} days")
    return start, end


def _heatmap(hours: list[dict[str, Any]], settings: RoutingSettings) -> list[dict[str, int]]:
    """Conversations started and customer messages per weekday (0 = Sunday) and hour, in the
    tenant's zone, from the hourly totals (one row per hour: an hour is placed by its start, exact for
    zones on whole hours). Empty cells are left out."""
    cells: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for h in hours:
        if h["conversations"] or h["messages_in"]:
            local = h["hour"].astimezone(settings.tz)
            cell = cells[(local.isoweekday() % 7, local.hour)]
            cell[0] += h["conversations"]
            cell[1] += h["messages_in"]
    return [
        {"weekday": w, "hour": hr, "conversations": c, "messages_in": i}
        for (w, hr), (c, i) in sorted(cells.items())
    ]


async def report(
    conn: AsyncConnection,
    tenant_id: int,
    start: datetime,
    end: datetime,
    settings: RoutingSettings,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or m.utcnow()
    # Per hour: hours folded by the rollup, the rest live (report_rollup).
    hours = await rollup.hour_totals(conn, tenant_id, start, end)
    cells = report_cells.by_figure(await report_cells.period(conn, tenant_id, start, end, settings.tz, now))
    times = {
        f"{name}.{kind}": report_cells.durations(cells, f"{name}.{kind}")
        for name in ("frt", "res")
        for kind in ("all", "agent", "channel", "queue")
    }
    by_queue, by_channel = report_cells.sums(cells, "new.queue"), report_cells.sums(cells, "new.channel")
    msg_by_channel = {k: report_cells.sums(cells, f"{k}.channel") for k in ("in", "out")}
    agent_out = report_cells.sums(cells, "out.agent")
    taken, given = report_cells.sums(cells, "taken"), report_cells.sums(cells, "given.conv")
    reassigned, assigned = int(report_cells.sums(cells, "taken.conv").get(0, 0)), int(given.get(0, 0))
    hands: dict[str, Any] = {
        "reassignments": int(taken.get(0, 0)),
        "reassigned_conversations": reassigned,
        "assigned_conversations": assigned,
        "reassignment_rate": round(reassigned / assigned, 3) if assigned else None,
        "away_by_agent": report_cells.sums(cells, "taken.agent"),
        "given_by_agent": report_cells.sums(cells, "given.agent"),
        "by_queue": report_cells.sums(cells, "taken.queue"),
        "by_channel": report_cells.sums(cells, "taken.channel"),
    }
    held = report_cells.sums(cells, "held")
    none: dict[str, Any] = {"count": 0, "median_seconds": None, "p90_seconds": None}

    def timed(kind: str, key: Any) -> dict[str, Any]:
        f, r = times[f"frt.{kind}"].get(key, none), times[f"res.{kind}"].get(key, none)
        return {
            "resolved": r["count"],
            "first_responses": f["count"],
            "first_response_median_seconds": f["median_seconds"],
            "resolution_median_seconds": r["median_seconds"],
        }

    channels = {
        r.id: {
            "channel_id": r.id,
            "name": r.name,
            "kind": r.kind,
            "conversations": 0,
            "messages_in": 0,
            "messages_out": 0,
            **timed("channel", r.id),
            "reassignments": int(hands["by_channel"].get(r.id, 0)),
        }
        for r in await conn.execute(
            select(ch.id, ch.name, ch.kind).where(ch.tenant_id == tenant_id).order_by(ch.id)
        )
    }
    for channel_id, c in channels.items():
        c["conversations"] = int(by_channel.get(channel_id, 0))
        c["messages_in"] = int(msg_by_channel["in"].get(channel_id, 0))
        c["messages_out"] = int(msg_by_channel["out"].get(channel_id, 0))

    queue_rows = [
        (q.id, q.name)
        for q in await conn.execute(select(qu.id, qu.name).where(qu.tenant_id == tenant_id).order_by(qu.id))
    ]
    queues: dict[Any, dict[str, Any]] = {
        qid: {
            "queue_id": qid,
            "name": name,
            "conversations": 0,
            **timed("queue", qid or 0),  # 0: no queue, in the cells
            "reassignments": int(hands["by_queue"].get(qid or 0, 0)),
        }
        for qid, name in [*queue_rows, (None, None)]  # None: conversations in no queue
    }
    for queue_id, n in by_queue.items():
        (queues.get(queue_id or None) or queues[None])["conversations"] += int(n)  # a queue deleted meanwhile

    # Conversations that only the bot answered: its turns are counted on the conversation. Read
    # through the index of the bot's conversations (the same predicate, spelled the same).
    bot_only = and_(cv.handed_off_at.is_(None), or_(cv.status == "bot", cv.bot_turns > 0))
    bot_totals = (
        await conn.execute(
            select(func.count(cv.handed_off_at), func.sum(case((bot_only, 1), else_=0))).where(
                cv.tenant_id == tenant_id, cv.created_at >= start, cv.created_at < end, text(m.BOT_TOUCHED)
            )
        )
    ).one()
    breached = (
        await conn.execute(
            select(func.count()).where(
                cv.tenant_id == tenant_id, cv.sla_breached_at >= start, cv.sla_breached_at < end
            )
        )
    ).scalar_one()
    agents = [
        {
            "agent_id": a.id,
            "name": a.name,
            "role": a.role,
            "assigned": int(hands["given_by_agent"].get(a.id, 0)),
            "messages_out": int(agent_out.get(a.id, 0)),
            **timed("agent", a.id),
            "handling_seconds": round(held.get(a.id, 0.0), 1),
            "reassigned_away": int(hands["away_by_agent"].get(a.id, 0)),
        }
        for a in await conn.execute(
            select(ag.id, ag.name, ag.role).where(ag.tenant_id == tenant_id).order_by(ag.id)
        )
    ]
    msg_in = sum(h["messages_in"] for h in hours)
    msg_out = sum(h["messages_out"] for h in hours)
    return {
        "from": iso(start),
        "to": iso(end),
        "timezone": settings.timezone,
        "totals": {
            "conversations": int(sum(by_channel.values())),
            "messages_in": msg_in,
            "messages_out": msg_out,
            "handed_off": int(bot_totals[0]),
            "bot_only": int(bot_totals[1] or 0),
            "sla_breached": int(breached),
            "reassignments": hands["reassignments"],
            "reassigned_conversations": hands["reassigned_conversations"],
            "assigned_conversations": hands["assigned_conversations"],
            "reassignment_rate": hands["reassignment_rate"],
            "handling_seconds": round(sum(held.values()), 1),
        },
        "volume_by_hour": _series(hours, start, end),
        # Hours with first responses only (the inbox's supervisor chart draws it over the volume).
        "first_response_by_hour": [
            {
                "hour": iso(h["hour"]),
                "count": h["first_responses"],
                "median_seconds": h["first_response_median"],
            }
            for h in hours
            if h["first_responses"]
        ],
        "by_channel": list(channels.values()),
        "by_queue": list(queues.values()),
        "heatmap": _heatmap(hours, settings),
        "first_response": times["frt.all"].get(0, none),
        "resolution": times["res.all"].get(0, none),
        "agents": agents,
    }


def _series(rows: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every hour of the period, empty ones included (a chart needs the gaps)."""
    hours = {r["hour"]: r for r in rows}
    out = []
    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while at < end:
        h = hours.get(at, {"conversations": 0, "messages_in": 0, "messages_out": 0})
        out.append({"hour": iso(at), **{k: h[k] for k in ("conversations", "messages_in", "messages_out")}})
        at += timedelta(hours=1)
    return out


def to_csv(data: dict[str, Any], section: str | None = None) -> str:
    """One sheet: a `section` column (SECTIONS: every table of the report) and the same columns for
    all; `section` keeps one table. Heat map cells: weekday 0 is Sunday, hours in the tenant's zone."""
    rows: list[dict[str, Any]] = []
    t, f, r = data["totals"], data["first_response"], data["resolution"]
    rows.append(
        {
            "section": "total",
            "key": f"{data['from']}/{data['to']}",
            "label": "period",
            "conversations": t["conversations"],
            "messages_in": t["messages_in"],
            "messages_out": t["messages_out"],
            "resolved": r["count"],
            "first_responses": f["count"],
            "first_response_median_seconds": f["median_seconds"],
            "first_response_p90_seconds": f["p90_seconds"],
            "resolution_median_seconds": r["median_seconds"],
            "handling_seconds": t["handling_seconds"],
            "reassignments": t["reassignments"],
            "reassignment_rate": t["reassignment_rate"],
        }
    )
    for h in data["volume_by_hour"]:
        rows.append(
            {
                "section": "hour",
                "key": h["hour"],
                **{k: h[k] for k in ("conversations", "messages_in", "messages_out")},
            }
        )
    for c in data["by_channel"]:
        rows.append(
            {
                "section": "channel",
                "key": c["channel_id"],
                "label": c["name"],
                **{k: c[k] for k in ("conversations", "messages_in", "messages_out", *TIMED)},
            }
        )
    for q in data["by_queue"]:
        rows.append(
            {
                "section": "queue",
                "key": q["queue_id"],
                "label": q["name"],
                **{k: q[k] for k in ("conversations", *TIMED)},
            }
        )
    for a in data["agents"]:
        rows.append(
            {
                "section": "agent",
                "key": a["agent_id"],
                "label": a["name"],
                "messages_out": a["messages_out"],
                "assigned": a["assigned"],
                "resolved": a["resolved"],
                "first_responses": a["first_responses"],
                "first_response_median_seconds": a["first_response_median_seconds"],
                "resolution_median_seconds": a["resolution_median_seconds"],
                "handling_seconds": a["handling_seconds"],
                "reassignments": a["reassigned_away"],
            }
        )
    for cell in data["heatmap"]:
        rows.append({"section": "heatmap", "key": f"{cell['weekday']}-{cell['hour']:02d}", **cell})
    for lb in data.get("by_label", []):
        rows.append(
            {
                "section": "label",
                "key": lb["label_id"],
                "label": lb["name"],
                "conversations": lb["conversations"],
            }
        )
    if section:
        rows = [row for row in rows if row["section"] == section]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def _cell(value: Any) -> Any:
    """Spreadsheets run cells starting with = + - @ as formulas: agent and channel names are user text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value
