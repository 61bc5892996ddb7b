"""Routing's writes: one tenant's pass in one unit of work (offline requeue, auto-assignment, SLA flags).

Owns the assignment policy: longest-waiting queued conversation first, to an online agent of its
queue below capacity, least loaded first, ties to the agent idle longest. Safe with several
processes: a tenant's pass is serialized (PostgreSQL advisory transaction lock; on SQLite the write
lock, taken by the pass's first statement) and each assignment is a conditional UPDATE, so nothing is
assigned twice and no pass overfills an agent. Tenant settings: inbox/routing_settings.py. The worker
that decides when to run a pass is inbox/workers/routing.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, text, update

from inbox import models as m
from inbox import routing_settings
from inbox.actions import assignments
from inbox.actions.conversations import OPEN_LOAD, load, system_message
from inbox.actions.events import sla_breached_event, updated_event
from inbox.routing_settings import RoutingSettings
from inbox.texts import Text
from inbox.uow import UnitOfWork

cv, ag, qm = m.conversations.c, m.agents.c, m.queue_members.c

BATCH = 200
# High half of the advisory lock key: "rout". The low half is the tenant id.
_LOCK_CLASS = 0x726F7574
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_waited = func.coalesce(cv.queued_at, cv.created_at)
# The SLA's first-response clock starts when a human could first answer (the bot's handoff), and
# runs until the first human reply or the breach flag. Spelled as ix_conversations_sla_clock's
# expression and predicate (inbox/models.py), so that reads of running clocks are probes there.
SLA_CLOCK = func.coalesce(cv.handed_off_at, cv.created_at)
SLA_RUNNING = text(m.SLA_RUNNING)


@dataclass
class PassResult:
    assigned: list[tuple[int, int]] = field(default_factory=list)  # (conversation, agent)
    requeued: list[int] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)
    announced: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.assigned or self.requeued or self.breached)


@dataclass
class _Candidate:
    id: int
    name: str
    capacity: int
    load: int
    last_assigned_at: datetime | None
    status_changed_at: datetime | None
    queues: frozenset[int]

    def serves(self, queue_id: int | None) -> bool:
        """Queue-less conversations are everyone's; otherwise members only (as in inbox/access.py)."""
        return queue_id is None or queue_id in self.queues

    def order(self) -> tuple[int, datetime, datetime, int]:
        # Least loaded; then idle longest (never assigned counts as longest; then online longest).
        return (self.load, self.last_assigned_at or _EPOCH, self.status_changed_at or _EPOCH, self.id)


async def route(uow: UnitOfWork, tenant_id: int) -> tuple[PassResult, RoutingSettings]:
    """One routing pass for one tenant in `uow`: requeue what offline agents hold (if the tenant says
    so), assign what waits, flag SLA breaches. Returns what it did and the tenant's settings."""
    result = PassResult()
    await _serialize(uow, tenant_id)
    now = m.utcnow()
    settings = await routing_settings.load(uow.conn, tenant_id)
    result.requeued = await _requeue_offline(uow, tenant_id, now, settings)
    if settings.auto_assign:
        result.assigned = await _assign(uow, tenant_id, now, settings)
    if settings.sla_target:
        result.breached = await _flag_breaches(uow, tenant_id, now, settings.sla_target)
    return result, settings


async def _serialize(uow: UnitOfWork, tenant_id: int) -> None:
    if uow.dialect == "postgresql":
        key = (_LOCK_CLASS << 32) | (tenant_id & 0xFFFFFFFF)
        await uow.conn.execute(select(func.pg_advisory_xact_lock(key)))
    else:
        # SQLite begins a transaction at the first write and holds its one write lock until commit.
        await uow.conn.execute(
            update(m.tenants).where(m.tenants.c.id == tenant_id).values(last_seq=m.tenants.c.last_seq)
        )


