"""Folding a tenant's reports (issue 17): its hours that are over into `report_hours` and
`report_hour_totals` (inbox/report_rollup.py), then the running totals at the midnights they
complete (`report_days`, inbox/report_cells.py), in one transaction per step; run by the
report-rollup worker (inbox/workers/rollup.py). Owns the fold's mark (`report_folds`) and its steps;
what each table holds is its own module's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox import report_cells, routing_settings
from inbox.db import insert as dialect_insert
from inbox.figures import aware
from inbox.report_rollup import COLUMNS, LAG, NEVER, floor_hour, folded_until, live, totals_of_hours
from inbox.report_sql import at as _at

cv, rh, rf = m.conversations.c, m.report_hours.c, m.report_folds.c


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
    hours = select(rh.hour, rh.kind, func.sum(rh.n)).where(
        rh.tenant_id == tenant_id, rh.hour >= _at(mark), rh.hour < _at(until)
    )
    totals = await totals_of_hours(conn, tenant_id, mark, until, hours.group_by(rh.hour, rh.kind))
    if totals:
        await conn.execute(insert(m.report_hour_totals), [{"tenant_id": tenant_id, **t} for t in totals])
    # The running totals read the hours written above.
    zone = (await routing_settings.load(conn, tenant_id)).tz
    await report_cells.fold_days(conn, tenant_id, mark, until, zone)
    return True


FOLD_STEP = timedelta(days=1)  # the most a fold transaction covers: a tenant's history folds a day at a time


async def fold_all(engine: Any, now: datetime | None = None) -> int:
    """Every tenant's hours that are over (LAG past their end), in short transactions (SQLite has one
    writer): a tenant's hours a day at a time, from its first conversation when never folded.
    Returns how many tenants had hours folded."""
    until = floor_hour((now or m.utcnow()) - LAG)
    async with engine.connect() as conn:
        tenants = list((await conn.execute(select(m.tenants.c.id).order_by(m.tenants.c.id))).scalars())
    done = 0
    for tenant_id in tenants:
        async with engine.connect() as conn:
            at = await folded_until(conn, tenant_id)
            if at == NEVER:
                first = (
                    await conn.execute(select(func.min(cv.created_at)).where(cv.tenant_id == tenant_id))
                ).scalar()
                at = floor_hour(aware(first)) if first is not None else until
        folded = False
        while True:
            at = min(until, at + FOLD_STEP)
            async with engine.begin() as conn:
                folded = await fold(conn, int(tenant_id), at) or folded
            if at >= until:
                break
        done += folded
    return done
