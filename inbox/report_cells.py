"""The reports' grouped figures as cells (issue 17): first response and resolution times as log-scale
histograms, conversations and messages by channel, queue and agent, handling time, reassignments.
A cell is (figure, key, bucket) -> [n, total]; cells of two spans add up, so a period is a difference
of running totals plus its edges.

Owns `report_days`: per tenant and local midnight, every cell summed over everything before it,
written by the fold (`fold_days`, from inbox/report_rollup.py's `fold`) once the hours up to that
midnight are folded. `period` gives a report the cells of [start, end): the running totals at the
first and last stored midnights inside the period, subtracted, and the same cells computed live
(`live`) for the edges. Python sees one row per cell (group and bucket), never one per conversation.

Durations are approximate: a bucket spans 5% of (seconds + 1) and a percentile is the mean of the
values in the bucket holding its rank, so it is off by less than 5% of (value + 1) s, and exact where
a bucket holds one distinct value (docs/routing.md).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox import report_rollup as rollup
from inbox import report_sql as sql
from inbox.figures import aware

cv, asg, rd = m.conversations.c, m.assignments.c, m.report_days.c
Cells = dict[tuple[str, int, int], list[float]]  # (figure, key, bucket) -> [n, total]
STEP = 1.05  # a duration bucket's width: its upper bound over its lower, on (seconds + 1)
MARK = ""  # the figure of the row that says a midnight's totals were written


def bucket(v: Any) -> Any:
    """A duration's bucket, the same on both databases: floor(ln(seconds + 1) / ln(STEP))."""
    return cast(func.floor(func.ln(v + 1.0) / literal(math.log(STEP), Float)), Integer)


def _add(out: Cells, rows: Iterable[Any], sign: float = 1.0) -> None:
    for figure, key, b, n, total in rows:
        cell = out.setdefault((str(figure), int(key or 0), int(b or 0)), [0.0, 0.0])
        cell[0] += sign * float(n or 0)
        cell[1] += sign * float(total or 0)


async def live(conn: AsyncConnection, tenant_id: int, lo: datetime, hi: datetime, now: datetime) -> Cells:
    """The cells of [lo, hi), from the conversations, the history and the hours (report_rollup)."""
    d = conn.dialect.name
    out: Cells = {}
    # Durations: first responses credited to the first responder, resolutions to the resolver.
    frt = (
        sql.seconds_between(func.coalesce(cv.handed_off_at, cv.created_at), cv.first_response_at, d),
        and_(cv.first_response_at >= sql.at(lo), cv.first_response_at < sql.at(hi)),
        cv.first_responder_id,
    )
    res = (
        sql.seconds_between(cv.created_at, cv.resolved_at, d),
        and_(cv.status == "resolved", cv.resolved_at >= sql.at(lo), cv.resolved_at < sql.at(hi)),
        func.coalesce(cv.resolved_by_id, cv.assignee_id),
    )
    for name, (v, when, agent) in (("frt", frt), ("res", res)):
        # One pass: a row per (agent, channel, queue, bucket), split into the groupings here.
        s = (
            select(v.label("v"), agent.label("agent"), cv.channel_id, cv.queue_id)
            .where(cv.tenant_id == tenant_id, when)
            .subquery()
        )
        b = bucket(s.c.v)
        keys = (s.c.agent, s.c.channel_id, s.c.queue_id, b)
        q = select(*keys, func.count(), func.sum(s.c.v)).where(s.c.v >= 0).group_by(*keys)
        for agent_id, channel_id, queue_id, bk, n, total in await conn.execute(q):
            for kind, key in (("all", 0), ("agent", agent_id), ("channel", channel_id), ("queue", queue_id)):
                cell = out.setdefault((f"{name}.{kind}", int(key or 0), int(bk)), [0.0, 0.0])
                cell[0] += n
                cell[1] += total

    # Conversations and messages, by channel, queue and sending agent: from the hours.
    rows = (await rollup.counts(conn, tenant_id, lo, hi)).c
    grouped = select(rows.kind, rows.channel_id, rows.queue_id, rows.agent_id, func.sum(rows.n)).group_by(
        rows.kind, rows.channel_id, rows.queue_id, rows.agent_id
    )
    for kind, channel_id, queue_id, agent_id, n in await conn.execute(grouped):
        _add(out, [(f"{kind}.channel", channel_id, 0, n, 0)])
        if kind == "new":
            _add(out, [("new.queue", queue_id, 0, n, 0)])
        elif kind == "out" and agent_id:
            _add(out, [("out.agent", agent_id, 0, n, 0)])

    await _hands(conn, out, tenant_id, lo, hi)
    held = await sql.handling(conn, tenant_id, lo, hi, min(hi, now))
    _add(out, (("held", agent_id, 0, 0, secs) for agent_id, secs in held.items()))
    return out


