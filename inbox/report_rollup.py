"""The reports' hourly counts (issue 17): conversations started (by channel and queue) and messages in
and out (by channel, and by the sending agent for agents' replies) per UTC hour.

Owns `report_hours` and `report_folds`: the fold (`fold`, run by inbox/workers/rollup.py) writes the
counts of the hours that are over, LAG after their end, once per tenant and hour; `counts` gives a
report the rows of a period: the folded hours, and the same rows computed live for what is not
folded (the latest hours, a period's edges that are not whole hours). A report then reads hours, not
messages. Kept only what an hour over does not change: a message's hour, channel, direction and
sender; a conversation's hour, channel and queue when folded (a later move to another queue is not
counted again). Must not be written by anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, insert, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.db import insert as dialect_insert

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


async def fold(conn: AsyncConnection, tenant_id: int, until: datetime) -> bool:
    """Fold the tenant's hours from its mark up to `until` (an hour boundary) in `conn`'s transaction.
    The mark moves first, conditionally: of two processes folding at once, one does it and the other
    finds nothing to do. Returns whether rows were folded."""
    await conn.execute(
        dialect_insert(conn.dialect.name, m.report_folds)
        .values(tenant_id=tenant_id, folded_until=NEVER)
        .on_conflict_do_nothing()
    )
    mark = await folded_until(conn, tenant_id)
    if mark >= until:
        return False
    moved = await conn.execute(
        update(m.report_folds)
        .where(rf.tenant_id == tenant_id, rf.folded_until == _at(mark))
        .values(folded_until=until)
    )
    if moved.rowcount != 1:
        return False
    rows = live(tenant_id, mark, until, conn.dialect.name)
    await conn.execute(insert(m.report_hours).from_select(list(COLUMNS), rows))
    return True


async def fold_all(engine: Any, now: datetime | None = None) -> int:
    """Every tenant's hours that are over (LAG past their end), one short transaction per tenant (SQLite
    has one writer). Returns how many tenants had hours folded."""
    until = floor_hour((now or m.utcnow()) - LAG)
    async with engine.connect() as conn:
        tenants = list((await conn.execute(select(m.tenants.c.id).order_by(m.tenants.c.id))).scalars())
    done = 0
    for tenant_id in tenants:
        async with engine.begin() as conn:
            done += await fold(conn, int(tenant_id), until)
    return done
