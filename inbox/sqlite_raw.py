"""Raw sqlite3 on aiosqlite's thread: the calls that cost the most per row on SQLite.

Owns running a call on a pooled connection's own thread (one hop for many statements), the storage
form of values as SQLAlchemy's types store them on SQLite (so rows written here read back the same
everywhere), and the event log append with its ordering rule (see inbox/uow.py). No business rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast, overload

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inbox.db import is_connection_error
from inbox.events import SUPERVISORS_ONLY, Event, EventRecord, frame_tail, join_frame

T = TypeVar("T")

_TAKE_SEQ = "UPDATE tenants SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq"
_INSERT_EVENT = """
    INSERT INTO events (tenant_id, seq, type, conversation_id, assignee_id, prev_assignee_id, queue_id,
                        frame, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@overload
def stored_time(value: datetime) -> str: ...
@overload
def stored_time(value: datetime | None) -> str | None: ...
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


# WAL frames past which the writer itself checkpoints, between batches (see `Writer.checkpoint`).
WAL_RESET_FRAMES = 8000


def _no_autocheckpoint(raw: sqlite3.Connection) -> None:
    raw.execute("PRAGMA wal_autocheckpoint=0")


def _checkpoint(raw: sqlite3.Connection) -> int:
    """A PASSIVE checkpoint (waits for nobody); returns the frames in the WAL."""
    _busy, frames, _done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)


class Writer:
    """One pooled connection kept for the webhook batches (SQLite takes one writer at a time anyway):
    checking a connection out and in again cost about 300 us of CPU a batch (the pool's rollback on
    return is a hop of its own). Dropped after a storage error or a cancellation, so the next batch
    starts on a fresh connection.

    It never checkpoints the WAL on commit (`wal_autocheckpoint=0`): SQLite's automatic checkpoint
    ran inside every ~60th batch's COMMIT, copying pages and syncing the database file while the
    webhooks waited (in-process: 90 against 106-116 us of CPU a webhook, and up to twice the
    throughput, without it). `checkpoint` runs it beside the batches instead."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T | None:
        """`on_thread` on the kept connection; one call at a time."""
        async with self._lock:
            if self._conn is None:
                conn = await self._engine.connect()
                await on_thread(conn, _no_autocheckpoint)
                self._conn = conn
            try:
                return await on_thread(self._conn, fn, *args)
            except BaseException as exc:
                if not isinstance(exc, Exception) or is_connection_error(exc):
                    await self._drop()
                raise

    async def checkpoint(self) -> None:
        """Copy committed WAL pages into the database on another pooled connection, on its own thread,
        beside the batches (PASSIVE: it blocks no writer and no reader). A WAL that the batches keep
        appending to is never wholly copied, so SQLite never starts it over: past WAL_RESET_FRAMES
        the writer checkpoints between two batches, and the next batch starts the WAL over."""
        async with self._engine.connect() as conn:
            frames = await on_thread(conn, _checkpoint)
        if frames is not None and frames > WAL_RESET_FRAMES:
            await self.run(_checkpoint)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await conn.close()


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