async def _hands(conn: AsyncConnection, out: Cells, tenant_id: int, lo: datetime, hi: datetime) -> None:
    """From the assignment history: reassignments (a conversation taken from an agent other than by
    resolving it: transfer, unassign, requeue, another agent), by the agent it was taken from, queue
    and channel; conversations given to each agent; and the conversations reassigned and assigned,
    each counted once per UTC hour it had such a row in (so that hours add up)."""
    d = conn.dialect.name
    rows = and_(asg.tenant_id == tenant_id, asg.at >= sql.at(lo), asg.at < sql.at(hi))
    taken = and_(
        asg.from_agent_id.is_not(None),
        asg.reason != "resolve",
        or_(asg.to_agent_id.is_(None), asg.to_agent_id != asg.from_agent_id),
    )
    given = and_(asg.to_agent_id.is_not(None), asg.reason != "reopen")
    is_taken, is_given = case((taken, 1), else_=0), case((given, 1), else_=0)
    per_hour = (
        select(func.max(is_taken).label("t"), func.max(is_given).label("g"))
        .where(rows, or_(taken, given))
        .group_by(rollup.hour_of(asg.at, d), asg.conversation_id)
        .subquery()
    )
    distinct = (await conn.execute(select(func.sum(per_hour.c.t), func.sum(per_hour.c.g)))).one()
    _add(out, [("taken.conv", 0, 0, distinct[0], 0), ("given.conv", 0, 0, distinct[1], 0)])
    grouped = (
        select(
            asg.from_agent_id,
            asg.to_agent_id,
            asg.queue_id,
            asg.channel_id,
            func.sum(is_taken),
            func.sum(is_given),
        )
        .where(rows, or_(taken, given))
        .group_by(asg.from_agent_id, asg.to_agent_id, asg.queue_id, asg.channel_id)
    )
    for from_id, to_id, queue_id, channel_id, n_taken, n_given in await conn.execute(grouped):
        _add(
            out,
            [
                ("taken", 0, 0, n_taken, 0),
                ("taken.agent", from_id, 0, n_taken, 0),
                ("taken.queue", queue_id, 0, n_taken, 0),
                ("taken.channel", channel_id, 0, n_taken, 0),
                ("given.agent", to_id, 0, n_given, 0),
            ],
        )


async def totals_at(conn: AsyncConnection, tenant_id: int, until: datetime) -> Cells:
    out: Cells = {}
    q = select(rd.figure, rd.key, rd.bucket, rd.n, rd.total).where(
        rd.tenant_id == tenant_id, rd.until == sql.at(until), rd.figure != MARK
    )
    _add(out, await conn.execute(q))
    return out


def midnights(zone: tzinfo, lo: datetime, hi: datetime) -> list[datetime]:
    """The zone's midnights in [lo, hi], as instants."""
    day: date = lo.astimezone(zone).date()
    out: list[datetime] = []
    while True:
        t = datetime.combine(day, time(0), tzinfo=zone)
        if t > hi:
            return out
        if t >= lo:
            out.append(t)
        day += timedelta(days=1)


async def _marks(conn: AsyncConnection, tenant_id: int, candidates: list[datetime]) -> list[datetime]:
    if not candidates:
        return []
    q = select(rd.until).where(
        rd.tenant_id == tenant_id, rd.until.in_([sql.at(t) for t in candidates]), rd.figure == MARK
    )
    found = {aware(t) for t in (await conn.execute(q)).scalars()}
    return sorted(t for t in candidates if t in found)


