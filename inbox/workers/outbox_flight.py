"""The outbox rows one process has in flight: one lease renewal for all of them, and a recorder that
writes their outcomes a batch at a time.

Owns the bookkeeping between a claim and the commit of a row's outcome. A row stays in flight (its
lease renewed, a sending slot taken) until its outcome is committed or given up on; given up, the
renewals stop and the lease lapses, so another attempt follows (at-least-once toward providers).
Must not decide outcomes (inbox/workers/outbox.py) nor what they do (inbox.actions.sending).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from inbox import models as m
from inbox.actions import sending
from inbox.actions.sending import Outcome
from inbox.db import is_connection_error
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
ob = m.outbox.c

FINISH_TRIES = 5  # recording outcomes: tries before leaving the rows to their leases
LINGER_SECONDS = 0.003  # a recorder waits this long for more sends to finish before it writes


async def write(rt: Runtime, what: str, fn: Callable[[Any], Awaitable[None]]) -> bool:
    """Run `fn(uow)` in a unit of work, again on a lost race (IntegrityError) or while storage is
    down. False if it never committed: the rows' leases then lapse and their sends are repeated."""
    for attempt in range(FINISH_TRIES):
        try:
            async with rt.uow() as uow:
                await fn(uow)
            return True
        except IntegrityError:
            # A concurrent echo took a provider id first; it is committed now, so merge on retry.
            continue
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning("outbox: %s failed (%s); retrying", what, exc)
            await asyncio.sleep(0.2 * 2**attempt)
    log.error("outbox: %s did not commit after %d tries", what, FINISH_TRIES)
    return False


async def record(rt: Runtime, outcomes: list[Outcome]) -> None:
    """Commit `outcomes` in one transaction; should that fail, each alone, so that one row's trouble
    (an adapter's odd answer, a constraint) costs the others nothing."""
    if await _record(rt, outcomes) or len(outcomes) == 1:
        return
    for outcome in outcomes:
        await _record(rt, [outcome])


async def _record(rt: Runtime, outcomes: list[Outcome]) -> bool:
    what = (
        f"recording row {outcomes[0].outbox_id} ({outcomes[0].kind})"
        if len(outcomes) == 1
        else f"recording {len(outcomes)} outcomes"
    )
    try:
        return await write(rt, what, lambda uow: sending.record(uow, outcomes))
    except Exception:
        log.exception("outbox: %s failed", what)
        return False


class InFlight:
    """Rows claimed and not yet settled. `add` on claim; `finish` with an outcome (recorded in a
    batch with others); `forget` without one (the lease lapses). `close` waits for the recorder to
    write what it holds, then stops the renewals."""

    def __init__(self, rt: Runtime, on_settled: Callable[[], None]) -> None:
        self._rt = rt
        self._on_settled = on_settled
        self._ids: set[int] = set()
        self._outcomes: list[Outcome] = []
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._renew(), name="outbox:leases"),
            asyncio.create_task(self._recorder(), name="outbox:recorder"),
        ]

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, outbox_id: int) -> None:
        self._ids.add(outbox_id)

    def finish(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)
        self._ready.set()

    def forget(self, outbox_id: int) -> None:
        self._ids.discard(outbox_id)
        self._on_settled()

    async def close(self) -> None:
        self._closing.set()
        self._ready.set()
        # `wait`, not `gather`: a second cancellation of the caller must not cut a write in half.
        await asyncio.wait(self._tasks)

    async def _recorder(self) -> None:
        """One write at a time, of everything that finished meanwhile (and within a few ms)."""
        while True:
            await self._ready.wait()
            if not self._closing.is_set():
                await asyncio.sleep(LINGER_SECONDS)
            self._ready.clear()
            batch, self._outcomes = self._outcomes, []
            if batch:
                await record(self._rt, batch)
                for outcome in batch:
                    self._ids.discard(outcome.outbox_id)
                self._on_settled()
            if self._closing.is_set() and not self._outcomes:
                return

    async def _renew(self) -> None:
        """Renew the leases of every row in flight (a slow provider, several Graph calls), so that no
        other process takes them; if this process dies the renewals stop and the leases lapse. One
        statement for all rows. Stopped between renewals, never cancelled in the middle of one (a
        database call cut off by a cancellation can leave its connection, and SQLite's write lock,
        behind). A row settled meanwhile is skipped: deleted, or released (`locked_until` NULL)."""
        rt = self._rt
        lease = timedelta(seconds=rt.settings.send_lease_seconds)
        period = max(0.05, rt.settings.send_lease_seconds / 3)
        while not await wait_event(self._closing, period):
            ids = sorted(self._ids)
            if not ids:
                continue
            try:
                async with rt.engine.begin() as conn:
                    await conn.execute(
                        update(m.outbox)
                        .where(ob.id.in_(ids), ob.locked_until.is_not(None))
                        .values(locked_until=m.utcnow() + lease)
                    )
            except Exception as exc:
                log.warning("outbox: renewing the leases of %d rows failed: %s", len(ids), exc)
