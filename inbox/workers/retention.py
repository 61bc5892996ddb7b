"""Event log retention: each tenant keeps its last `settings.event_retention` events for replay, and
every event an enabled outgoing webhook subscription has not dealt with yet (inbox/workers/hooks.py
reads the log from its cursor; a failing subscription is disabled after a day, which bounds this).

Owns pruning; a `since` older than what is kept answers `resync` (inbox/realtime/hub.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from inbox import models as m
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
ev, ws = m.events.c, m.webhook_subscriptions.c
PRUNE_EVERY_SECONDS = 300.0


async def prune(rt: Runtime) -> int:
    """Delete each tenant's events older than its last `event_retention`; returns how many."""
    keep = rt.settings.event_retention
    # The oldest cursor of each tenant's enabled subscriptions: events after it are still to deliver.
    needed = (
        select(func.min(ws.cursor))
        .where(ws.tenant_id == m.tenants.c.id, ws.enabled.is_(True))
        .scalar_subquery()
    )
    async with rt.engine.connect() as conn:
        tenants = (await conn.execute(select(m.tenants.c.id, m.tenants.c.last_seq, needed))).all()
    deleted = 0
    for tenant_id, last_seq, cursor in tenants:
        cut = int(last_seq) - keep
        if cursor is not None:
            cut = min(cut, int(cursor))
        if cut <= 0:
            continue
        # One short transaction per tenant: SQLite has one writer, and webhooks are waiting.
        async with rt.engine.begin() as conn:
            result = await conn.execute(delete(m.events).where(ev.tenant_id == tenant_id, ev.seq <= cut))
            deleted += max(result.rowcount or 0, 0)
    return deleted


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
