"""Deferred work (bot turns, snooze wake-ups): a durable `jobs` table and a worker that runs due jobs.

Owns claiming: a job is leased (`locked_until`) so that several processes never run it twice at once
(PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite has a single writer). A job whose `run_at` moved while
it ran (a new customer message for the bot) is run again instead of being deleted, so the last
message is always answered. Handlers are handed in by the composition (inbox/app.py): the bot's
turn from `bot/`, snooze wake-ups from routing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Row

from inbox import models as m
from inbox.waiting import wait_event
from inbox.workers import Worker

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
jb = m.jobs.c

Handler = Callable[["Runtime", Row[Any]], Awaitable[None]]
MAX_ATTEMPTS = 5
POLL_SECONDS = 1.0


async def claim(rt: Runtime, limit: int = 16) -> list[Row[Any]]:
    now = m.utcnow()
    due = and_(jb.run_at <= now, or_(jb.locked_until.is_(None), jb.locked_until < now))
    pick = select(jb.id).where(due).order_by(jb.run_at).limit(limit)
    if rt.engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(m.jobs)
        .where(jb.id.in_(pick.scalar_subquery()), due)
        .values(locked_until=now + timedelta(seconds=rt.settings.job_lease_seconds), attempts=jb.attempts + 1)
        .returning(m.jobs)
    )
    async with rt.engine.begin() as conn:
        return list((await conn.execute(stmt)).all())


async def _finish(rt: Runtime, job: Row[Any], error: BaseException | None) -> None:
    async with rt.engine.begin() as conn:
        if error is None:
            gone = await conn.execute(delete(m.jobs).where(jb.id == job.id, jb.run_at == job.run_at))
            if gone.rowcount == 0:  # re-scheduled while running: run again
                await conn.execute(
                    update(m.jobs).where(jb.id == job.id).values(locked_until=None, attempts=0)
                )
            return
        if job.attempts >= MAX_ATTEMPTS:
            log.error("job %s/%s failed %d times; dropped: %s", job.kind, job.key, job.attempts, error)
            await conn.execute(delete(m.jobs).where(jb.id == job.id))
            return
        backoff = timedelta(seconds=2**job.attempts)
        await conn.execute(
            update(m.jobs).where(jb.id == job.id).values(locked_until=None, run_at=m.utcnow() + backoff)
        )


async def run_job(rt: Runtime, handlers: Mapping[str, Handler], job: Row[Any]) -> None:
    handler = handlers.get(job.kind)
    if handler is None:
        log.error("no handler for job kind %r; dropped", job.kind)
        await _finish(rt, job, None)
        return
    try:
        await handler(rt, job)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("job %s/%s failed", job.kind, job.key)
        await _finish(rt, job, exc)
        return
    await _finish(rt, job, None)
    rt.wake("jobs")


async def _seconds_to_next(rt: Runtime) -> float:
    async with rt.engine.connect() as conn:
        nxt = (await conn.execute(select(func.min(jb.run_at)))).scalar()
    if nxt is None:
        return POLL_SECONDS
    if isinstance(nxt, str):
        return 0.05
    wait = (m.UTCDateTime().process_result_value(nxt, rt.engine.dialect) - m.utcnow()).total_seconds()  # type: ignore[operator]
    return max(0.01, min(POLL_SECONDS, wait))


def jobs_worker(handlers: Mapping[str, Handler]) -> Worker:
    """The worker that runs due jobs with `handlers` (job kind -> handler)."""

    async def work(rt: Runtime) -> None:
        await _run_jobs(rt, dict(handlers))

    return work


async def _run_jobs(rt: Runtime, handlers: Mapping[str, Handler]) -> None:
    wake = rt.wakeup("jobs")
    running: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(8)
    while True:
        wake.clear()
        jobs = await claim(rt)
        for job in jobs:
            await slots.acquire()
            task = asyncio.create_task(run_job(rt, handlers, job))
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _t: slots.release())
        if jobs:
            continue
        await wait_event(wake, await _seconds_to_next(rt))
