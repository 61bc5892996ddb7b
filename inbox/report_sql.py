"""The reports' SQL pieces that differ by dialect or repeat: seconds between times, percentiles by
group, time spent holding conversations.

Owns statements only (inbox/reports.py assembles them into a report). Every figure is computed by the
database, on SQLite and PostgreSQL alike: Python sees one row per group, never one per conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m

cv, asg = m.conversations.c, m.assignments.c


def at(value: datetime) -> ColumnElement[Any]:
    """A time as a typed SQL value (naive UTC in storage, on both databases)."""
    return literal(value, m.UTCDateTime())


def epoch(col: Any, dialect: str) -> ColumnElement[Any]:
    """Seconds since the epoch (fractions kept), for differences."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", col), Float)  # numeric otherwise: slower to sort and sum
    return func.julianday(col) * 86400.0


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    return epoch(end, dialect) - epoch(start, dialect)


def least(dialect: str, *values: Any) -> ColumnElement[Any]:
    return func.least(*values) if dialect == "postgresql" else func.min(*values)


def greatest(dialect: str, *values: Any) -> ColumnElement[Any]:
    return func.greatest(*values) if dialect == "postgresql" else func.max(*values)


async def figures_by(
    conn: AsyncConnection, base: Select[Any], v: Any, keys: dict[str, Any]
) -> dict[tuple[str, Any], dict[str, Any]]:
    """Per grouping (`kind` -> integer key column; "all" is the whole set) and key of `base`'s rows:
    the count, median and nearest-rank p90 of `v` (see `percentiles`). PostgreSQL computes them with
    its ordered-set aggregates over GROUPING SETS (one sort per grouping, ~3x less work than the
    window); SQLite has neither, so the rows go through `grouped` and `percentiles`. Both give the
    same figures (tests/inbox/test_reports.py runs on both)."""
    if conn.dialect.name != "postgresql":
        return await percentiles(conn, grouped(base, v, keys), list(keys))
    named = [k for k in keys if k != "all"]
    src = base.with_only_columns(v.label("v"), *(keys[k].label(f"k_{k}") for k in named))
    s = src.subquery()
    s = select(s).where(s.c.v >= 0).subquery()
    cols = [s.c[f"k_{k}"] for k in named]
    sets = ", ".join(["()", *(f"(k_{k})" for k in named)])
    q = select(
        func.grouping(*cols),
        *cols,
        func.count(),
        func.percentile_cont(0.5).within_group(s.c.v),
        func.percentile_disc(0.9).within_group(s.c.v),
    ).group_by(text(f"GROUPING SETS ({sets})"))
    # GROUPING(): a bit per key, 1 where the row is not grouped by it (the last key is bit 0).
    width = len(named)
    out = {}
    for row in await conn.execute(q):
        mask, values, n, med, p90 = row[0], row[1 : width + 1], row[width + 1], row[width + 2], row[width + 3]
        grouped_by = [i for i in range(width) if not mask & (1 << (width - 1 - i))]
        kind, key = ("all", 0) if not grouped_by else (named[grouped_by[0]], values[grouped_by[0]])
        out[(kind, key)] = {"count": int(n), "median_seconds": _round(med), "p90_seconds": _round(p90)}
    return out


async def percentiles(
    conn: AsyncConnection, src: Select[Any], kinds: Sequence[str]
) -> dict[tuple[str, Any], dict[str, Any]]:
    """`src` yields (kind, key, v) rows: per (kind, key), the count, the median (the mean of the two
    middle values for an even count, as statistics.median) and the nearest-rank p90 (the smallest
    value with at least 90% of values at or below it), from one window function: cume_dist is the
    share of values at or below each one. Negative values (clock skew, hand-edited rows) are left out.
    `kinds`: the groupings' names, in the order `grouped` numbered them."""
    s = src.subquery()
    ranked = (
        select(
            s.c.kind,
            s.c.key,
            s.c.v,
            func.cume_dist().over(partition_by=(s.c.kind, s.c.key), order_by=s.c.v).label("share"),
        )
        .where(s.c.v >= 0)
        .subquery()
    )
    r = ranked.c
    lower_middle = func.min(case((r.share >= 0.5, r.v)))
    upper_middle = func.min(case((r.share > 0.5, r.v)))
    q = select(
        r.kind,
        r.key,
        func.count(),
        (lower_middle + upper_middle) / 2,
        func.min(case((r.share >= 0.9, r.v))),
    ).group_by(r.kind, r.key)
    out = {}
    for kind, key, n, med, p90 in await conn.execute(q):
        out[(kinds[kind], key)] = {"count": int(n), "median_seconds": _round(med), "p90_seconds": _round(p90)}
    return out


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def grouped(base: Select[Any], v: Any, keys: dict[str, Any]) -> Select[Any]:
    """`base`'s rows, read once (a materialized CTE), then once per grouping (`kind` -> an integer key
    column) as one UNION ALL for `percentiles`. Kinds travel as their position and keys as BIGINT:
    one type for PostgreSQL's UNION, and integers sort fast where text sorts under a collation."""
    src = base.with_only_columns(v.label("v"), *(key.label(f"k_{kind}") for kind, key in keys.items()))
    rows = src.cte("report_rows").prefix_with("MATERIALIZED")
    parts = [
        select(
            literal(i, Integer).label("kind"), cast(rows.c[f"k_{kind}"], BigInteger).label("key"), rows.c.v
        )
        for i, kind in enumerate(keys)
    ]
    return select(parts[0].union_all(*parts[1:]).subquery())


# --- time holding conversations -------------------------------------------------------------------


async def handling(
    conn: AsyncConnection, tenant_id: int, start: datetime, end: datetime, now: datetime
) -> dict[Any, float]:
    """Seconds each agent held conversations within [start, end): the closed intervals of the
    history (a row with `from_agent_id` ends [held_since, at)), clipped to the period, and the open
    ones of conversations held now (since the conversation's `held_since`, the time of the change that
    gave it to its holder; `assigned_at` for a conversation without one)."""
    d = conn.dialect.name
    stop = min(end, now)
    closed = (
        select(
            asg.from_agent_id,
            func.sum(seconds_between(greatest(d, asg.held_since, at(start)), least(d, asg.at, at(end)), d)),
        )
        .where(
            asg.tenant_id == tenant_id,
            asg.from_agent_id.is_not(None),
            asg.at > start,
            asg.held_since < end,
        )
        .group_by(asg.from_agent_id)
    )
    out: dict[Any, float] = {}
    for agent_id, secs in await conn.execute(closed):
        out[agent_id] = float(secs or 0)
    if stop <= start:
        return out
    held = (
        select(cv.assignee_id.label("agent"), func.coalesce(cv.held_since, cv.assigned_at).label("since"))
        # models.HELD_NOW spells HELD as ix_conversations_held's predicate (a literal list: a bound
        # one would not tell SQLite that the partial index applies).
        .where(cv.tenant_id == tenant_id, text(m.HELD_NOW), cv.assignee_id.is_not(None))
        .subquery()
    )
    open_ = (
        select(held.c.agent, func.sum(seconds_between(greatest(d, held.c.since, at(start)), at(stop), d)))
        .where(and_(held.c.since.is_not(None), held.c.since < at(stop)))
        .group_by(held.c.agent)
    )
    for agent_id, secs in await conn.execute(open_):
        out[agent_id] = out.get(agent_id, 0.0) + float(secs or 0)
    return out  # unrounded: spans add up (inbox/report_cells.py)
