"""The reports' running totals (inbox/report_cells.py): a period read from the totals at two stored
midnights gives the cells computed live; another tenant's rows never count; durations from the
log-scale histograms stay within their documented bound; migration 0015 makes every tenant fold again."""

from __future__ import annotations

import math
import random
import statistics
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, literal, select

from inbox import models as m
from inbox import report_cells, report_fold, reports, routing_settings
from inbox.actions.assignments import HELD
from inbox.db import create_engine
from inbox.migrate import migrate
from tests.databases import create_pg_database, drop_pg_database, pg_ok
from tests.inbox.report_support import at, inbound_at, scripted_day
from tests.inbox.routing_support import add_message, conversation, set_conversation
from tests.support import App


def _close(a: report_cells.Cells, b: report_cells.Cells) -> None:
    """The same cells (n exactly, sums of seconds to a millisecond); empty cells are no cells."""
    a = {k: v for k, v in a.items() if round(v[0], 6) or round(v[1], 6)}
    b = {k: v for k, v in b.items() if round(v[0], 6) or round(v[1], 6)}
    assert set(a) == set(b)
    for k in a:
        assert a[k][0] == pytest.approx(b[k][0], abs=1e-6), k
        assert a[k][1] == pytest.approx(b[k][1], abs=1e-3), k


async def _marks(app: App, tenant_id: int) -> list[datetime]:
    async with app.runtime.engine.connect() as conn:
        q = select(m.report_days.c.until).where(
            m.report_days.c.tenant_id == tenant_id, m.report_days.c.figure == report_cells.MARK
        )
        return sorted(report_cells.aware(t) for t in (await conn.execute(q)).scalars())


async def _later_day(app: App, t: Any, ids: dict[str, int]) -> None:
    """Two more conversations on 11 March, so that the totals between two midnights hold something."""
    ch = await t.channel("whatsapp")
    for minute, secs in ((5, 90), (40, 2000)):
        cid = await conversation(app, ch)
        start = at(14, minute, day=11)
        await inbound_at(app, cid, start)
        await set_conversation(
            app,
            cid,
            status="resolved",
            assignee_id=ids["a1"],
            created_at=start,
            last_message_at=start + timedelta(seconds=secs + 60),
            assigned_at=start,
            first_response_at=start + timedelta(seconds=secs),
            resolved_at=start + timedelta(seconds=secs + 60),
            first_responder_id=ids["a1"],
            resolved_by_id=ids["a1"],
        )
        await add_message(
            app,
            cid,
            direction="out",
            sender_type="agent",
            sender_id=ids["a1"],
            at=start + timedelta(seconds=secs),
        )


async def test_totals_between_midnights_give_the_live_cells(app: App) -> None:
    t, ids = await scripted_day(app)
    await _later_day(app, t, ids)
    periods = [
        (at(0, 0), at(0, 0, day=12)),  # two whole days: the totals at both ends
        (at(22, 0, day=9), at(16, 30, day=12)),  # edges inside days: live around the totals
    ]
    async with app.runtime.engine.connect() as conn:
        settings = await routing_settings.load(conn, t.id)
        unfolded = [await report_cells.live(conn, t.id, s, e, e) for s, e in periods]
        before = [await reports.report(conn, t.id, s, e, settings, now=e) for s, e in periods]
    assert await report_fold.fold_all(app.runtime.engine, now=at(0, 10, day=13)) >= 1
    # The tenant's first conversation started on 9 March: a total at every midnight since.
    assert await _marks(app, t.id) == [at(0, 0, day=d) for d in (10, 11, 12, 13)]
    async with app.runtime.engine.connect() as conn:
        for (s, e), cells in zip(periods, unfolded, strict=True):
            _close(await report_cells.period(conn, t.id, s, e, settings.tz, e), cells)
        after = [await reports.report(conn, t.id, s, e, settings, now=e) for s, e in periods]
    assert after == before
    day = after[0]
    assert day["first_response"]["count"] == 5 and day["totals"]["messages_out"] == 6
    a1 = next(a for a in day["agents"] if a["agent_id"] == ids["a1"])
    assert (a1["first_responses"], a1["resolved"]) == (4, 4)


async def test_another_tenants_rows_never_count(app: App) -> None:
    t, ids = await scripted_day(app)
    other, other_ids = await scripted_day(app)
    await _later_day(app, other, other_ids)  # only the other tenant gets 11 March
    bot = await conversation(app, await other.channel("whatsapp"))  # and a conversation the bot kept
    await set_conversation(
        app, bot, status="bot", bot_turns=2, created_at=at(15, 0), last_message_at=at(15, 0)
    )
    period = (at(0, 0), at(0, 0, day=12))
    async with app.runtime.engine.connect() as conn:
        settings = await routing_settings.load(conn, t.id)
        alone = await reports.report(conn, t.id, *period, settings, now=period[1])
    await report_fold.fold_all(app.runtime.engine, now=at(0, 10, day=13))
    assert (alone["totals"]["handed_off"], alone["totals"]["bot_only"]) == (1, 0)
    async with app.runtime.engine.connect() as conn:
        assert await reports.report(conn, t.id, *period, settings, now=period[1]) == alone
        theirs = await reports.report(conn, other.id, *period, settings, now=period[1])
    assert (theirs["totals"]["handed_off"], theirs["totals"]["bot_only"]) == (1, 1)
    async with app.runtime.engine.connect() as conn:
        keys = select(m.report_days.c.figure, m.report_days.c.key).where(m.report_days.c.tenant_id == t.id)
        rows = list(await conn.execute(keys))
    mine = {ids["a1"], ids["a2"], ids["ch1"], ids["ch2"], t.admin.id, 0}
    assert rows and all(key in mine for _, key in rows)


