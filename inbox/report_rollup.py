"""The reports' hourly counts (issue 17): conversations started (by channel and queue) and messages in
and out (by channel, and by the sending agent for agents' replies) per UTC hour; and per hour, one
row of totals with the hour's first responses and their exact median.

Owns what `report_hours` and `report_hour_totals` hold, and the mark `report_folds`: the fold
(inbox/report_fold.py, run by inbox/workers/rollup.py a day at a time) writes the hours that are
over, LAG after their end, once per tenant and hour, then the running totals at the midnights it
passed (inbox/report_cells.py); `counts` and `hour_totals` give a report the rows of a period: the
folded hours, and the same rows computed live for what is not folded (the latest hours, a period's
edges that are not whole hours). A report then reads hours, not messages. Kept only what an hour
over does not change: a message's hour, channel, direction and sender; a conversation's hour,
channel and queue when folded (a later move to another queue is not counted again). Written by the
fold only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox import report_sql as sql
from inbox.figures import aware

cv, msg, rh, rf = m.conversations.c, m.messages.c, m.report_hours.c, m.report_folds.c
# An hour is folded this long after its end: a message is stamped when its transaction writes it, so
# one committing later than this would be missed by the fold (transactions here last milliseconds).
LAG = timedelta(minutes=5)
NEVER = datetime(2000, 1, 1, tzinfo=UTC)  # a tenant not folded yet: everything is live
COLUMNS = ("tenant_id", "hour", "kind", "channel_id", "queue_id", "agent_id", "n")


def hour_of(col: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC hour a stored time falls in, as a stored time (SQLite: the same text as a bound one)."""
    if dialect == "postgresql":
        return func.date_trunc("hour", col)
    return func.strftime("%Y-%m-%d %H:00:00.000000", col)


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    floor = floor_hour(t)
    return floor if floor == t else floor + timedelta(hours=1)


def _at(value: datetime) -> ColumnElement[Any]:
    return literal(value, m.UTCDateTime())


def _named(*cols: Any) -> list[Any]:
    return [c.label(name) for c, name in zip(cols, COLUMNS, strict=True)]


def live(tenant_id: int, lo: datetime, hi: datetime, dialect: str) -> Select[Any]:
    """The rows of [lo, hi) from the messages and conversations themselves (columns as COLUMNS).
    Messages are reached through conversations active since `lo` (the list index); notes and system
    lines are not traffic."""
    zero = literal(0, m.Id)
    active = select(cv.id).where(cv.tenant_id == tenant_id, cv.last_message_at >= _at(lo))
    mh = hour_of(msg.created_at, dialect)
    kind = case((msg.direction == "in", literal("in")), else_=literal("out"))
    agent = case(
        (and_(msg.sender_type == "agent", msg.direction == "out"), func.coalesce(msg.sender_id, zero)),
        else_=zero,
    )
    messages = (
        select(*_named(literal(tenant_id, m.Id), mh, kind, msg.channel_id, zero, agent, func.count()))
        .where(
            msg.conversation_id.in_(active),
            msg.created_at >= _at(lo),
            msg.created_at < _at(hi),
            msg.status != "note",
        )
        .group_by(mh, kind, msg.channel_id, agent)
    )
    ch = hour_of(cv.created_at, dialect)
    queue = func.coalesce(cv.queue_id, zero)
    started = (
        select(
            *_named(literal(tenant_id, m.Id), ch, literal("new"), cv.channel_id, queue, zero, func.count())
        )
        .where(
            cv.tenant_id == tenant_id,
            cv.last_message_at >= _at(lo),  # it starts with a message: the list index narrows the scan
            cv.created_at >= _at(lo),
            cv.created_at < _at(hi),
        )
        .group_by(ch, cv.channel_id, queue)
    )
    return select(union_all(messages, started).subquery())


async def folded_until(conn: AsyncConnection, tenant_id: int) -> datetime:
    mark = (await conn.execute(select(rf.folded_until).where(rf.tenant_id == tenant_id))).scalar()
    return mark if mark is not None else NEVER


