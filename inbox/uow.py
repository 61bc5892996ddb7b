"""The unit of work: one transaction, the events it produced, side effects after commit.

Owns the ordering rule of the event log. Sequences are taken with
`UPDATE tenants SET last_seq = last_seq + n ... RETURNING` as the last statement before COMMIT: the
row lock is held until commit, so two transactions of one tenant commit in sequence order and an
event with a smaller sequence can never become visible after a larger one. Events are published
only after the commit succeeds and are dropped on rollback (Zulip's send_event_on_commit).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inbox import models as m
from inbox.events import SUPERVISORS_ONLY, Event, EventRecord, encode_frame

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

_take_seq = (
    update(m.tenants)
    .where(m.tenants.c.id == bindparam("tid"))
    .values(last_seq=m.tenants.c.last_seq + bindparam("n"))
    .returning(m.tenants.c.last_seq)
)
_insert_events = insert(m.events)


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
                self.records = await self._append_events(conn)
            await conn.commit()
        finally:
            await conn.close()
            self._conn = None
        await self._publish()

    async def _append_events(self, conn: AsyncConnection) -> list[EventRecord]:
        by_tenant: dict[int, list[Event]] = {}
        for tenant_id, ev in self._events:
            by_tenant.setdefault(tenant_id, []).append(ev)
        records: list[EventRecord] = []
        # Tenants in id order, so two transactions touching the same tenants cannot deadlock.
        for tenant_id in sorted(by_tenant):
            evs = by_tenant[tenant_id]
            last = (await conn.execute(_take_seq, {"tid": tenant_id, "n": len(evs)})).scalar_one()
            first = last - len(evs) + 1
            for i, ev in enumerate(evs):
                seq = first + i
                records.append(
                    EventRecord(
                        tenant_id=tenant_id,
                        seq=seq,
                        type=ev.type,
                        conversation_id=ev.conversation_id,
                        assignee_id=ev.assignee_id,
                        prev_assignee_id=ev.prev_assignee_id,
                        queue_id=SUPERVISORS_ONLY if ev.supervisors_only else ev.queue_id,
                        frame=encode_frame(seq, ev),
                    )
                )
        await conn.execute(
            _insert_events,
            [
                {
                    "tenant_id": r.tenant_id,
                    "seq": r.seq,
                    "type": r.type,
                    "conversation_id": r.conversation_id,
                    "assignee_id": r.assignee_id,
                    "prev_assignee_id": r.prev_assignee_id,
                    "queue_id": r.queue_id,
                    "frame": r.frame,
                    "created_at": m.utcnow(),
                }
                for r in records
            ],
        )
        return records

    async def _publish(self) -> None:
        if self.records:
            try:
                await self.runtime.publish(self.records)
            except Exception:  # the log has them; sockets recover through replay
                log.exception("publishing %d events failed", len(self.records))
        for fn in self._after:
            try:
                result = fn()
                if result is not None:
                    await result
            except Exception:
                log.exception("after-commit hook failed")