def test_the_partial_indexes_spell_the_rules() -> None:
    """The predicates queries spell as text (so that SQLite sees the partial index applies) are the
    rules the code uses elsewhere."""
    held = ", ".join(f"'{s}'" for s in HELD)
    assert m.HELD_NOW == f"status IN ({held})"


def _bucket(v: float) -> int:
    return math.floor(math.log(v + 1) / math.log(report_cells.STEP))


async def test_the_databases_bucket_as_documented(app: App) -> None:
    values = [0.0, 0.4, 1.0, 59.9, 60.0, 119.5, 3600.0, 86400.0 * 3]
    async with app.runtime.engine.connect() as conn:
        got = [(await conn.execute(select(report_cells.bucket(literal(v))))).scalar() for v in values]
    assert got == [_bucket(v) for v in values]


def test_durations_within_the_bound() -> None:
    """Medians and p90 from buckets: off by less than 5% of (value + 1) s; exact for lone values."""
    rng = random.Random(17)
    for n in (1, 2, 7, 100, 2001):
        values = [rng.lognormvariate(5, 1.5) for _ in range(n)]
        cells: report_cells.Cells = {}
        for v in values:
            cell = cells.setdefault(("frt.all", 0, _bucket(v)), [0.0, 0.0])
            cell[0] += 1
            cell[1] += v
        got = report_cells.durations(report_cells.by_figure(cells), "frt.all")[0]
        ordered = sorted(values)
        p90 = ordered[math.ceil(0.9 * n) - 1]
        assert got["count"] == n
        for approx, exact in ((got["median_seconds"], statistics.median(values)), (got["p90_seconds"], p90)):
            assert abs(approx - exact) <= 0.05 * (exact + 1) + 0.05
    lone = {("res.agent", 7, _bucket(v)): [1.0, v] for v in (120.0, 180.0, 300.0, 3720.0)}
    assert report_cells.durations(report_cells.by_figure(lone), "res.agent")[7] == {
        "count": 4,
        "median_seconds": 240.0,
        "p90_seconds": 3720.0,
    }


async def _migration_refolds(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine, "0014")
        async with engine.begin() as conn:
            tenant_id = (
                await conn.execute(
                    m.tenants.insert().values(name="Old", settings={}).returning(m.tenants.c.id)
                )
            ).scalar_one()
            old = datetime(2025, 3, 10, 9, 0)
            channel_id = (
                await conn.execute(
                    m.channels.insert()
                    .values(
                        tenant_id=tenant_id, kind="whatsapp", provider="notificame", name="C",
                        webhook_key="old-0015", secrets="", settings={},
                    )
                    .returning(m.channels.c.id)
                )
            ).scalar_one()  # fmt: skip
            contact_id = (
                await conn.execute(
                    m.contacts.insert()
                    .values(tenant_id=tenant_id, name="C", attributes={})
                    .returning(m.contacts.c.id)
                )
            ).scalar_one()
            started = datetime(2025, 3, 11, 12, 0)
            await conn.execute(
                m.conversations.insert().values(
                    tenant_id=tenant_id, channel_id=channel_id, contact_id=contact_id, status="open",
                    created_at=started, last_message_at=started,
                )
            )  # fmt: skip
            await conn.execute(
                m.report_hours.insert().values(
                    tenant_id=tenant_id, hour=old, kind="in", channel_id=1, queue_id=0, agent_id=0, n=3
                )
            )
            await conn.execute(m.report_folds.insert().values(tenant_id=tenant_id, folded_until=old))
        await migrate(engine)
        async with engine.connect() as conn:
            for table in (m.report_hours, m.report_folds, m.report_days):
                assert (await conn.execute(select(func.count()).select_from(table))).scalar_one() == 0
        # The next folds write both again, from the tenant's first conversation (11 March, 12:00).
        assert await report_fold.fold_all(engine, now=at(0, 10, day=12)) == 1
        assert await report_fold.fold_all(engine, now=at(0, 10, day=14)) == 1
        async with engine.connect() as conn:
            q = select(m.report_days.c.until, m.report_days.c.figure, m.report_days.c.n).order_by(
                m.report_days.c.until, m.report_days.c.figure
            )
            rows = [(report_cells.aware(u), f, n) for u, f, n in await conn.execute(q)]
            hours = (await conn.execute(select(func.sum(m.report_hours.c.n)))).scalar_one()
        assert [(u.day, f, n) for u, f, n in rows] == [
            (day, figure, n)
            for day in (12, 13, 14)
            for figure, n in (("", 0), ("new.channel", 1), ("new.queue", 1))
        ]
        assert hours == 1  # the conversation's start, folded again
    finally:
        await engine.dispose()


async def test_migration_0015_refolds_on_sqlite(tmp_path: Path) -> None:
    await _migration_refolds(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")


async def test_migration_0015_refolds_on_postgresql() -> None:
    if not pg_ok():
        pytest.skip("PostgreSQL not configured")
    url = await create_pg_database()
    try:
        await _migration_refolds(url)
    finally:
        await drop_pg_database(url)
