"""The supervisor's live picture: queue waits, agent load, today's totals, SLA breaches.

Owns the definitions of these figures (one place for GET /api/queues and the `queue.updated` event).
Reads only. Counts are SQL; medians and p90 are computed here over today's bounded rows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox import routing_settings
from inbox.routing_settings import RoutingSettings
from inbox.serialize import iso

cv, ag, qu, qm, msg = m.conversations.c, m.agents.c, m.queues.c, m.queue_members.c, m.messages.c
OPEN_LOAD = ("assigned", "snoozed")
# Bounds on the rows a figure reads into Python (a day of one tenant fits far below this).
MAX_ROWS = 200_000


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: the smallest value with at least 90% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 1)


def seconds(pairs: Iterable[tuple[datetime | None, datetime | None]]) -> list[float]:
    """(start, end) pairs -> durations in seconds, skipping incomplete or negative ones."""
    out = []
    for start, end in pairs:
        if start is not None and end is not None and end >= start:
            out.append((end - start).total_seconds())
    return out


def day_start(now: datetime, settings: RoutingSettings) -> datetime:
    """Midnight of `now`'s day in the tenant's time zone, as an aware datetime."""
    local = now.astimezone(settings.tz)
    return datetime.combine(local.date(), time(0), tzinfo=settings.tz)


async def live(conn: AsyncConnection, tenant_id: int, now: datetime) -> dict[str, Any]:
    """Queues (waiting, oldest wait, assigned) and agents (status, load, capacity), as of now.

    A queue-less conversation is in the `id: null` row. An agent serves the queues it is a member of
    and queue-less conversations (the same rule as visibility in inbox/access.py)."""
    queue_rows = (
        await conn.execute(select(qu.id, qu.name).where(qu.tenant_id == tenant_id).order_by(qu.id))
    ).all()
    waited = func.coalesce(cv.queued_at, cv.created_at)
    counts = (
        await conn.execute(
            select(cv.queue_id, cv.status, func.count(), func.min(waited))
            .where(cv.tenant_id == tenant_id, cv.status.in_(("queued", *OPEN_LOAD)))
            .group_by(cv.queue_id, cv.status)
        )
    ).all()
    agent_rows = (
        await conn.execute(
            select(ag.id, ag.name, ag.role, ag.status, ag.capacity, ag.status_changed_at)
            .where(ag.tenant_id == tenant_id, ag.disabled_at.is_(None))
            .order_by(ag.id)
        )
    ).all()
    # Each agent's count by the (assignee, status) index: grouping the tenant's conversations by
    # assignee, SQLite read every assigned conversation of every tenant (49 ms with another tenant's
    # 50,000, at every announcement; docs/benchmark.md, growth).
    held = (
        select(func.count())
        .where(cv.assignee_id == ag.id, cv.status.in_(OPEN_LOAD))
        .correlate(m.agents)
        .scalar_subquery()
    )
    loads: dict[Any, int] = dict(
        (
            await conn.execute(select(ag.id, held).where(ag.tenant_id == tenant_id, ag.disabled_at.is_(None)))
        ).all()
    )
    members: dict[int, list[int]] = {}
    for queue_id, agent_id in await conn.execute(
        select(qm.queue_id, qm.agent_id).where(qm.tenant_id == tenant_id).order_by(qm.queue_id)
    ):
        members.setdefault(agent_id, []).append(queue_id)

    agents = [
        {
            "id": a.id,
            "name": a.name,
            "role": a.role,
            "status": a.status,
            "status_changed_at": iso(a.status_changed_at),
            "open_conversations": int(loads.get(a.id, 0)),
            "capacity": a.capacity,
            "queue_ids": members.get(a.id, []),
        }
        for a in agent_rows
    ]
    queues: dict[int | None, dict[str, Any]] = {q.id: _queue(q.id, q.name) for q in queue_rows}
    queues[None] = _queue(None, None)
    oldest_by_queue: dict[int | None, datetime] = {}
    for queue_id, status, n, oldest in counts:
        q = queues.get(queue_id) or queues[None]  # a queue deleted meanwhile
        q["waiting" if status == "queued" else status] += int(n)
        if status == "queued" and oldest is not None:
            oldest = aware(oldest)
            if queue_id not in oldest_by_queue or oldest < oldest_by_queue[queue_id]:
                oldest_by_queue[queue_id] = oldest
    for queue_id, oldest in oldest_by_queue.items():
        q = queues.get(queue_id) or queues[None]
        q["oldest_queued_at"] = iso(oldest)
        q["oldest_wait_seconds"] = max(0, int((now - oldest).total_seconds()))
    for a in agents:
        if a["status"] != "online":
            continue
        free = a["open_conversations"] < a["capacity"]
        served = [None, *a["queue_ids"]]
        for queue_id in served:
            if queue_id in queues:
                queues[queue_id]["agents_online"] += 1
                queues[queue_id]["agents_available"] += int(free)
    return {"queues": list(queues.values()), "agents": agents}


def _queue(queue_id: int | None, name: str | None) -> dict[str, Any]:
    return {
        "id": queue_id,
        "name": name,
        "waiting": 0,
        "oldest_wait_seconds": None,
        "oldest_queued_at": None,
        "assigned": 0,
        "snoozed": 0,
        "agents_online": 0,
        "agents_available": 0,
    }


def aware(value: Any) -> datetime:
    result = m.UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]
    assert result is not None
    return result


def fingerprint(figures: dict[str, Any]) -> tuple[Any, ...]:
    """What makes the live part differ (not the wait seconds, which change every second)."""
    return (
        tuple(
            (q["id"], q["waiting"], q["oldest_queued_at"], q["assigned"], q["snoozed"], q["agents_online"])
            for q in figures["queues"]
        ),
        tuple((a["id"], a["status"], a["open_conversations"], a["capacity"]) for a in figures["agents"]),
    )


async def today(
    conn: AsyncConnection, tenant_id: int, now: datetime, settings: RoutingSettings
) -> dict[str, Any]:
    """Totals since midnight (tenant time zone): conversations created, messages in and out (notes
    and system messages excluded), first response and resolution times, bot-only vs handed off."""
    start = day_start(now, settings)
    # last_message_at starts at creation, so the bound lets the list index narrow the scan.
    created = and_(cv.tenant_id == tenant_id, cv.last_message_at >= start, cv.created_at >= start)
    by_bot = exists().where(msg.conversation_id == cv.id, msg.sender_type == "bot")
    bot_only = and_(cv.handed_off_at.is_(None), or_(cv.status == "bot", by_bot))
    conv_counts = (
        await conn.execute(
            select(
                func.count(),
                func.count(cv.handed_off_at),
                func.sum(case((bot_only, 1), else_=0)),
            ).where(created)
        )
    ).one()
    # Messages of conversations active today (this walks the conversation index, not all messages).
    active = select(cv.id).where(cv.tenant_id == tenant_id, cv.last_message_at >= start)
    directions: dict[Any, int] = dict(
        (
            await conn.execute(
                select(msg.direction, func.count())
                .where(msg.conversation_id.in_(active), msg.created_at >= start, msg.status != "note")
                .group_by(msg.direction)
            )
        ).all()
    )
    responded = (
        await conn.execute(
            select(func.coalesce(cv.handed_off_at, cv.created_at), cv.first_response_at)
            .where(cv.tenant_id == tenant_id, cv.last_message_at >= start, cv.first_response_at >= start)
            .limit(MAX_ROWS)
        )
    ).all()
    resolved = (
        await conn.execute(
            select(cv.created_at, cv.resolved_at)
            .where(cv.tenant_id == tenant_id, cv.status == "resolved", cv.resolved_at >= start)
            .limit(MAX_ROWS)
        )
    ).all()
    frt = seconds((aware(a), aware(b)) for a, b in responded)
    rt = seconds((aware(a), aware(b)) for a, b in resolved)
    return {
        "since": iso(start),
        "conversations": int(conv_counts[0]),
        "messages_in": int(directions.get("in", 0)),
        "messages_out": int(directions.get("out", 0)),
        "first_responses": len(frt),
        "first_response_median_seconds": median(frt),
        "first_response_p90_seconds": p90(frt),
        "resolved": len(rt),
        "resolution_median_seconds": median(rt),
        "handed_off": int(conv_counts[1]),
        "bot_only": int(conv_counts[2] or 0),
    }


async def sla(
    conn: AsyncConnection, tenant_id: int, now: datetime, settings: RoutingSettings
) -> dict[str, Any]:
    """The target, today's breaches, and the open conversations flagged as breached."""
    start = day_start(now, settings)
    breached_today = (
        await conn.execute(
            select(func.count()).where(
                cv.tenant_id == tenant_id, cv.sla_breached_at.is_not(None), cv.sla_breached_at >= start
            )
        )
    ).scalar_one()
    flagged = (
        await conn.execute(
            select(cv.id, cv.status, cv.queue_id, cv.assignee_id, cv.sla_breached_at, cv.first_response_at)
            .where(
                cv.tenant_id == tenant_id,
                cv.status.in_(("queued", *OPEN_LOAD)),
                cv.sla_breached_at.is_not(None),
            )
            .order_by(cv.sla_breached_at, cv.id)
            .limit(100)
        )
    ).all()
    return {
        "first_response_target_seconds": settings.sla_target,
        "breached_today": int(breached_today),
        "breached_open": [
            {
                "conversation_id": r.id,
                "status": r.status,
                "queue_id": r.queue_id,
                "assignee_id": r.assignee_id,
                "breached_at": iso(aware(r.sla_breached_at)),
                "answered": r.first_response_at is not None,
            }
            for r in flagged
        ],
    }


def live_totals(figures: dict[str, Any]) -> dict[str, int]:
    qs = figures["queues"]
    return {
        "waiting": sum(q["waiting"] for q in qs),
        "assigned": sum(q["assigned"] for q in qs),
        "snoozed": sum(q["snoozed"] for q in qs),
        "agents_online": sum(1 for a in figures["agents"] if a["status"] == "online"),
    }


async def queue_figures(
    conn: AsyncConnection,
    tenant_id: int,
    now: datetime | None = None,
    settings: RoutingSettings | None = None,
) -> dict[str, Any]:
    """Everything GET /api/queues answers."""
    now = now or m.utcnow()
    settings = settings or await routing_settings.load(conn, tenant_id)
    figures = await live(conn, tenant_id, now)
    totals = {**live_totals(figures), **await today(conn, tenant_id, now, settings)}
    return {
        "generated_at": iso(now),
        "timezone": settings.timezone,
        "auto_assign": settings.auto_assign,
        **figures,
        "totals": totals,
        "sla": await sla(conn, tenant_id, now, settings),
    }
