"""Reports for a period: volume by hour and by channel, first response and resolution times, per-agent
performance; as JSON or one CSV sheet.

Owns the period rules and report definitions (the same ones as the live figures in inbox/figures.py).
Reads only. Counts and hour buckets are SQL; medians and p90 are computed here over bounded rows.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.errors import Invalid
from inbox.figures import MAX_ROWS, aware, median, p90, seconds
from inbox.routing_settings import RoutingSettings
from inbox.serialize import iso

cv, msg, ch, ag = m.conversations.c, m.messages.c, m.channels.c, m.agents.c
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
)


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


def _hour(col: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC hour a timestamp falls in (stored timestamps are naive UTC)."""
    if dialect == "postgresql":
        return func.date_trunc("hour", col)
    return func.strftime("%Y-%m-%d %H:00:00", col)


async def report(
    conn: AsyncConnection, tenant_id: int, start: datetime, end: datetime, settings: RoutingSettings
) -> dict[str, Any]:
    dialect = conn.dialect.name
    # last_message_at starts at creation: the bound lets the list index narrow the scan.
    created = and_(
        cv.tenant_id == tenant_id, cv.last_message_at >= start, cv.created_at >= start, cv.created_at < end
    )
    # Messages are reached through conversations active in the period (the conversation index).
    active = select(cv.id).where(cv.tenant_id == tenant_id, cv.last_message_at >= start)
    counted = and_(msg.conversation_id.in_(active), msg.created_at >= start, msg.created_at < end)
    sent = and_(counted, msg.status != "note")  # notes and system messages are not traffic

    hours: dict[datetime, dict[str, int]] = defaultdict(lambda: {"conversations": 0, "in": 0, "out": 0})
    hour = _hour(cv.created_at, dialect)
    for h, n in await conn.execute(select(hour, func.count()).where(created).group_by(hour)):
        hours[aware(h)]["conversations"] = int(n)
    hour = _hour(msg.created_at, dialect)
    for h, direction, n in await conn.execute(
        select(hour, msg.direction, func.count()).where(sent).group_by(hour, msg.direction)
    ):
        hours[aware(h)][direction] = int(n)

    channels = {
        r.id: {
            "channel_id": r.id,
            "name": r.name,
            "kind": r.kind,
            "conversations": 0,
            "messages_in": 0,
            "messages_out": 0,
        }
        for r in await conn.execute(
            select(ch.id, ch.name, ch.kind).where(ch.tenant_id == tenant_id).order_by(ch.id)
        )
    }
    for channel_id, n in await conn.execute(
        select(cv.channel_id, func.count()).where(created).group_by(cv.channel_id)
    ):
        channels[channel_id]["conversations"] = int(n)
    for channel_id, direction, n in await conn.execute(
        select(msg.channel_id, msg.direction, func.count())
        .where(sent)
        .group_by(msg.channel_id, msg.direction)
    ):
        channels[channel_id][f"messages_{direction}"] = int(n)

    responded = (
        await conn.execute(
            select(func.coalesce(cv.handed_off_at, cv.created_at), cv.first_response_at, cv.assignee_id)
            .where(cv.tenant_id == tenant_id, cv.first_response_at >= start, cv.first_response_at < end)
            .limit(MAX_ROWS)
        )
    ).all()
    resolved = (
        await conn.execute(
            select(cv.created_at, cv.resolved_at, cv.assignee_id)
            .where(
                cv.tenant_id == tenant_id,
                cv.status == "resolved",
                cv.resolved_at >= start,
                cv.resolved_at < end,
            )
            .limit(MAX_ROWS)
        )
    ).all()
    frt_by: dict[Any, list[float]] = defaultdict(list)
    res_by: dict[Any, list[float]] = defaultdict(list)
    frt_hours: dict[datetime, list[float]] = defaultdict(list)  # by the hour of the first response
    for a, b, who in responded:
        for s in seconds([(aware(a), aware(b))]):
            frt_by[who].append(s)
            frt_hours[aware(b).replace(minute=0, second=0, microsecond=0)].append(s)
    for a, b, who in resolved:
        for s in seconds([(aware(a), aware(b))]):
            res_by[who].append(s)
    frt = [s for v in frt_by.values() for s in v]
    res = [s for v in res_by.values() for s in v]

    by_bot = exists().where(msg.conversation_id == cv.id, msg.sender_type == "bot")
    bot_only = and_(cv.handed_off_at.is_(None), or_(cv.status == "bot", by_bot))
    conv_totals = (
        await conn.execute(
            select(func.count(), func.count(cv.handed_off_at), func.sum(case((bot_only, 1), else_=0))).where(
                created
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
    assigned: dict[Any, int] = dict(
        (
            await conn.execute(
                select(cv.assignee_id, func.count())
                .where(cv.tenant_id == tenant_id, cv.assigned_at >= start, cv.assigned_at < end)
                .group_by(cv.assignee_id)
            )
        ).all()
    )
    agent_out: dict[Any, int] = dict(
        (
            await conn.execute(
                select(msg.sender_id, func.count())
                .where(sent, msg.sender_type == "agent", msg.direction == "out")
                .group_by(msg.sender_id)
            )
        ).all()
    )
    agents = [
        {
            "agent_id": a.id,
            "name": a.name,
            "role": a.role,
            "assigned": int(assigned.get(a.id, 0)),
            "resolved": len(res_by.get(a.id, [])),
            "messages_out": int(agent_out.get(a.id, 0)),
            "first_responses": len(frt_by.get(a.id, [])),
            "first_response_median_seconds": median(frt_by.get(a.id, [])),
            "resolution_median_seconds": median(res_by.get(a.id, [])),
        }
        for a in await conn.execute(
            select(ag.id, ag.name, ag.role).where(ag.tenant_id == tenant_id).order_by(ag.id)
        )
    ]
    msg_in = sum(h["in"] for h in hours.values())
    msg_out = sum(h["out"] for h in hours.values())
    return {
        "from": iso(start),
        "to": iso(end),
        "timezone": settings.timezone,
        "totals": {
            "conversations": int(conv_totals[0]),
            "messages_in": msg_in,
            "messages_out": msg_out,
            "handed_off": int(conv_totals[1]),
            "bot_only": int(conv_totals[2] or 0),
            "sla_breached": int(breached),
        },
        "volume_by_hour": _series(hours, start, end),
        # Hours with first responses only (the inbox's supervisor chart draws it over the volume).
        "first_response_by_hour": [
            {"hour": iso(at), "count": len(v), "median_seconds": median(v)}
            for at, v in sorted(frt_hours.items())
        ],
        "by_channel": list(channels.values()),
        "first_response": {"count": len(frt), "median_seconds": median(frt), "p90_seconds": p90(frt)},
        "resolution": {"count": len(res), "median_seconds": median(res), "p90_seconds": p90(res)},
        "agents": agents,
    }


def _series(hours: dict[datetime, dict[str, int]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every hour of the period, empty ones included (a chart needs the gaps)."""
    out = []
    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while at < end:
        h = hours.get(at, {"conversations": 0, "in": 0, "out": 0})
        out.append(
            {
                "hour": iso(at),
                "conversations": h["conversations"],
                "messages_in": h["in"],
                "messages_out": h["out"],
            }
        )
        at += timedelta(hours=1)
    return out


def to_csv(data: dict[str, Any], section: str | None = None) -> str:
    """One sheet: a `section` column (total, hour, channel, agent) and the same columns for all."""
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
                **{k: c[k] for k in ("conversations", "messages_in", "messages_out")},
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