async def _candidates(uow: UnitOfWork, tenant_id: int, settings: RoutingSettings) -> list[_Candidate]:
    rows = (
        await uow.conn.execute(
            select(ag.id, ag.name, ag.capacity, ag.last_assigned_at, ag.status_changed_at).where(
                ag.tenant_id == tenant_id,
                ag.status == "online",
                ag.disabled_at.is_(None),
                ag.capacity > 0,
                ag.role.in_(settings.assign_roles),
            )
        )
    ).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    loads: dict[Any, int] = dict(
        (
            await uow.conn.execute(
                select(cv.assignee_id, func.count())
                .where(cv.tenant_id == tenant_id, cv.status.in_(OPEN_LOAD), cv.assignee_id.in_(ids))
                .group_by(cv.assignee_id)
            )
        ).all()
    )
    queues: dict[int, set[int]] = {}
    for agent_id, queue_id in await uow.conn.execute(
        select(qm.agent_id, qm.queue_id).where(qm.tenant_id == tenant_id, qm.agent_id.in_(ids))
    ):
        queues.setdefault(agent_id, set()).add(queue_id)
    return [
        _Candidate(
            r.id,
            r.name,
            r.capacity,
            int(loads.get(r.id, 0)),
            r.last_assigned_at,
            r.status_changed_at,
            frozenset(queues.get(r.id, ())),
        )
        for r in rows
    ]


def _claim(uow: UnitOfWork, q: Select[Any]) -> Select[Any]:
    """On PostgreSQL, lock the conversations a pass will change, skipping any another transaction
    holds (a webhook batch, an agent's action): the pass never waits on a row lock, so it can never
    be half of a deadlock; what it skipped is there for the next pass. (NO KEY UPDATE: message
    inserts referencing these rows are not blocked.)"""
    if uow.dialect == "postgresql":
        return q.with_for_update(of=m.conversations, skip_locked=True, key_share=True)
    return q


async def _assign(uow: UnitOfWork, tenant_id: int, now: datetime, settings: RoutingSettings) -> list[Any]:
    free = [c for c in await _candidates(uow, tenant_id, settings) if c.load < c.capacity]
    done: list[tuple[int, int]] = []
    after: tuple[datetime, int] | None = None
    waits: list[float] = []  # for the routing-wait histogram, recorded once committed
    uow.after_commit(lambda: uow.runtime.metrics.routed(waits))
    while free:
        served = sorted(set().union(*(c.queues for c in free)))
        q = select(cv.id, cv.queue_id, _waited.label("waited")).where(
            cv.tenant_id == tenant_id,
            cv.status == "queued",
            cv.assignee_id.is_(None),
            or_(cv.queue_id.is_(None), cv.queue_id.in_(served)) if served else cv.queue_id.is_(None),
        )
        if after is not None:
            q = q.where(or_(_waited > after[0], and_(_waited == after[0], cv.id > after[1])))
        rows = (await uow.conn.execute(_claim(uow, q.order_by(_waited, cv.id).limit(BATCH)))).all()
        for row in rows:
            pick = min((c for c in free if c.serves(row.queue_id)), key=_Candidate.order, default=None)
            if pick is None or not await _assign_one(uow, tenant_id, row.id, pick, now):
                continue
            done.append((row.id, pick.id))
            waits.append((now - row.waited).total_seconds())
            pick.load += 1
            pick.last_assigned_at = now
            if pick.load >= pick.capacity:
                free.remove(pick)
                if not free:
                    break
        if len(rows) < BATCH:
            break
        after = (rows[-1].waited, rows[-1].id)
    # Agent rows last, in id order, once: agents are the rows other transactions lock after a
    # conversation, so taking them last keeps lock order consistent.
    for agent_id in sorted({a for _, a in done}):
        await uow.conn.execute(update(m.agents).where(ag.id == agent_id).values(last_assigned_at=now))
    return done


