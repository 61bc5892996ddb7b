"""Deferred work (bot turns, snooze wake-ups): a durable `jobs` table and a worker that runs due jobs.

Owns claiming: a job is leased (`locked_until`) so that several processes never run it twice at once
(PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite has a single writer). A job whose `run_at` moved while
it ran (a new customer message for the bot) is run again instead of being deleted, so the last
message is always answered. Handlers are handed in by the composition (inbox/app.py): the bot's
turn from `bot/`, snooze wake-ups from routing, automation runs in a lane of their own (`Lane`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.engine import Connection, Row

from inbox import models as m
from inbox.db import picked
from inbox.waiting import wait_event
from inbox.workers import Worker

if TYPE_CHECKING:
    from inbox.config import Settings
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
jb = m.jobs.c

# A handler that returns True settled its job itself, in its own transaction (`settle`).
Handler = Callable[["Runtime", Row[Any]], Awaitable[bool | None]]
MAX_ATTEMPTS = 5
POLL_SECONDS = 1.0


def _of(kinds: frozenset[str] | None, others: frozenset[str]) -> Any:
    """Jobs of `kinds` (None: of every kind not in `others`)."""
    return jb.kind.in_(sorted(kinds)) if kinds is not None else jb.kind.not_in(sorted(others))


async def claim(
    rt: Runtime, limit: int = 16, kinds: frozenset[str] | None = None, others: frozenset[str] = frozenset()
) -> list[Row[Any]]:
    """Lease up to `limit` due jobs of `kinds` (None: of any kind but `others`)."""
    now = m.utcnow()
    due = and_(jb.run_at <= now, or_(jb.locked_until.is_(None), jb.locked_until < now), _of(kinds, others))
    pick = select(jb.id).where(due).order_by(jb.run_at).limit(limit)
    stmt = (
        update(m.jobs)
        .where(jb.id.in_(picked(pick, rt.engine.dialect.name, m.jobs)), due)
        .values(locked_until=now + timedelta(seconds=rt.settings.job_lease_seconds), attempts=jb.attempts + 1)
        .returning(m.jobs)
    )
    # Run synchronously (on SQLite one hop to aiosqlite's thread): the write lock the UPDATE takes is
    # held across one turn of the event loop, to the commit, not four.
    async with rt.uow() as uow:
        return await uow.run_sync(_all, stmt)


def _all(conn: Connection, stmt: Any) -> list[Row[Any]]:
    return list(conn.execute(stmt).all())


def settle(conn: Connection, job: Row[Any]) -> None:
    """`job` ran: its row goes, in the caller's transaction (run synchronously: `run_sync`); or, if it
    was re-scheduled while it ran (its `run_at` moved), it is released to run again."""
    gone = conn.execute(delete(m.jobs).where(jb.id == job.id, jb.run_at == job.run_at))
    if gone.rowcount == 0:
        conn.execute(update(m.jobs).where(jb.id == job.id).values(locked_until=None, attempts=0))


async def _finish(rt: Runtime, job: Row[Any], error: BaseException | None) -> None:
    async with rt.engine.begin() as conn:
        if error is None:
            await conn.run_sync(settle, job)
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
        settled = await handler(rt, job)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("job %s/%s failed", job.kind, job.key)
        await _finish(rt, job, exc)
        return
    if not settled:
        await _finish(rt, job, None)


async def _seconds_to_next(rt: Runtime, kinds: frozenset[str] | None, others: frozenset[str]) -> float:
    """Until the lane's next job may be claimed: its due time, or its lease's end while it runs."""
    free_at = case((jb.locked_until > jb.run_at, jb.locked_until), else_=jb.run_at)
    async with rt.engine.connect() as conn:
        nxt = (await conn.execute(select(func.min(free_at)).where(_of(kinds, others)))).scalar()
    if nxt is None:
        return POLL_SECONDS
    if isinstance(nxt, str):
        return 0.05
    wait = (m.UTCDateTime().process_result_value(nxt, rt.engine.dialect) - m.utcnow()).total_seconds()  # type: ignore[operator]
    return max(0.01, min(POLL_SECONDS, wait))


@dataclass(frozen=True)
class Lane:
    """Jobs of `kinds` run apart from the others, so that a flood of them (10,000 reminders due at
    once) neither delays the others (a bot turn) nor takes the process from webhooks: at most
    `slots(settings)` at once and, while webhooks are being stored, one at a time for at most `share`
    of the time. A job counts `weight` times the time it took, for what it hands on that costs as
    much again (a decided automation message, sent by the outbox): after a job that took t seconds,
    the next starts t * (weight / share - 1) later."""

    kinds: frozenset[str]
    slots: Callable[[Settings], int]
    share: float = 1.0
    weight: float = 1.0

    @property
    def paced(self) -> bool:
        return self.weight / self.share > 1.0

    def pause(self, took: float) -> float:
        """How long the lane waits after a job that took `took` seconds, while webhooks arrive."""
        return min(max(0.0, took * (self.weight / self.share - 1.0)), PAUSE_MAX)


# Webhooks stored within this long count as ingest going on (a lane with a share gives way to it).
INGEST_RECENT = 0.25
# A paced lane's longest pause: a job held up for seconds (a lock, a stalled database) does not stop
# the lane for ten times as long.
PAUSE_MAX = 5.0


def jobs_worker(handlers: Mapping[str, Handler], lanes: Sequence[Lane] = ()) -> Worker:
    """The worker that runs due jobs with `handlers` (job kind -> handler); the kinds of `lanes`
    run in lanes of their own, the rest 8 at a time."""

    async def work(rt: Runtime) -> None:
        own = frozenset(k for lane in lanes for k in lane.kinds)
        main = Lane(frozenset(), lambda _s: 8)
        wakes = [asyncio.Event() for _ in range(len(lanes) + 1)]
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_relay(rt.wakeup("jobs"), wakes))
            tg.create_task(_run_lane(rt, dict(handlers), main, None, own, wakes[0]))
            for lane, wake in zip(lanes, wakes[1:], strict=True):
                tg.create_task(_run_lane(rt, dict(handlers), lane, lane.kinds, frozenset(), wake))

    return work


async def _relay(wake: asyncio.Event, lanes: list[asyncio.Event]) -> None:
    """`rt.wake("jobs")` wakes every lane."""
    while True:
        await wake.wait()
        wake.clear()
        for ev in lanes:
            ev.set()


async def _run_lane(
    rt: Runtime,
    handlers: Mapping[str, Handler],
    lane: Lane,
    kinds: frozenset[str] | None,
    others: frozenset[str],
    wake: asyncio.Event,
) -> None:
    running: set[asyncio.Task[None]] = set()
    size = max(1, lane.slots(rt.settings))
    slots = asyncio.Semaphore(size)
    loop = asyncio.get_running_loop()
    resume_at = 0.0  # loop time before which a paced lane starts nothing while ingest goes on

    async def run(job: Row[Any]) -> None:
        nonlocal resume_at
        started = loop.time()
        try:
            await run_job(rt, handlers, job)
        finally:
            slots.release()
            wake.set()  # a job run again (re-scheduled while it ran) is due at once: look again
            if lane.paced:
                resume_at = max(resume_at, loop.time() + lane.pause(loop.time() - started))

    def yielding() -> bool:
        return lane.paced and rt.ingestor.busy(INGEST_RECENT)

    while True:
        wake.clear()
        await slots.acquire()
        while yielding() and (running or loop.time() < resume_at):
            if running:
                await asyncio.wait(set(running))
            else:
                await asyncio.sleep(resume_at - loop.time())
        # Claim no more than can start now: a claimed job's lease runs while it waits.
        free = 1 if yielding() else max(1, size - len(running))  # one slot is ours, the running hold theirs
        jobs = await claim(rt, free, kinds, others)
        if not jobs:
            slots.release()
            await wait_event(wake, await _seconds_to_next(rt, kinds, others))
            continue
        for i, job in enumerate(jobs):
            if i > 0:
                await slots.acquire()
            # Left to finish if the lane is stopped: cut off, a job's transaction could hold SQLite's
            # write lock or run against a closed engine; the runtime waits for it before closing.
            task = rt.settle_before_close(asyncio.create_task(run(job)))
            running.add(task)
            task.add_done_callback(running.discard)
