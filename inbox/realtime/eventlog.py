"""The events table as the realtime side reads it: the current sequence, ranges for replay and gap
filling. Retention (pruning what is past `settings.event_retention`) is inbox/workers/retention.py.

Owns reads only; events are written by inbox/uow.py. Commits are ordered by sequence
(see there), so any read sees a gap-free prefix of a tenant's log: "everything after N" is exact.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.events import EventRecord

ev = m.events.c

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
