"""Raw sqlite3 on aiosqlite's thread: the calls that cost the most per row on SQLite.

Owns running a call on a pooled connection's own thread (one hop for many statements), the storage
form of values as SQLAlchemy's types store them on SQLite (so rows written here read back the same
everywhere), and the event log append with its ordering rule (see inbox/uow.py). No business rules.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from inbox.events import SUPERVISORS_ONLY, Event, EventRecord, frame_tail, join_frame

T = TypeVar("T")

_TAKE_SEQ = "UPDATE tenants SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq"
_INSERT_EVENT = """
    INSERT INTO events (tenant_id, seq, type, conversation_id, assignee_id, prev_assignee_id, queue_id,
                        frame, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def stored_time(value: datetime | None) -> str | None:
    """A datetime as `UTCDateTime` stores it on SQLite: naive UTC, ISO text with microseconds."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


async def on_thread(conn: AsyncConnection, fn: Callable[..., T], *args: Any) -> T | None:
    """`fn(sqlite3_connection, *args)` queued on aiosqlite's thread for `conn`: one hop however many
    statements `fn` runs. `_execute` is aiosqlite's (private) way to queue a call there. None when
    the driver is not aiosqlite over sqlite3 (the caller then takes its portable path)."""
    aio: Any = (await conn.get_raw_connection()).driver_connection
    run = getattr(aio, "_execute", None)
    raw = getattr(aio, "_connection", None)
    if run is None or not isinstance(raw, sqlite3.Connection):
        return None
    return cast(T, await run(fn, raw, *args))


def raw_of(aio: Any) -> sqlite3.Connection | None:
    """The sqlite3 connection inside an aiosqlite one, if that is what it is."""
    raw = getattr(aio, "_connection", None)
    return raw if isinstance(raw, sqlite3.Connection) else None


def append_events(
    raw: sqlite3.Connection, events: Sequence[tuple[int, Event]], at: str | None
) -> list[EventRecord]:
    """Sequence numbers for `events` ((tenant, event) in order) and their log rows, in the caller's
    transaction. Tenants in id order, so two transactions touching the same tenants cannot deadlock;
    the sequence row stays locked until commit, so a tenant's commits happen in sequence order."""
    by_tenant: dict[int, list[Event]] = {}
    for tenant_id, ev in events:
        by_tenant.setdefault(tenant_id, []).append(ev)
    records: list[EventRecord] = []
    for tenant_id in sorted(by_tenant):
        evs = by_tenant[tenant_id]
        (last,) = raw.execute(_TAKE_SEQ, (len(evs), tenant_id)).fetchone()
        first = last - len(evs) + 1
        records.extend(
            EventRecord(
                tenant_id=tenant_id,
                seq=first + i,
                type=ev.type,
                conversation_id=ev.conversation_id,
                assignee_id=ev.assignee_id,
                prev_assignee_id=ev.prev_assignee_id,
                queue_id=SUPERVISORS_ONLY if ev.supervisors_only else ev.queue_id,
                frame=join_frame(first + i, frame_tail(ev)),
            )
            for i, ev in enumerate(evs)
        )
    when = at or stored_time(datetime.now(UTC))
    raw.executemany(
        _INSERT_EVENT,
        [
            (
                r.tenant_id,
                r.seq,
                r.type,
                r.conversation_id,
                r.assignee_id,
                r.prev_assignee_id,
                r.queue_id,
                r.frame,
                when,
            )
            for r in records
        ],
    )
    return records