async def _assign_one(
    uow: UnitOfWork, tenant_id: int, conversation_id: int, a: _Candidate, now: datetime
) -> bool:
    still_online = exists().where(ag.id == a.id, ag.status == "online", ag.disabled_at.is_(None))
    took = (
        await uow.conn.execute(
            update(m.conversations)
            .where(
                cv.id == conversation_id,
                cv.tenant_id == tenant_id,
                cv.status == "queued",
                cv.assignee_id.is_(None),
                still_online,
            )
            .values(status="assigned", assignee_id=a.id, assigned_at=now, held_since=now)
            .returning(cv.id)
        )
    ).first()
    if took is None:
        return False
    conv = await load(uow, tenant_id, conversation_id)
    await assignments.record(uow.conn, conv, "auto", from_agent_id=None, to_agent_id=a.id, at=now)
    await system_message(uow, conv, Text("conversation.assigned_auto", name=a.name))
    uow.emit(tenant_id, updated_event(conv))
    return True


async def _requeue_offline(
    uow: UnitOfWork, tenant_id: int, now: datetime, settings: RoutingSettings
) -> list[int]:
    """Assigned conversations of disabled agents always return to the queue; those of away or offline
    agents only after the tenant's grace period (`requeue_offline_after_seconds`), if it has one."""
    gone: ColumnElement[bool] = ag.disabled_at.is_not(None)
    grace = settings.requeue_offline_after_seconds
    if grace is not None:
        cutoff = now - timedelta(seconds=grace)
        gone = or_(
            gone, and_(ag.status != "online", func.coalesce(ag.status_changed_at, ag.created_at) <= cutoff)
        )
    q = (
        select(
            cv.id,
            cv.assignee_id,
            cv.assigned_at,
            cv.queued_at,
            cv.first_response_at,
            ag.name,
            ag.status,
            ag.disabled_at,
        )
        .join(m.agents, ag.id == cv.assignee_id)
        .where(cv.tenant_id == tenant_id, cv.status == "assigned", gone)
        .order_by(cv.id)
        .limit(BATCH)
    )
    rows = (await uow.conn.execute(_claim(uow, q))).all()
    done = []
    for r in rows:
        # A customer still waiting for a first answer keeps its place in line.
        queued_at = r.queued_at if r.first_response_at is None and r.queued_at is not None else now
        took = (
            await uow.conn.execute(
                update(m.conversations)
                .where(cv.id == r.id, cv.status == "assigned", cv.assignee_id == r.assignee_id)
                .values(
                    status="queued", assignee_id=None, assigned_at=None, queued_at=queued_at, held_since=None
                )
                .returning(cv.id)
            )
        ).first()
        if took is None:
            continue
        why = "inactive" if r.disabled_at is not None or r.status not in ("away", "offline") else r.status
        conv = await load(uow, tenant_id, r.id)
        await assignments.record(
            uow.conn,
            conv,
            "requeue",
            from_agent_id=r.assignee_id,
            to_agent_id=None,
            at=now,
            assigned_at=r.assigned_at,
        )
        await system_message(uow, conv, Text(f"conversation.requeued_{why}", name=r.name))
        uow.emit(tenant_id, updated_event(conv, prev_assignee_id=r.assignee_id))
        done.append(r.id)
    return done


async def _flag_breaches(uow: UnitOfWork, tenant_id: int, now: datetime, target: int) -> list[int]:
    """Unanswered human conversations past the first-response target: flag once (at the moment the
    target passed), tell supervisors (`sla.breached`) and refresh the conversation for everyone."""
    q = (
        select(cv.id, SLA_CLOCK.label("clock"))
        .where(cv.tenant_id == tenant_id, SLA_RUNNING, SLA_CLOCK <= now - timedelta(seconds=target))
        .order_by(cv.id)
        .limit(BATCH)
    )
    rows = (await uow.conn.execute(_claim(uow, q))).all()
    done = []
    for r in rows:
        at = r.clock + timedelta(seconds=target)
        await uow.conn.execute(
            update(m.conversations)
            .where(cv.id == r.id, cv.sla_breached_at.is_(None))
            .values(sla_breached_at=at)
        )
        conv = await load(uow, tenant_id, r.id)
        uow.emit(tenant_id, updated_event(conv))
        uow.emit(tenant_id, sla_breached_event(conv, at, target))
        done.append(r.id)
    return done
