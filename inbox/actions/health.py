"""Saves channel webhook counters (inbox/health.py owns them in memory): one upsert per channel that
changed since the last flush, never one per webhook. Timestamps only move forward and failures add
up, so several processes flushing the same channel agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func

from inbox import models as m
from inbox.db import insert
from inbox.uow import UnitOfWork

if TYPE_CHECKING:
    from inbox.health import Pending


async def save(uow: UnitOfWork, pending: dict[int, Pending]) -> None:
    t = m.channel_health
    stmt = insert(uow.dialect, t)
    ex = stmt.excluded
    # PostgreSQL's greatest() skips NULLs; SQLite's two-argument max() would return NULL.
    latest = func.greatest if uow.dialect == "postgresql" else func.max

    def later(column: str) -> object:
        old, new = t.c[column], ex[column]
        return latest(func.coalesce(new, old), func.coalesce(old, new))

    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.channel_id],
        set_={
            "last_event_at": later("last_event_at"),
            "last_handshake_at": later("last_handshake_at"),
            "signature_failures": t.c.signature_failures + ex.signature_failures,
            "last_signature_failure_at": later("last_signature_failure_at"),
            "updated_at": ex.updated_at,
        },
    )
    now = m.utcnow()
    # Channels in id order: two processes flushing together take row locks in the same order.
    for channel_id in sorted(pending):
        p = pending[channel_id]
        await uow.conn.execute(
            stmt,
            {
                "channel_id": channel_id,
                "tenant_id": p.tenant_id,
                "last_event_at": p.last_event_at,
                "last_handshake_at": p.last_handshake_at,
                "signature_failures": p.signature_failures,
                "last_signature_failure_at": p.last_signature_failure_at,
                "updated_at": now,
            },
        )
