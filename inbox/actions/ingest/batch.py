"""Storing a batch of webhook deliveries: the entry point the ingest batcher calls.

Owns which path each delivery takes: customer messages take the set-based path (one statement on
PostgreSQL, postgresql.py; SQLite's raw connection in one thread hop, embedded.py; the portable
statements elsewhere, sqlite.py), everything else the per-delivery path (single.py). What the one
statement leaves over because a concurrent transaction won a race runs again, then through the
per-delivery path. Safe to run again after a failure: everything is keyed on the provider's ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from channels.base import ChannelConfig, MessageReceived
from inbox import models as m
from inbox.actions.ingest import embedded, plan, postgresql, single, sqlite
from inbox.actions.ingest.plan import Item
from inbox.signals import routing_changed
from inbox.workers import search_index

if TYPE_CHECKING:
    from inbox.runtime import Runtime

# How often the one-statement path runs again what lost a race before the slow path takes it.
LEFTOVER_ROUNDS = 2


async def store(runtime: Runtime, items: Sequence[Item]) -> None:
    """Store what every delivery in `items` says; returns once all of it is committed and published.
    Safe to run again after a failure: everything is keyed on the provider's ids."""
    todo, rest = plan.split(items)
    if runtime.engine.dialect.name == "sqlite":
        await _messages_sqlite(runtime, todo)
    else:
        await _messages_pg(runtime, todo)
    if rest:
        async with runtime.uow() as uow:
            for ch, evs in rest:
                await single.ingest(uow, ch, evs)


async def _messages_sqlite(runtime: Runtime, todo: list[tuple[ChannelConfig, MessageReceived]]) -> None:
    """The whole batch in one hop to aiosqlite's thread, committed there (embedded.py)."""
    if not todo:
        return
    assert runtime.sqlite_writer is not None
    out = await runtime.sqlite_writer.run(embedded.ingest, todo, m.utcnow())
    if out is None:  # not aiosqlite over sqlite3: the portable statements
        async with runtime.uow() as uow:
            await sqlite.ingest_batch(uow, [(ch, [ev]) for ch, ev in todo])
        return
    if out.records:
        await runtime.publish(out.records)
        runtime.wake(search_index.WAKE)  # the full-text index is fed after commit, in batches
    if out.queued:
        routing_changed(runtime, *out.queued)
    if out.bot:
        runtime.wake("jobs")


async def _messages_pg(runtime: Runtime, todo: list[tuple[ChannelConfig, MessageReceived]]) -> None:
    """The one-statement path; what a concurrent transaction won a race for is run again (then it
    finds the winner's rows), and after `LEFTOVER_ROUNDS` by the slow path, which waits its turn."""
    for _ in range(LEFTOVER_ROUNDS):
        if not todo:
            return
        async with runtime.autocommit.connect() as conn:
            out = await postgresql.ingest(conn, todo, m.utcnow())
        if out.records:
            await runtime.publish(out.records)
        if out.queued:  # in a tenant whose conversation opened or woke in this batch
            moved = {r.tenant_id for r in out.records if r.type.startswith("conversation.")}
            routing_changed(runtime, *moved)
        if out.bot:
            runtime.wake("jobs")
        todo = [todo[n] for n in out.leftover]
    for ch, ev in todo:
        async with runtime.uow() as uow:
            await single.ingest(uow, ch, [ev])