async def period(
    conn: AsyncConnection, tenant_id: int, start: datetime, end: datetime, zone: tzinfo, now: datetime
) -> Cells:
    """The cells of [start, end): stored totals between the first and last stored midnights inside
    it, live for the edges (all live when fewer than two are stored, as before the first fold)."""
    mark = await rollup.folded_until(conn, tenant_id)
    stored = await _marks(conn, tenant_id, midnights(zone, start, min(end, mark)))
    if len(stored) < 2:
        return await live(conn, tenant_id, start, end, now)
    a, b = stored[0], stored[-1]
    # Two reads along the primary key, subtracted here (a GROUP BY over both sorts on SQLite).
    out = await totals_at(conn, tenant_id, b)
    for key, (n, total) in (await totals_at(conn, tenant_id, a)).items():
        cell = out.setdefault(key, [0.0, 0.0])
        cell[0] -= n
        cell[1] -= total
    for lo, hi in ((start, a), (b, end)):
        if lo < hi:
            for key, (n, total) in (await live(conn, tenant_id, lo, hi, now)).items():
                cell = out.setdefault(key, [0.0, 0.0])
                cell[0] += n
                cell[1] += total
    return out


async def fold_days(
    conn: AsyncConnection, tenant_id: int, mark: datetime, until: datetime, zone: tzinfo
) -> None:
    """Write the running totals at each of the zone's midnights in (mark, until], in `conn`'s
    transaction (inbox/report_rollup.py's `fold`, after it moved the mark). Each is the previous
    one plus the live cells between them; the first one sums the tenant's whole history."""
    prev = (
        await conn.execute(select(func.max(rd.until)).where(rd.tenant_id == tenant_id, rd.figure == MARK))
    ).scalar()
    since = aware(prev) if prev is not None else rollup.NEVER
    if prev is None:  # never folded: start at the first day with a conversation
        first = (
            await conn.execute(select(func.min(cv.created_at)).where(cv.tenant_id == tenant_id))
        ).scalar()
        mark = max(mark, aware(first) if first is not None else until)
    totals = await totals_at(conn, tenant_id, since) if prev is not None else {}
    for day in midnights(zone, mark + timedelta(microseconds=1), until):
        for key, (n, total) in (await live(conn, tenant_id, since, day, day)).items():
            cell = totals.setdefault(key, [0.0, 0.0])
            cell[0] += n
            cell[1] += total
        rows = [
            {"tenant_id": tenant_id, "until": day, "figure": f, "key": k, "bucket": b, "n": n, "total": t}
            for (f, k, b), (n, t) in totals.items()
            if n or t
        ]
        rows.append(
            {"tenant_id": tenant_id, "until": day, "figure": MARK, "key": 0, "bucket": 0, "n": 0, "total": 0}
        )
        await conn.execute(m.report_days.insert(), rows)
        since = day


# --- from cells to figures ------------------------------------------------------------------------


Figures = dict[str, list[tuple[int, int, float, float]]]  # figure -> (key, bucket, n, total)


def by_figure(cells: Cells) -> Figures:
    out: Figures = defaultdict(list)
    for (f, key, b), (n, total) in cells.items():
        out[f].append((key, b, n, total))
    return out


def sums(figures: Figures, figure: str) -> dict[int, float]:
    """A figure's n (or total, for "held") per key."""
    out: dict[int, float] = defaultdict(float)
    for key, _, n, total in figures.get(figure, ()):
        out[key] += total if figure == "held" else n
    return out


def durations(figures: Figures, figure: str) -> dict[int, dict[str, Any]]:
    """Per key of a duration histogram ("frt.agent"): count, median (the mean of the two middle
    ranks' values for an even count) and nearest-rank p90, each rank's value being the mean of its
    bucket (exact when the bucket holds one distinct value)."""
    buckets: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for key, b, n, total in figures.get(figure, ()):
        if round(n) > 0:
            buckets[key].append((b, round(n), total))
    out = {}
    for key, rows in buckets.items():
        rows.sort()
        count = sum(n for _, n, _ in rows)

        def at_rank(r: int, rows: list[tuple[int, int, float]] = rows) -> float:
            seen = 0
            for _, n, total in rows:
                seen += n
                if seen >= r:
                    return total / n
            return rows[-1][2] / rows[-1][1]

        median = (at_rank((count + 1) // 2) + at_rank(count // 2 + 1)) / 2
        p90 = at_rank(max(1, -(-9 * count // 10)))  # ceil(0.9 n) without float error
        out[key] = {"count": count, "median_seconds": round(median, 1), "p90_seconds": round(p90, 1)}
    return out
