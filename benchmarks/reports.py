"""A one-off timing of GET /api/reports' work over a large tenant (issue 17): seed N conversations
(default 100,000) spread over 90 days, with messages, an assignment history (automatic assignments,
a fifth transferred, most resolved) and a heat map's worth of hours; then time the report for the
last 7, 30 and 90 days and print the median and p95.

    python -m benchmarks.reports                                # SQLite in a temporary folder
    python -m benchmarks.reports --database-url postgresql+asyncpg://postgres@127.0.0.1/reports_bench

The database must be empty or new (it is migrated here). Not part of `inbox bench` nor the tests:
results go in docs/routing.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from inbox import models as m
from inbox import report_fold, reports, routing_settings
from inbox.catalog import label_report
from inbox.db import create_engine
from inbox.migrate import migrate

CHUNK = 5_000


async def seed(url: str, conversations: int, days: int = 90) -> int:
    """Returns the tenant's id. Times follow working hours (more at 9-18 local), so the heat map has
    a shape; rows are written in chunks with executemany."""
    engine = create_engine(url)
    rng = random.Random(17)
    now = m.utcnow()
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            tenant_id = (
                await conn.execute(
                    insert(m.tenants)
                    .values(name="Bench reports", settings={"routing": {"timezone": "America/Sao_Paulo"}})
                    .returning(m.tenants.c.id)
                )
            ).scalar_one()
            queues = [
                (
                    await conn.execute(
                        insert(m.queues)
                        .values(tenant_id=tenant_id, name=f"Queue {i}")
                        .returning(m.queues.c.id)
                    )
                ).scalar_one()
                for i in range(4)
            ]
            channels = [
                (
                    await conn.execute(
                        insert(m.channels)
                        .values(
                            tenant_id=tenant_id, kind="whatsapp", provider="notificame", name=f"Channel {i}",
                            webhook_key=f"bench-reports-{tenant_id}-{i}", secrets="", settings={},
                        )
                        .returning(m.channels.c.id)
                    )
                ).scalar_one()
                for i in range(3)
            ]  # fmt: skip
            agents = [
                (
                    await conn.execute(
                        insert(m.agents)
                        .values(
                            tenant_id=tenant_id, email=f"bench-reports-{tenant_id}-{i}@bench.example",
                            name=f"Agent {i}", password_hash="-", role="agent",
                        )
                        .returning(m.agents.c.id)
                    )
                ).scalar_one()
                for i in range(20)
            ]  # fmt: skip
        done = 0
        while done < conversations:
            n = min(CHUNK, conversations - done)
            await _chunk(engine, rng, tenant_id, channels, queues, agents, n, now, days)
            done += n
            print(f"  seeded {done:,} conversations", flush=True)
        return int(tenant_id)
    finally:
        await engine.dispose()


async def _chunk(
    engine: Any,
    rng: random.Random,
    tenant_id: int,
    channels: list[int],
    queues: list[int],
    agents: list[int],
    n: int,
    now: datetime,
    days: int,
) -> None:
    async with engine.begin() as conn:
        contact_rows = [
            {"tenant_id": tenant_id, "name": f"C {rng.random():.8f}", "attributes": {}} for _ in range(n)
        ]
        last = select(m.contacts.c.id).order_by(m.contacts.c.id.desc()).limit(1)
        first = (await conn.execute(last)).scalar() or 0
        await conn.execute(insert(m.contacts), contact_rows)
        contact_ids = list(
            (
                await conn.execute(
                    select(m.contacts.c.id).where(m.contacts.c.id > first).order_by(m.contacts.c.id)
                )
            ).scalars()
        )
        convs = []
        for contact_id in contact_ids:
            day = now - timedelta(days=rng.random() * days)
            hour = min(23, max(0, int(rng.gauss(14, 3))))  # UTC 14h is 11h in São Paulo
            created = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
            if created >= now:
                created -= timedelta(days=1)
            resolved = rng.random() < 0.9
            assigned_at = created + timedelta(seconds=rng.randrange(5, 600))
            frt = assigned_at + timedelta(seconds=rng.randrange(10, 1800))
            resolved_at = frt + timedelta(seconds=rng.randrange(60, 7200)) if resolved else None
            convs.append(
                {
                    "tenant_id": tenant_id,
                    "channel_id": rng.choice(channels),
                    "contact_id": contact_id,
                    "queue_id": rng.choice([*queues, None]),
                    "status": "resolved" if resolved else "assigned",
                    "assignee_id": rng.choice(agents),
                    "created_at": created,
                    "last_message_at": resolved_at or frt,
                    "queued_at": created,
                    "assigned_at": assigned_at,
                    "first_response_at": frt,
                    "resolved_at": resolved_at,
                }
            )
        first_conv = (
            await conn.execute(select(m.conversations.c.id).order_by(m.conversations.c.id.desc()).limit(1))
        ).scalar() or 0
        await conn.execute(insert(m.conversations), convs)
        ids = list(
            (
                await conn.execute(
                    select(m.conversations.c.id)
                    .where(m.conversations.c.id > first_conv)
                    .order_by(m.conversations.c.id)
                )
            ).scalars()
        )
        messages, history, credit = [], [], []
        for cid, c in zip(ids, convs, strict=True):
            base = {
                "tenant_id": tenant_id, "conversation_id": cid, "channel_id": c["channel_id"], "kind": "text",
                "text": "bench", "attachments": [], "deleted": False,
            }  # fmt: skip
            messages.append({**base, "direction": "in", "sender_type": "contact", "sender_id": None,
                             "status": "received", "created_at": c["created_at"]})  # fmt: skip
            holder, since = c["assignee_id"], c["assigned_at"]
            first_holder = holder
            if rng.random() < 0.2:  # transferred once, from another agent
                first_holder = rng.choice([a for a in agents if a != holder])
                moved = since + (c["first_response_at"] - since) / 2
                history.append(_row(tenant_id, cid, c, "auto", since, to_agent_id=first_holder))
                history.append(_row(tenant_id, cid, c, "transfer", moved, first_holder, holder, since))
                since = moved
            else:
                history.append(_row(tenant_id, cid, c, "auto", since, to_agent_id=holder))
            messages.append({**base, "direction": "out", "sender_type": "agent", "sender_id": holder,
                             "status": "sent", "created_at": c["first_response_at"]})  # fmt: skip
            credit.append({"cid": cid, "responder": holder,
                           "resolver": holder if c["resolved_at"] is not None else None,
                           "since": since if c["resolved_at"] is None else None})  # fmt: skip
            again = c["first_response_at"] + timedelta(seconds=30)
            messages.append({**base, "direction": "in", "sender_type": "contact", "sender_id": None,
                             "status": "received", "created_at": again})  # fmt: skip
            if c["resolved_at"] is not None:
                last = c["resolved_at"] - timedelta(seconds=5)
                messages.append({**base, "direction": "out", "sender_type": "agent", "sender_id": holder,
                                 "status": "sent", "created_at": last})  # fmt: skip
                history.append(
                    _row(tenant_id, cid, c, "resolve", c["resolved_at"], holder, None, since, holder)
                )
        await conn.execute(insert(m.messages), messages)
        await conn.execute(insert(m.assignments), history)
        # What replies and resolutions store on the conversation (the reports' credit).
        cv = m.conversations.c
        await conn.execute(
            update(m.conversations)
            .where(cv.id == bindparam("cid"))
            .values(
                first_responder_id=bindparam("responder"),
                resolved_by_id=bindparam("resolver"),
                held_since=bindparam("since"),
            ),
            credit,
        )


def _row(
    tenant_id: int,
    cid: int,
    c: dict[str, Any],
    reason: str,
    at: datetime,
    from_agent_id: int | None = None,
    to_agent_id: int | None = None,
    held_since: datetime | None = None,
    actor_id: int | None = None,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id, "conversation_id": cid, "at": at, "reason": reason,
        "from_agent_id": from_agent_id, "to_agent_id": to_agent_id, "actor_id": actor_id,
        "queue_id": c["queue_id"], "channel_id": c["channel_id"], "held_since": held_since,
    }  # fmt: skip


async def measure(url: str, tenant_id: int, runs: int) -> dict[int, tuple[float, float]]:
    """The route's work (settings, period, report, labels) per period length: (median, p95) in ms.
    Periods start at the tenant's midnight, as the browser asks (an hour boundary: no live edge)."""
    engine = create_engine(url)
    out = {}
    try:
        t0 = time.perf_counter()
        await report_fold.fold_all(engine)  # what the rollup worker does every few minutes
        print(f"  folded the hours that are over in {time.perf_counter() - t0:.1f} s", flush=True)
        if engine.dialect.name == "postgresql":
            # What autovacuum does after so many inserts: statistics (without them a fresh seed's plans
            # pick the wrong indexes) and the visibility map (index-only scans). SQLite: nothing, as
            # the product runs no ANALYZE there.
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql("VACUUM ANALYZE")
        for days in (7, 30, 90):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                async with engine.connect() as conn:
                    settings = await routing_settings.load(conn, tenant_id)
                    now = m.utcnow()
                    # As GET /api/reports?from=<date>: from the tenant's midnight, `days` days with today.
                    first = (now.astimezone(settings.tz) - timedelta(days=days - 1)).date().isoformat()
                    start, end = reports.period(first, None, now, settings)
                    await reports.report(conn, tenant_id, start, end, settings, now)
                    await label_report(conn, tenant_id, start, end)
                times.append((time.perf_counter() - t0) * 1000)
            ordered = sorted(times)
            p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
            out[days] = (statistics.median(times), p95)
            print(
                f"  {days:>2} days: median {out[days][0]:.0f} ms, p95 {p95:.0f} ms ({runs} runs)", flush=True
            )
    finally:
        await engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="default: SQLite in a temporary folder")
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument(
        "--measure-only",
        type=int,
        metavar="TENANT_ID",
        help="time a tenant seeded before (with --database-url), migrating the database first",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/reports.db"
        if args.measure_only is not None:
            asyncio.run(_migrated(url))
            asyncio.run(measure(url, args.measure_only, args.runs))
            return
        print(f"seeding {args.conversations:,} conversations into {url.split('@')[-1]}", flush=True)
        t0 = time.perf_counter()
        tenant_id = asyncio.run(seed(url, args.conversations))
        print(f"  seeded tenant {tenant_id} in {time.perf_counter() - t0:.0f} s", flush=True)
        asyncio.run(measure(url, tenant_id, args.runs))


async def _migrated(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main()
