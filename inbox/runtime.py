"""Everything a running app holds: settings, engine, secrets box, adapters, HTTP client, hub, workers.

Owns lifecycle (start/stop) and the wiring between the pieces. One `Runtime` per app, so tests can
run several apps (tenants, processes) side by side in one interpreter. Which background workers run
is handed in (the composition, inbox/app.py, decides); the runtime imports none of its users.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from channels.base import Adapter
from channels.registry import build_adapters
from inbox.batching import IngestBatcher
from inbox.config import Settings
from inbox.crypto import SecretBox, load_or_create_key
from inbox.db import create_engine
from inbox.directory import Directory
from inbox.events import EventRecord
from inbox.metrics import Metrics, collecting
from inbox.realtime.hub import Hub
from inbox.sqlite_raw import Writer
from inbox.tls import outgoing_client, prepare_outgoing
from inbox.uow import UnitOfWork
from inbox.workers import Worker

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound="asyncio.Future[Any]")
# How long `stop` waits for work a worker left to finish (a batch of outcomes being recorded, a job's
# transaction) before cancelling it: longer than SQLite's busy timeout would only delay a stuck stop.
SETTLE_SECONDS = 30.0


class Runtime:
    """`workers`: the background loops to run when `settings.workers` is on (name -> loop)."""

    def __init__(self, settings: Settings, *, workers: Mapping[str, Worker] | None = None) -> None:
        self.settings = settings
        self.workers: dict[str, Worker] = dict(workers or {})
        self.engine = create_engine(settings.database_url)
        # The same pool, for work done in single statements that are their own transaction (no
        # BEGIN and COMMIT round trips: the webhook batch on PostgreSQL).
        self.autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.box = SecretBox(load_or_create_key(settings.secret_key, settings.data_dir))
        self.adapters: dict[str, Adapter] = build_adapters(settings.provider_env)
        self.directory = Directory(self)
        self._http: httpx.AsyncClient | None = None
        self._wakeups: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._unsettled: set[asyncio.Future[Any]] = set()
        self.hub = Hub(self)
        # SQLite has one writer at a time; on PostgreSQL a stuck batch may have others beside it.
        self.ingestor = IngestBatcher(self, parallel=1 if settings.is_sqlite else 4)
        # SQLite: the connection the webhook batches commit on (inbox/actions/ingest/embedded.py).
        self.sqlite_writer = Writer(self.engine) if settings.is_sqlite else None
        self.metrics = Metrics(sorted(self.adapters), enabled=settings.metrics)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self, self.engine)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = outgoing_client(
                timeout=self.settings.send_timeout_seconds,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._http

    async def publish(self, records: list[EventRecord]) -> None:
        """Committed events to this process's sockets and the other processes. Never raises: the log
        has them, and sockets recover through replay."""
        self.metrics.published(len(records))
        batch = collecting.get()
        if batch is not None:
            batch.extend(records)
        try:
            await self.hub.publish(records)
        except Exception:
            log.exception("publishing %d events failed", len(records))

    def wakeup(self, name: str) -> asyncio.Event:
        ev = self._wakeups.get(name)
        if ev is None:
            ev = self._wakeups[name] = asyncio.Event()
        return ev

    def wake(self, name: str) -> None:
        """Tell an in-process worker there is work now (other processes find it by polling)."""
        self.wakeup(name).set()

    async def start(self) -> None:
        # In a thread, once per process: then no client creation or first call holds the event loop.
        await asyncio.to_thread(prepare_outgoing)
        await self.hub.start()
        self.ingestor.start()
        if self.settings.workers:
            for name, fn in self.workers.items():
                self._tasks.append(asyncio.create_task(self._supervise(name, fn), name=f"worker:{name}"))

    async def _supervise(self, name: str, fn: Worker) -> None:
        """Keep a worker alive: a crash is logged and the loop restarts after a pause."""
        while True:
            try:
                await fn(self)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s crashed; restarting in 1s", name)
                await asyncio.sleep(1)

    def settle_before_close(self, work: F) -> F:
        """Work that must end before the engine closes, even if its worker is cancelled meanwhile
        (recording the outcomes of sends, a job's transaction): `stop` waits for it. Returns it."""
        self._unsettled.add(work)
        work.add_done_callback(self._unsettled.discard)
        return work

    async def stop(self) -> None:
        # Cancelled again until done: a cancellation swallowed inside a worker (a library that
        # catches it, or asyncio.wait_for on Python 3.11) must not hang the shutdown.
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=5.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._tasks.clear()
        if self._unsettled:
            # A cancelled worker's leftovers would otherwise run on, against a closed engine.
            _, late = await asyncio.wait(set(self._unsettled), timeout=SETTLE_SECONDS)
            for work in late:
                log.warning("stopping: %s still running after %.0f s; cancelled", work, SETTLE_SECONDS)
                work.cancel()
            if late:
                await asyncio.wait(late, timeout=5.0)
        await self.ingestor.stop()
        if self.sqlite_writer is not None:
            await self.sqlite_writer.close()
        await self.hub.stop()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self.engine.dispose()


async def one_off(settings: Settings, fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """`fn` with a runtime of its own on a migrated database, workers off (a CLI command)."""
    from inbox.migrate import migrate

    rt = Runtime(settings.but(workers=False))
    try:
        await migrate(rt.engine)
        return await fn(rt)
    finally:
        await rt.stop()
