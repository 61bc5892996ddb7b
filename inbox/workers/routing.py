"""The `routing` worker: when to run a tenant's routing pass, and the live queue figures after it.

Owns the schedule (woken by actions after commit, and polling for other processes' work and for
time-based rules: SLA targets, the offline-requeue grace) and the `queue.updated` announcements to
supervisors, throttled. The pass itself, with its policy and all its writes, is inbox/actions/routing.py.
Also the `snooze` job's handler (a snoozed conversation wakes at its time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import figures, routing_settings
from inbox import models as m
from inbox.actions.conversations import wake_snoozed
from inbox.actions.events import queue_event
from inbox.actions.routing import SLA_CLOCK, SLA_RUNNING, PassResult, route
from inbox.db import distinct_values, is_connection_error
from inbox.events import QueueFiguresData
from inbox.routing_settings import RoutingSettings
from inbox.serialize import iso
from inbox.signals import drain
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
cv, ag, jb, tn = m.conversations.c, m.agents.c, m.jobs.c, m.tenants.c

# Other processes' work (and time-based rules: SLA, requeue grace) is found by polling this often.
POLL_SECONDS = 1.0
LINGER_SECONDS = 0.25


async def route_tenant(rt: Runtime, tenant_id: int, *, throttle: bool = False) -> PassResult:
    """One routing pass for one tenant, in one transaction (`inbox.actions.routing.route`). Then,
    outside that transaction (its lock serializes the tenant's routing), announce changed queue
    figures; with `throttle` (the worker) at most once per ANNOUNCE_SECONDS per tenant, a skipped
    announcement staying pending."""
    async with rt.uow() as uow:
        result, settings = await route(uow, tenant_id)
    result.announced = await _announce(rt, tenant_id, settings, result.changed, throttle=throttle)
    return result


# Supervisor figures are for eyes: once a second is live enough, and computing them reads every agent
# and today's totals. Announcing from every pass made them the largest cost of a webhook burst.
ANNOUNCE_SECONDS = 1.0
# Today's totals (since midnight) read the whole day's conversations and messages of the tenant: 150
# ms of the server's CPU with 20,000 conversations and 63,000 messages today, once a second while
# webhooks arrive (docs/benchmark.md, growth). A day's figures are live enough at this pace; the
# queues and agents stay per announcement, and GET /api/queues always reads everything.
TODAY_SECONDS = 10.0


@dataclass
class _Announcements:
    """Per runtime: what was last announced per tenant, when, and which tenants owe an announcement."""

    marks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    at: dict[int, float] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)
    today: dict[int, tuple[float, dict[str, Any]]] = field(default_factory=dict)  # when, totals

    def due(self) -> set[int]:
        now = time.monotonic()
        return {t for t in self.pending if now - self.at.get(t, -ANNOUNCE_SECONDS) >= ANNOUNCE_SECONDS}


_announcements: WeakKeyDictionary[Runtime, _Announcements] = WeakKeyDictionary()


def _state(rt: Runtime) -> _Announcements:
    state = _announcements.get(rt)
    if state is None:
        state = _announcements[rt] = _Announcements()
    return state


async def _announce(
    rt: Runtime, tenant_id: int, settings: RoutingSettings, changed: bool, *, throttle: bool
) -> bool:
    """Emit `queue.updated` (supervisors only) with the figures of GET /api/queues when they moved."""
    state = _state(rt)
    state.pending.add(tenant_id)
    if throttle and tenant_id not in state.due():
        return False
    now = m.utcnow()
    async with rt.engine.connect() as conn:
        live = await figures.live(conn, tenant_id, now)
        mark = figures.fingerprint(live)
        if not changed and state.marks.get(tenant_id) == mark:
            state.pending.discard(tenant_id)
            return False
        data: QueueFiguresData = {
            "generated_at": iso(now),
            "timezone": settings.timezone,
            "auto_assign": settings.auto_assign,
            "queues": live["queues"],
            "agents": live["agents"],
            "totals": {
                **figures.live_totals(live),
                **await _today(conn, state, tenant_id, now, settings, throttle),
            },
            "sla": await figures.sla(conn, tenant_id, now, settings),
        }
    async with rt.uow() as uow:
        uow.emit(tenant_id, queue_event(data))
    state.marks[tenant_id] = mark
    state.at[tenant_id] = time.monotonic()
    state.pending.discard(tenant_id)
    return True


async def _today(
    conn: AsyncConnection,
    state: _Announcements,
    tenant_id: int,
    now: datetime,
    settings: RoutingSettings,
    throttle: bool,
) -> dict[str, Any]:
    """`figures.today`; with `throttle` (the worker) read again at most once per TODAY_SECONDS."""
    kept = state.today.get(tenant_id)
    if throttle and kept is not None and time.monotonic() - kept[0] < TODAY_SECONDS:
        return kept[1]
    totals = await figures.today(conn, tenant_id, now, settings)
    state.today[tenant_id] = (time.monotonic(), totals)
    return totals


# The poll's reads of the conversations, by index probes: read from the conversations, they grew
# with every open conversation, answered or not (12-22 ms a poll on SQLite with 50,000 answered and
# 10,000 running, without statistics; docs/benchmark.md, growth).
# Who waits: the next tenant above the last in ix_conversations_waiting (inbox.db.distinct_values).
_WAITING = select(distinct_values(cv.tenant_id, cv.status == "queued"))
# The oldest running first-response clock of each tenant: its first entry in ix_conversations_sla_clock.
# Per tenant by equality, which both databases plan on that index without statistics or hints (a
# skip scan of the index itself needed INDEXED BY on SQLite, whose planner preferred
# ix_conversations_waiting and read every open conversation again).
_oldest = select(func.min(SLA_CLOCK)).where(cv.tenant_id == tn.id, SLA_RUNNING).scalar_subquery()
_CLOCKS = select(tn.id, _oldest).where(_oldest.is_not(None))


async def tenants_with_work(rt: Runtime) -> set[int]:
    """Tenants a poll must visit: someone waits, an SLA target has passed, or an assignee is gone for
    longer than the tenant's requeue grace (or disabled). Each tenant's own settings decide the last
    two, so a tenant whose agents went home with open conversations is not visited every second."""
    now = m.utcnow()
    absent = or_(ag.status != "online", ag.disabled_at.is_not(None))
    async with rt.engine.connect() as conn:
        due = set((await conn.execute(_WAITING)).scalars())
        clocks = (await conn.execute(_CLOCKS)).all()
        # From the absent agents (a handful), each probed for an assigned conversation by index
        # (ix_conversations_assignee): from the conversations side this read every assigned
        # conversation of every tenant each second (17-33 ms with 50,000 of them; docs/benchmark.md).
        holds = select(cv.id).where(cv.assignee_id == ag.id, cv.status == "assigned").exists()
        gone = (
            await conn.execute(
                select(
                    ag.tenant_id,
                    func.min(func.coalesce(ag.status_changed_at, ag.created_at)),
                    func.count(ag.disabled_at),
                )
                .where(absent, holds)
                .group_by(ag.tenant_id)
            )
        ).all()
        ids = sorted({t for t, _ in clocks} | {t for t, _, _ in gone})
        stored = await conn.execute(
            select(m.tenants.c.id, m.tenants.c.settings).where(m.tenants.c.id.in_(ids))
        )
        settings = {t: routing_settings.parse((raw or {}).get("routing"), where=str(t)) for t, raw in stored}
    for t, clock in clocks:
        target = settings[t].sla_target if t in settings else None
        if target and figures.aware(clock) + timedelta(seconds=target) <= now:
            due.add(t)
    for t, since, disabled in gone:
        grace = settings[t].requeue_offline_after_seconds if t in settings else None
        if disabled or (grace is not None and figures.aware(since) + timedelta(seconds=grace) <= now):
            due.add(t)
    return due


async def routing_pass(rt: Runtime, *, scan: bool = True) -> dict[int, PassResult]:
    """Route every tenant that was poked in this process, has work in the database (with `scan`), or
    owes its supervisors an announcement that the throttle held back."""
    tenants = drain(rt) | (await tenants_with_work(rt) if scan else set()) | _state(rt).due()
    results = {}
    for tenant_id in sorted(tenants):
        try:
            results[tenant_id] = await route_tenant(rt, tenant_id, throttle=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_connection_error(exc):
                raise  # storage down: the worker waits and polls again
            log.exception("routing tenant %s failed; retrying on the next pass", tenant_id)
    return results


async def routing_worker(rt: Runtime) -> None:
    wake = rt.wakeup("routing")
    scanned = -POLL_SECONDS
    while True:
        wake.clear()
        try:
            # The database-wide scan (work other processes left, SLA clocks, absent assignees) at
            # most once a POLL_SECONDS: what this process changed is named by `routing_changed`.
            # Every LINGER it was a third of a core with 50,000 open conversations on SQLite
            # (docs/benchmark.md, growth).
            scan = time.monotonic() - scanned >= POLL_SECONDS
            if scan:
                scanned = time.monotonic()
            await routing_pass(rt, scan=scan)
            # Coalesce: a burst of webhooks wakes routing once per batch; one pass per LINGER serves
            # them all (a pass takes the tenant's lock and several queries). Assignment stays within
            # a fraction of a second.
            await asyncio.sleep(LINGER_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # storage down: keep polling, it comes back
            if not is_connection_error(exc):
                log.exception("routing pass failed")
            else:
                log.warning("routing: storage unavailable (%s); polling again", str(exc).splitlines()[0])
        await wait_event(wake, POLL_SECONDS)


async def snooze_job(rt: Runtime, job: Row[Any]) -> None:
    """Wake a snoozed conversation at its time; a snooze moved later re-arms the same job."""
    async with rt.uow() as uow:
        later = await wake_snoozed(uow, job.tenant_id, int(job.payload["conversation_id"]))
        if later is not None:
            await uow.conn.execute(update(m.jobs).where(jb.id == job.id).values(run_at=later))
