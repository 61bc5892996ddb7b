"""The reports' hourly rollup (inbox/report_rollup.py): a report reads the same figures from folded
hours as from the messages themselves, whole hours or not, and an hour is folded once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from inbox import models as m
from inbox import report_fold, report_rollup, reports, routing_settings
from tests.inbox.report_support import at, scripted_day
from tests.support import App


async def _report(app: App, tenant_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    async with app.runtime.engine.connect() as conn:
        settings = await routing_settings.load(conn, tenant_id)
        return await reports.report(conn, tenant_id, start, end, settings, now=end)


async def _folded_rows(app: App, tenant_id: int) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(func.count()).where(m.report_hours.c.tenant_id == tenant_id)
        return int((await conn.execute(q)).scalar_one())


async def test_folded_hours_give_the_live_figures(app: App) -> None:
    t, ids = await scripted_day(app)
    periods = [
        (at(0, 0), at(0, 0, day=11)),  # whole hours (the day)
        (at(9, 30), at(10, 45)),  # edges inside hours: live, the middle folded
        (at(23, 0, day=9), at(9, 52)),  # across midnight, the end inside an hour
    ]
    before = [await _report(app, t.id, s, e) for s, e in periods]
    assert before[0]["by_channel"][0]["messages_in"] == 2  # the script's figures, live (nothing folded)

    # Fold up to 10:00 only: 10:00-11:00 and later stay live.
    async with app.runtime.engine.begin() as conn:
        assert await report_fold.fold(conn, t.id, at(10, 0)) is True
    partly = [await _report(app, t.id, s, e) for s, e in periods]
    assert partly == before
    # Then everything that is over (as the worker does, LAG after the hour).
    assert await report_fold.fold_all(app.runtime.engine, now=at(0, 0, day=12)) >= 1
    rows = await _folded_rows(app, t.id)
    assert rows > 0
    after = [await _report(app, t.id, s, e) for s, e in periods]
    assert after == before
    # An hour is folded once: a second pass finds nothing to do and writes nothing.
    assert await report_fold.fold_all(app.runtime.engine, now=at(0, 0, day=12)) == 0
    async with app.runtime.engine.begin() as conn:
        assert await report_fold.fold(conn, t.id, at(10, 0)) is False
    assert await _folded_rows(app, t.id) == rows
    out = {a["agent_id"]: a["messages_out"] for a in after[0]["agents"]}
    assert (out[ids["a1"]], out[ids["a2"]]) == (2, 1)


async def test_the_rollup_is_per_tenant(app: App) -> None:
    t, _ = await scripted_day(app)
    other, _ = await scripted_day(app)
    async with app.runtime.engine.begin() as conn:
        await report_fold.fold(conn, t.id, at(0, 0, day=12))
    day = (at(0, 0), at(0, 0, day=11))
    assert await _folded_rows(app, other.id) == 0
    mine, theirs = await _report(app, t.id, *day), await _report(app, other.id, *day)
    assert mine["totals"] == theirs["totals"]  # the same script: folded or live, the same figures


async def test_the_worker_leaves_the_current_hours_live() -> None:
    now = datetime(2025, 3, 10, 10, 3, tzinfo=UTC)
    # At 10:03 the hour 9:00-10:00 is not LAG past its end yet: folded up to 9:00.
    assert report_rollup.floor_hour(now - report_rollup.LAG) == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    assert report_rollup.ceil_hour(now) == datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
    assert report_rollup.ceil_hour(now.replace(minute=0)) == now.replace(minute=0)
