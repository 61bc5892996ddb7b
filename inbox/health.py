"""Channel health (issue 14 items 4 and 6): last accepted webhook, last handshake, signature failures,
last send, send failures in the last hour.

Owns the webhook counters. The webhook route only touches memory (`webhook_event`, `handshake`,
`signature_failure`: a dict update, no query); `flush` writes what changed, at most once per
`FLUSH_SECONDS` per process (inbox/workers/health.py), through inbox/actions/health.py. Send figures are
counted from the messages of recently active conversations (an index range, not a table scan).
`report` merges the stored counters with this process's unflushed ones.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from inbox import models as m
from inbox.serialize import iso

if TYPE_CHECKING:
    from channels.base import ChannelConfig
    from inbox.runtime import Runtime

FLUSH_SECONDS = 5.0
# Send figures look at conversations active within this window (ix_conversations_list).
SEND_WINDOW = timedelta(days=7)
FAILURE_WINDOW = timedelta(hours=1)


@dataclass
class Pending:
    """What one channel's webhooks did since the last flush of this process."""

    tenant_id: int
    last_event_at: datetime | None = None
    last_handshake_at: datetime | None = None
    signature_failures: int = 0
    last_signature_failure_at: datetime | None = None


# One table of unflushed counters per runtime (several apps may share a test process).
_PENDING: weakref.WeakKeyDictionary[Runtime, dict[int, Pending]] = weakref.WeakKeyDictionary()


def _pending(rt: Runtime, channel: ChannelConfig) -> Pending:
    table = _PENDING.setdefault(rt, {})
    entry = table.get(channel.id)
    if entry is None:
        entry = table[channel.id] = Pending(channel.tenant_id)
    return entry


def webhook_event(rt: Runtime, channel: ChannelConfig) -> None:
    _pending(rt, channel).last_event_at = m.utcnow()


def handshake(rt: Runtime, channel: ChannelConfig) -> None:
    _pending(rt, channel).last_handshake_at = m.utcnow()


def signature_failure(rt: Runtime, channel: ChannelConfig) -> None:
    entry = _pending(rt, channel)
    entry.signature_failures += 1
    entry.last_signature_failure_at = m.utcnow()


async def flush(rt: Runtime) -> int:
    """Write this process's unflushed counters; returns how many channels were written. On failure
    they are put back, so nothing counted is lost to a storage blip."""
    from inbox.actions.health import save

    taken = _PENDING.pop(rt, {})
    if not taken:
        return 0
    try:
        async with rt.uow() as uow:
            await save(uow, taken)
    except BaseException:
        table = _PENDING.setdefault(rt, {})
        for channel_id, old in taken.items():
            table[channel_id] = _merge(old, table.get(channel_id))
        raise
    return len(taken)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((x for x in (a, b) if x is not None), default=None)


def _merge(old: Pending, new: Pending | None) -> Pending:
    if new is None:
        return old
    return Pending(
        tenant_id=old.tenant_id,
        last_event_at=_later(old.last_event_at, new.last_event_at),
        last_handshake_at=_later(old.last_handshake_at, new.last_handshake_at),
        signature_failures=old.signature_failures + new.signature_failures,
        last_signature_failure_at=_later(old.last_signature_failure_at, new.last_signature_failure_at),
    )


async def report(rt: Runtime, tenant_id: int) -> list[dict[str, Any]]:
    """Per channel of the tenant: its webhook counters and send figures."""
    c, h, cv, msg = m.channels.c, m.channel_health.c, m.conversations.c, m.messages.c
    now = m.utcnow()
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    c.id,
                    c.name,
                    c.kind,
                    c.provider,
                    c.disabled_at,
                    c.webhook_key,
                    h.last_event_at,
                    h.last_handshake_at,
                    h.signature_failures,
                    h.last_signature_failure_at,
                )
                .select_from(m.channels.outerjoin(m.channel_health, h.channel_id == c.id))
                .where(c.tenant_id == tenant_id)
                .order_by(c.id)
            )
        ).all()
        recent = (
            select(cv.id)
            .where(cv.tenant_id == tenant_id, cv.last_message_at >= now - SEND_WINDOW)
            .scalar_subquery()
        )
        out = and_(msg.conversation_id.in_(recent), msg.direction == "out", msg.sender_type != "contact")
        sends = {
            r.channel_id: r
            for r in await conn.execute(
                select(
                    msg.channel_id,
                    func.max(msg.created_at)
                    .filter(msg.status.in_(("sent", "delivered", "read")))
                    .label("last"),
                    func.count()
                    .filter(msg.status == "failed", msg.created_at >= now - FAILURE_WINDOW)
                    .label("failed"),
                )
                .where(out)
                .group_by(msg.channel_id)
            )
        }
    pending = _PENDING.get(rt, {})
    items = []
    for r in rows:
        stored = Pending(
            tenant_id,
            r.last_event_at,
            r.last_handshake_at,
            r.signature_failures or 0,
            r.last_signature_failure_at,
        )
        merged = _merge(stored, pending.get(r.id))
        send = sends.get(r.id)
        last_send = send.last if send is not None else None
        items.append(
            {
                "channel": {"id": r.id, "name": r.name, "kind": r.kind, "provider": r.provider},
                "disabled": r.disabled_at is not None,
                "webhook_path": f"/webhooks/{r.provider}/{r.webhook_key}",
                "last_event_at": iso(merged.last_event_at),
                "last_handshake_at": iso(merged.last_handshake_at),
                "signature_failures": merged.signature_failures,
                "last_signature_failure_at": iso(merged.last_signature_failure_at),
                "last_send_at": iso(last_send),
                "send_failures_last_hour": int(send.failed) if send is not None else 0,
            }
        )
    return items
