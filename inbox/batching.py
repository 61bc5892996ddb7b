"""Groups concurrent webhook deliveries into one transaction.

Owns the write side of the webhook hot path. Requests hand their parsed events to a queue and wait;
the batcher takes everything waiting (up to a bound) and stores it together (`inbox.actions.ingest.store`):
one commit, one sequence allocation, one fsync for the whole burst. If a batch fails for a reason
other than storage being down, its items are retried one by one so a single bad delivery cannot fail
others.
Items are written in one global order (tenant, customer, channel), so parallel batches take row
locks in the same order and cannot deadlock each other; a deadlock or serialization failure with
some other writer runs the batch again rather than answering 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from channels.base import ChannelConfig, InboundEvent
from inbox.actions.ingest import store
from inbox.db import StorageUnavailable, is_connection_error, sqlstate
from inbox.events import EventRecord
from inbox.metrics import collecting, provider_ids, stored_any

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

Item = tuple[ChannelConfig, Sequence[InboundEvent], "asyncio.Future[bool]"]

# PostgreSQL's deadlock_detected and serialization_failure: nothing was written, run it again.
_CONFLICTS = ("40P01", "40001")
CONFLICT_RETRIES = 3
# A batch committing longer than this is stuck (see `IngestBatcher._standby`); a normal one takes a
# few milliseconds.
STANDBY_SECONDS = 0.02


def _is_conflict(exc: BaseException) -> bool:
    return sqlstate(exc) in _CONFLICTS


def _lock_order(item: Item) -> tuple[int, str, int]:
    """Contacts, identities and conversations are locked in this order by every batch."""
    channel, events, _ = item
    who = next((c.external_id for c in (getattr(ev, "contact", None) for ev in events) if c is not None), "")
    return channel.tenant_id, who, channel.id


class IngestBatcher:
    """`parallel`: how many batches may commit at once (one for SQLite, which has one writer)."""

    def __init__(self, runtime: Runtime, *, parallel: int, max_batch: int = 200) -> None:
        self._runtime = runtime
        self._parallel = parallel
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._helpers: set[asyncio.Task[None]] = set()
        self._active_at = float("-inf")  # loop time a batch last started or ended
        self._in_flight = 0

    def busy(self, within: float) -> bool:
        """Whether webhooks are being stored now or were within `within` seconds: background work
        that can wait (the drain of due automation runs) gives way to them."""
        loop_time = asyncio.get_running_loop().time()
        return self._in_flight > 0 or loop_time - self._active_at < within

    async def submit(self, channel: ChannelConfig, events: Sequence[InboundEvent]) -> bool:
        """Returns once the events are committed: whether anything new came of them (False for a
        repeated delivery; always True with metrics off, which is all it is for). Raises
        StorageUnavailable if they were not committed."""
        if self._task is None:
            self.start()
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((channel, events, fut))
        return await fut

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ingest-batcher")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._helpers) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._batch()

    async def _batch(self) -> None:
        """Takes what waits and commits it. Meanwhile the next batch fills, and starts when this one
        is done: batches are as large as the traffic makes them, one at a time (measured on
        PostgreSQL, where a batch is one statement: fewer, larger batches gave 10-25% more
        webhooks/s than two writers taking turns)."""
        batch = [await self._queue.get()]
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        loop = asyncio.get_running_loop()
        standby = loop.call_later(STANDBY_SECONDS, self._standby)
        self._in_flight += 1
        self._active_at = loop.time()
        try:
            await self._commit(batch)
        finally:
            standby.cancel()
            self._in_flight -= 1
            self._active_at = loop.time()

    def _standby(self) -> None:
        """A batch is taking longer than STANDBY_SECONDS (waiting on a lock held elsewhere): the next
        one starts beside it, up to `parallel` at once, so that it holds up no one else."""
        if len(self._helpers) + 1 < self._parallel:
            task = asyncio.create_task(self._batch(), name="ingest-batch")
            self._helpers.add(task)
            task.add_done_callback(self._helpers.discard)

    async def _commit(self, batch: list[Item], attempt: int = 0) -> None:
        live = sorted((item for item in batch if not item[2].done()), key=_lock_order)  # done: hung up
        if not live:
            return
        # The events this batch publishes, to tell its new deliveries from its repeated ones (by the
        # provider ids they name) without asking the ingest code; a delivery whose ids two channels
        # share within one batch may count as new: it is a metric, not a decision.
        published: list[EventRecord] | None = [] if self._runtime.metrics.enabled else None
        token = collecting.set(published)
        try:
            await store(self._runtime, [(channel, events) for channel, events, _ in live])
        except asyncio.CancelledError:
            for *_, fut in live:
                if not fut.done():
                    fut.set_exception(StorageUnavailable("shutting down"))
            raise
        except Exception as exc:
            if _is_conflict(exc) and attempt < CONFLICT_RETRIES:
                await self._commit(live, attempt + 1)
                return
            if is_connection_error(exc) or len(live) == 1:
                if not is_connection_error(exc):
                    log.exception("ingest failed")
                err = StorageUnavailable(str(exc)) if is_connection_error(exc) else exc
                for *_, fut in live:
                    if not fut.done():
                        fut.set_exception(err)
                return
            for item in live:
                await self._commit([item])
            return
        finally:
            collecting.reset(token)
        new = provider_ids(published) if published is not None else None
        for _, events, fut in live:
            if not fut.done():
                fut.set_result(new is None or stored_any(events, new))