async def counts(conn: AsyncConnection, tenant_id: int, start: datetime, end: datetime) -> Any:
    """A subquery of the period's rows (COLUMNS, `hour` as stored): folded hours where there are,
    live counts for the rest. Several rows may share a key (sum them)."""
    d = conn.dialect.name
    lo, hi = ceil_hour(start), min(floor_hour(end), await folded_until(conn, tenant_id))
    if lo >= hi:
        return live(tenant_id, start, end, d).subquery()
    parts: list[Select[Any]] = [
        select(*(rh[c] for c in COLUMNS)).where(
            rh.tenant_id == tenant_id, rh.hour >= _at(lo), rh.hour < _at(hi)
        )
    ]
    if start < lo:
        parts.append(live(tenant_id, start, lo, d))
    if hi < end:
        parts.append(live(tenant_id, hi, end, d))
    if len(parts) == 1:
        return parts[0].subquery()
    return union_all(*parts).subquery()


async def first_responses_live(
    conn: AsyncConnection, tenant_id: int, lo: datetime, hi: datetime
) -> dict[datetime, dict[str, Any]]:
    """Per UTC hour of [lo, hi): first responses (count, exact median), from the conversations."""
    d = conn.dialect.name
    responded = select(cv.id).where(
        cv.tenant_id == tenant_id, cv.first_response_at >= _at(lo), cv.first_response_at < _at(hi)
    )
    v = sql.seconds_between(func.coalesce(cv.handed_off_at, cv.created_at), cv.first_response_at, d)
    keys = {"hour": hour_epoch(cv.first_response_at, d)}
    return {
        datetime.fromtimestamp(int(key), UTC): figures
        for (kind, key), figures in (await sql.figures_by(conn, responded, v, keys)).items()
        if kind == "hour"
    }


async def totals_of_hours(
    conn: AsyncConnection, tenant_id: int, lo: datetime, hi: datetime, hours: Select[Any]
) -> list[dict[str, Any]]:
    """report_hour_totals' rows of [lo, hi): `hours` yields (hour, kind, n)."""
    out: dict[datetime, dict[str, Any]] = {}

    def row(hour: datetime) -> dict[str, Any]:
        return out.setdefault(
            hour,
            {
                "hour": hour,
                "conversations": 0,
                "messages_in": 0,
                "messages_out": 0,
                "first_responses": 0,
                "first_response_median": None,
            },
        )

    names = {"new": "conversations", "in": "messages_in", "out": "messages_out"}
    for hour, kind, n in await conn.execute(hours):
        row(aware(hour))[names[kind]] += int(n)
    for hour, v in (await first_responses_live(conn, tenant_id, lo, hi)).items():
        row(hour).update(first_responses=v["count"], first_response_median=v["median_seconds"])
    return sorted(out.values(), key=lambda r: r["hour"])


async def hour_totals(
    conn: AsyncConnection, tenant_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """One row per UTC hour of [start, end) with anything in it (report_hour_totals' columns): the
    folded hours' rows, the rest live, as `counts` (an edge inside an hour is keyed by its hour)."""
    lo, hi = ceil_hour(start), min(floor_hour(end), await folded_until(conn, tenant_id))
    spans = [(start, end)] if lo >= hi else [(start, lo), (hi, end)]
    out: list[dict[str, Any]] = []
    if lo < hi:
        t = m.report_hour_totals.c
        names = ("conversations", "messages_in", "messages_out", "first_responses", "first_response_median")
        q = select(hour_epoch(t.hour, conn.dialect.name), *(t[n] for n in names)).where(
            t.tenant_id == tenant_id, t.hour >= _at(lo), t.hour < _at(hi)
        )
        # The hour as seconds: SQLite's driver would parse each stored time from text (2,000 a quarter).
        out = [
            {"hour": datetime.fromtimestamp(r[0], UTC), **dict(zip(names, r[1:], strict=True))}
            for r in (await conn.execute(q)).all()
        ]
    for a, b in spans:
        if a < b:
            rows = live(tenant_id, a, b, conn.dialect.name).subquery()
            hours = select(rows.c.hour, rows.c.kind, func.sum(rows.c.n)).group_by(rows.c.hour, rows.c.kind)
            out.extend(await totals_of_hours(conn, tenant_id, a, b, hours))
    return sorted(out, key=lambda r: r["hour"])


def hour_epoch(col: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC hour a timestamp falls in (stored timestamps are naive UTC), as seconds since the epoch:
    an integer key like the others (text keys sort slowly under a database's collation)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.date_trunc("hour", col)), BigInteger)
    return cast(func.strftime("%s", func.strftime("%Y-%m-%d %H:00:00", col)), BigInteger)
