"""The events table as the realtime side reads it: the current sequence, ranges for replay and gap
filling, and retention (a background worker prunes what is past `settings.event_retention`).

Owns reads and pruning only; events are written by inbox/uow.py. Commits are ordered by sequence
(see there), so any read sees a gap-free prefix of a tenant's log: "everything after N" is exact.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.events import EventRecord
from inbox.runtime import worker
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
ev = m.events.c
PRUNE_EVERY_SECONDS = 300.0

_last_seq = select(m.tenants.c.last_seq).where(m.tenants.c.id == bindparam("tid"))
_columns = (ev.seq, ev.type, ev.conversation_id, ev.assignee_id, ev.prev_assignee_id, ev.queue_id, ev.frame)
_after = (
    select(*_columns)
    .where(ev.tenant_id == bindparam("tid"), ev.seq > bindparam("after"))
    .order_by(ev.seq)
    .limit(bindparam("n"))
)
_between = (
    select(*_columns)
    .where(ev.tenant_id == bindparam("tid"), ev.seq > bindparam("after"), ev.seq <= bindparam("upto"))
    .order_by(ev.seq)
    .limit(bindparam("n"))
)


async def current_seq(conn: AsyncConnection, tenant_id: int) -> int:
    """The tenant's last committed sequence (0 for a tenant without events)."""
    return int((await conn.execute(_last_seq, {"tid": tenant_id})).scalar_one_or_none() or 0)


async def records_after(
    conn: AsyncConnection, tenant_id: int, after: int, *, upto: int | None = None, limit: int = 500
) -> list[EventRecord]:
    """Up to `limit` committed records with `after < seq (<= upto)`, in order."""
    if upto is None:
        result = await conn.execute(_after, {"tid": tenant_id, "after": after, "n": limit})
    else:
        result = await conn.execute(_between, {"tid": tenant_id, "after": after, "upto": upto, "n": limit})
    return [
        EventRecord(
            tenant_id,
            r.seq,
            r.type,
            r.conversation_id,
            r.assignee_id,
            r.prev_assignee_id,
            r.queue_id,
            r.frame,
        )
        for r in result
    ]


async def prune(rt: Runtime) -> int:
    """Delete each tenant's events older than its last `event_retention`; returns how many."""
    keep = rt.settings.event_retention
    async with rt.engine.connect() as conn:
        tenants = (await conn.execute(select(m.tenants.c.id, m.tenants.c.last_seq))).all()
    deleted = 0
    for tenant_id, last_seq in tenants:
        cut = int(last_seq) - keep
        if cut <= 0:
            continue
        # One short transaction per tenant: SQLite has one writer, and webhooks are waiting.
        async with rt.engine.begin() as conn:
            result = await conn.execute(delete(m.events).where(ev.tenant_id == tenant_id, ev.seq <= cut))
            deleted += max(result.rowcount or 0, 0)
    return deleted


@worker("events-retention")
async def retention_worker(rt: Runtime) -> None:
    wake = rt.wakeup("events-retention")
    while True:
        try:
            removed = await prune(rt)
            if removed:
                log.info("pruned %d events past retention", removed)
        except Exception:
            log.exception("pruning events failed")
        wake.clear()
        await wait_event(wake, PRUNE_EVERY_SECONDS)
