"""Groups concurrent webhook deliveries into one transaction.

Owns the write side of the webhook hot path. Requests hand their parsed events to a queue and wait;
a writer takes everything waiting (up to a bound) and stores it together (`ingest_batch.store`): one
commit, one sequence allocation, one fsync for the whole burst. If a batch fails for a reason other than
storage being down, its items are retried one by one so a single bad delivery cannot fail others.
Items are written in one global order (tenant, customer, channel), so parallel writers take row
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
from inbox.actions.ingest_batch import store
from inbox.db import StorageUnavailable, is_connection_error

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

Item = tuple[ChannelConfig, Sequence[InboundEvent], "asyncio.Future[None]"]

# PostgreSQL's deadlock_detected and serialization_failure: nothing was written, run it again.
_CONFLICTS = ("40P01", "40001")
CONFLICT_RETRIES = 3
# How long a writer lets its batch fill while another writer commits (measured with 2 PostgreSQL
# writers and 32 busy connections: 1 ms gave the largest batches and ~15% more webhooks/s than 0;
# 2-3 ms no better). A lone writer never waits.
LINGER_SECONDS = 0.001


def _is_conflict(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONFLICTS


def _lock_order(item: Item) -> tuple[int, str, int]:
    """Contacts, identities and conversations are locked in this order by every batch."""
    channel, events, _ = item
    who = next((c.external_id for c in (getattr(ev, "contact", None) for ev in events) if c is not None), "")
    return channel.tenant_id, who, channel.id


class IngestBatcher:
    def __init__(self, runtime: Runtime, *, writers: int, max_batch: int = 200) -> None:
        self._runtime = runtime
        self._writers = writers
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = 0  # writers committing right now

    async def submit(self, channel: ChannelConfig, events: Sequence[InboundEvent]) -> None:
        """Returns once the events are committed; raises StorageUnavailable if they were not."""
        if not self._tasks:
            self.start()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((channel, events, fut))
        await fut

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name="ingest-writer") for _ in range(self._writers)
            ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            try:
                if self._busy:
                    await self._linger(batch)
            except asyncio.CancelledError:
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_exception(StorageUnavailable("shutting down"))
                raise
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy += 1
            try:
                await self._commit(batch)
            finally:
                self._busy -= 1

    async def _linger(self, batch: list[Item]) -> None:
        """Another writer is committing, so nothing waits on this one: let the batch fill for a
        moment (deliveries whose requests are being read right now) rather than commit a batch of one
        and keep the next arrivals waiting a whole commit. (A plain sleep: no timeout on the queue,
        which on Python 3.11 could swallow a shutdown's cancellation.)"""
        await asyncio.sleep(LINGER_SECONDS)
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _commit(self, batch: list[Item], attempt: int = 0) -> None:
        live = sorted((item for item in batch if not item[2].done()), key=_lock_order)  # done: hung up
        if not live:
            return
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
        for *_, fut in live:
            if not fut.done():
                fut.set_result(None)
