"""The unit of work: one transaction, the events it produced, side effects after commit.

Owns the ordering rule of the event log. Sequences are taken with
`UPDATE tenants SET last_seq = last_seq + n ... RETURNING` as the last statement before COMMIT: the
row lock is held until commit, so two transactions of one tenant commit in sequence order and an
event with a smaller sequence can never become visible after a larger one. Events are published
only after the commit succeeds and are dropped on rollback (Zulip's send_event_on_commit).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

from inbox import models as m
from inbox.events import SUPERVISORS_ONLY, Event, EventRecord, frame_tail, join_frame
from inbox.sqlite_raw import append_events

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

# PostgreSQL: the sequence and the log append in one statement (one round trip less per transaction).
# The frame is `join_frame(seq, tail)`, spelled in SQL.
_append_pg = text(
    """
    WITH s AS (
        UPDATE tenants SET last_seq = last_seq + :n WHERE id = :tid RETURNING last_seq - :n AS base
    ), ins AS (
        INSERT INTO events (
            tenant_id, seq, type, conversation_id, assignee_id, prev_assignee_id, queue_id, frame, created_at
        )
        SELECT :tid, s.base + e.n, e.type, e.conv, e.assignee, e.prev, e.queue,
               '{"seq":' || (s.base + e.n) || ',' || substr(e.tail, 2), :now
        FROM s, json_to_recordset(CAST(:events AS JSON))
            AS e(n BIGINT, type TEXT, conv BIGINT, assignee BIGINT, prev BIGINT, queue BIGINT, tail TEXT)
        RETURNING 1
    )
    SELECT s.base, (SELECT count(*) FROM ins) AS appended FROM s
    """
)
T = TypeVar("T")

# One guest engine per aiosqlite connection (each has its own thread and sqlite3 connection).
_GUESTS: weakref.WeakKeyDictionary[Any, Engine] = weakref.WeakKeyDictionary()


def _guest_engine(aio: Any, raw: sqlite3.Connection) -> Engine:
    """A synchronous engine over a connection that is already inside someone else's transaction:
    its commit and rollback do nothing (the unit of work commits), and nothing is reset on return."""
    eng = _GUESTS.get(aio)
    if eng is None:
        eng = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool, pool_reset_on_return=None)
        eng.dialect.do_commit = lambda dbapi_connection: None  # type: ignore[method-assign]
        eng.dialect.do_rollback = lambda dbapi_connection: None  # type: ignore[method-assign]
        _GUESTS[aio] = eng
    return eng


class UnitOfWork:
    """`async with runtime.uow() as uow:` gives `uow.conn` inside a transaction.

    `uow.emit(tenant_id, event)` collects realtime events; `uow.after_commit(fn)` runs fn after a
    successful commit (wake the outbox, poke routing). Nothing is published on rollback.
    """

    def __init__(self, runtime: Runtime, engine: AsyncEngine) -> None:
        self.runtime = runtime
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._events: list[tuple[int, Event]] = []
        self._after: list[Callable[[], Awaitable[None] | None]] = []
        self.records: list[EventRecord] = []

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None, "unit of work not entered"
        return self._conn

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def emit(self, tenant_id: int, event: Event) -> None:
        self._events.append((tenant_id, event))

    def after_commit(self, fn: Callable[[], Awaitable[None] | None]) -> None:
        self._after.append(fn)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(sync_connection, *args)` on this transaction, for code that runs many statements.

        On SQLite it runs inside aiosqlite's worker thread, on the unit of work's own sqlite3
        connection: one thread hop in all. Through the async engine every statement costs several
        hops (cursor, execute, fetch, close), about 200-250 us each on a 2-core machine against 10 us
        for the same statement run synchronously (PERFORMANCE.md); `AsyncConnection.run_sync` does
        not help there, as inside it each statement still awaits the thread. `_execute` is
        aiosqlite's (private) way to queue a call on that thread. Elsewhere: `AsyncConnection.run_sync`.
        """
        conn = self.conn
        if self.dialect == "sqlite":
            aio: Any = (await conn.get_raw_connection()).driver_connection
            run = getattr(aio, "_execute", None)
            raw = getattr(aio, "_connection", None)
            if run is not None and isinstance(raw, sqlite3.Connection):

                def call() -> T:
                    with _guest_engine(aio, raw).connect() as sync_conn:
                        return fn(sync_conn, *args)

                return cast(T, await run(call))
        return await conn.run_sync(fn, *args)

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self._engine.connect()
        try:
            await self._conn.begin()
        except BaseException:
            await self._conn.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self.conn
        try:
            if exc_type is not None:
                await conn.rollback()
                return
            if self._events:
                self.records = await self.run_sync(self._append_events)
            await conn.commit()
        finally:
            await conn.close()
            self._conn = None
        await self._publish()

    def _append_events(self, conn: Connection) -> list[EventRecord]:
        if self.dialect != "postgresql":
            # SQLite: the same append as the webhook batch's (inbox/sqlite_raw.py), on run_sync's
            # sqlite3 connection, and the commit in the same hop: the database's write lock is not
            # held across another turn of the event loop (the commit after this finds nothing to do).
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection), "run_sync runs on the sqlite3 connection"
            records = append_events(raw, self._events, None)
            raw.commit()
            return records
        by_tenant: dict[int, list[Event]] = {}
        for tenant_id, ev in self._events:
            by_tenant.setdefault(tenant_id, []).append(ev)
        return self._append_events_pg(conn, by_tenant)

    def _append_events_pg(self, conn: Connection, by_tenant: dict[int, list[Event]]) -> list[EventRecord]:
        records: list[EventRecord] = []
        now = m.utcnow().replace(tzinfo=None)
        for tenant_id in sorted(by_tenant):
            evs = by_tenant[tenant_id]
            queues = [SUPERVISORS_ONLY if ev.supervisors_only else ev.queue_id for ev in evs]
            tails = [frame_tail(ev) for ev in evs]
            rows = [
                {
                    "n": i,
                    "type": ev.type,
                    "conv": ev.conversation_id,
                    "assignee": ev.assignee_id,
                    "prev": ev.prev_assignee_id,
                    "queue": queue_id,
                    "tail": tail,
                }
                for i, (ev, queue_id, tail) in enumerate(zip(evs, queues, tails, strict=True), start=1)
            ]
            params = {
                "tid": tenant_id,
                "n": len(evs),
                "now": now,
                "events": json.dumps(rows, separators=(",", ":")),
            }
            base, appended = conn.execute(_append_pg, params).one()
            if appended != len(evs):
                raise RuntimeError(f"tenant {tenant_id}: {appended} of {len(evs)} events appended")
            records.extend(
                EventRecord(
                    tenant_id=tenant_id,
                    seq=base + i,
                    type=ev.type,
                    conversation_id=ev.conversation_id,
                    assignee_id=ev.assignee_id,
                    prev_assignee_id=ev.prev_assignee_id,
                    queue_id=queue_id,
                    frame=join_frame(base + i, tail),
                )
                for i, (ev, queue_id, tail) in enumerate(zip(evs, queues, tails, strict=True), start=1)
            )
        return records

    async def _publish(self) -> None:
        if self.records:
            await self.runtime.publish(self.records)
        for fn in self._after:
            try:
                result = fn()
                if result is not None:
                    await result
            except Exception:
                log.exception("after-commit hook failed")
