"""The webhook sender: delivers the tenant's events to each subscribed URL, in order, from the event log.

Why the log and not an outbox row per (subscription, event): the `events` table already is a durable,
gap-free, ordered record of everything that happened (inbox/uow.py), written in the transaction of
the change itself. A subscription only keeps a cursor into it (the last sequence it dealt with), so
the webhook hot path pays nothing, however many subscriptions there are, and nothing is lost across
restarts: what is after the cursor is still to deliver. Retention (inbox/workers/retention.py) keeps
every event an enabled subscription has not passed yet; a subscription disabled for long enough may
find events pruned when it is enabled again, which it counts in `skipped`.

Owns claiming and the calls. A subscription is leased (`locked_until` and a random `lease`; on
PostgreSQL `FOR UPDATE SKIP LOCKED`, so several processes share the work), its next matching events
are POSTed one at a time in sequence order (so in order per conversation, and overall), and each
outcome is recorded by inbox/actions/hooks.py in one transaction that moves the cursor, only while
this process still holds the lease at the cursor it read. So a (subscription, event) is recorded
delivered exactly once on our side; toward the receiver it is at least once (a process dying
between the answer and the commit sends it again after the lease lapses), with a stable
`X-Inbox-Delivery` id for the receiver to drop repeats. Each recorded outcome renews the lease and
one call is bounded by `webhook_timeout_seconds`, well under the lease, so no renewal loop is needed.

A failure stops the subscription where it is (head-of-line blocking, on purpose: the order is the
contract) and retries after the shared backoff (inbox/workers/retry.py, Retry-After a floor); any
non-2xx answer counts as a failure, so a receiver asks for a retry with any error status. Other
subscriptions are not held up. A subscription is served once per poll (`webhook_poll_seconds`), at
once again only after a full batch, so a busy tenant costs a few queries a second. The lease loop
has the outbox's shape (inbox/workers/outbox.py); a shared one is for when the outbox's claim path
settles.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.engine import Row

from inbox import hooks
from inbox import models as m
from inbox.actions import hooks as actions
from inbox.db import is_connection_error, picked
from inbox.realtime.eventlog import current_seq
from inbox.serialize import iso
from inbox.waiting import wait_event
from inbox.workers.retry import backoff

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
ws, ev = m.webhook_subscriptions.c, m.events.c
CONCURRENCY = 8  # subscriptions served at once per process
BATCH = 100  # events read per pass; a subscription with more goes on right after


def lease_for(rt: Runtime) -> timedelta:
    """Longer than a call and its recording: a live holder never loses its lease."""
    return timedelta(seconds=2 * rt.settings.webhook_timeout_seconds + 30)


def _due(now: Any) -> Any:
    free = or_(ws.locked_until.is_(None), ws.locked_until < now)
    return and_(ws.enabled.is_(True), ws.next_attempt_at <= now, free)


# Only subscriptions behind their tenant's log: an idle system polls one cheap query.
_behind = exists().where(m.tenants.c.id == ws.tenant_id, m.tenants.c.last_seq > ws.cursor)


async def claim(rt: Runtime, limit: int) -> tuple[str, list[Row[Any]]]:
    """Lease up to `limit` subscriptions with events to deliver; returns the lease token and them."""
    now = m.utcnow()
    lease = secrets.token_hex(8)
    pick = select(ws.id).where(_due(now), _behind).order_by(ws.next_attempt_at, ws.id).limit(limit)
    stmt = (
        update(m.webhook_subscriptions)
        .where(ws.id.in_(picked(pick, rt.engine.dialect.name, m.webhook_subscriptions)), _due(now))
        .values(locked_until=now + lease_for(rt), lease=lease)
        .returning(m.webhook_subscriptions)
    )
    async with rt.engine.begin() as conn:
        return lease, list((await conn.execute(stmt)).all())


async def _write(rt: Runtime, what: str, fn: Callable[..., Awaitable[bool | None]], *args: Any) -> bool:
    """Run `fn(uow, *args)`; False when it found the lease gone or storage is down (not retried here:
    the lease lapses and the event is tried again, which loses nothing). Anything else raises."""
    try:
        async with rt.uow() as uow:
            return (await fn(uow, *args)) is not False
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        log.warning("webhooks: %s failed: %s", what, exc)
        return False


async def _call(rt: Runtime, url: str, raw: bytes, hdrs: dict[str, str], stopping: asyncio.Event) -> Any:
    """The POST's outcome, or None when shutting down cut it short (whether it arrived is unknown)."""
    call = asyncio.ensure_future(hooks.post(rt.http, url, raw, hdrs, rt.settings.webhook_timeout_seconds))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not call.done():
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        return None
    return call.result()


async def serve(rt: Runtime, sub: Row[Any], lease: str, stopping: asyncio.Event) -> bool:
    """Deliver what is due to one leased subscription, then hand it back; True when a full batch went
    (more may be waiting now). A bug (or a secret that no longer opens) keeps the lease until it
    lapses, so it is retried slowly rather than in a loop."""
    try:
        more = await _serve(rt, sub, lease, stopping)
    except Exception:
        log.exception("webhooks: serving subscription %s failed", sub.id)
        return False
    await _write(rt, f"releasing subscription {sub.id}", actions.release, sub.id, lease)
    return more


async def _serve(rt: Runtime, sub: Row[Any], lease: str, stopping: asyncio.Event) -> bool:
    s = rt.settings
    cursor = int(sub.cursor)
    async with rt.engine.connect() as conn:
        upto = await current_seq(conn, sub.tenant_id)
        oldest = (await conn.execute(select(func.min(ev.seq)).where(ev.tenant_id == sub.tenant_id))).scalar()
    # Events retention removed before we read them (the subscription was disabled): counted, skipped.
    pruned_to = min(upto, (oldest if oldest is not None else upto + 1) - 1)
    if pruned_to > cursor:
        log.warning("webhooks: subscription %s skips %d pruned events", sub.id, pruned_to - cursor)
        gap = pruned_to - cursor
        if not await _write(rt, "skipping", actions.advance, sub.id, lease, cursor, pruned_to, gap):
            return False
        cursor = pruned_to
    secret = rt.box.open(sub.secret).get("secret", "")
    query = (
        select(ev.seq, ev.type, ev.frame, ev.created_at)
        .where(
            ev.tenant_id == sub.tenant_id,
            ev.seq > cursor,
            ev.seq <= upto,
            ev.type.in_(hooks.parse_events(sub.events)),
        )
        .order_by(ev.seq)
        .limit(BATCH)
    )
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    for row in rows:
        if stopping.is_set():
            return False
        now = int(time.time())
        raw = hooks.body(sub.id, row.seq, row.type, iso(row.created_at), row.frame, now)
        hdrs = hooks.headers(secret, raw, hooks.delivery_id(sub.id, row.seq), row.type, now)
        outcome: hooks.Outcome | None = await _call(rt, sub.url, raw, hdrs, stopping)
        if outcome is None:
            return False
        at = cursor
        if outcome.ok:
            rt.metrics.hook("delivered")
            what = f"recording delivery {sub.id}-{row.seq}"
            done = (sub, lease, at, row.seq, row.type, outcome, lease_for(rt))
            if not await _write(rt, what, actions.delivered, *done):
                return False
            cursor = row.seq
            continue
        rt.metrics.hook("failed")
        tries = sub.consecutive_failures + 1 if at == sub.cursor else 1
        retry_in = backoff(
            tries, outcome.retry_after, base=s.webhook_backoff_base_seconds, cap=s.webhook_backoff_max_seconds
        )
        log.info(
            "webhooks: %s-%s attempt %d: %s; again in %.1fs", sub.id, row.seq, tries, outcome.error, retry_in
        )
        what = f"recording failure {sub.id}-{row.seq}"
        args = (sub, lease, at, row.seq, row.type, outcome, retry_in, s.webhook_disable_after)
        await _write(rt, what, actions.failed, *args)
        return False
    # Everything up to `scanned` is dealt with: the events of other types are passed over.
    scanned = upto if len(rows) < BATCH else rows[-1].seq
    if scanned > cursor:
        await _write(rt, "advancing", actions.advance, sub.id, lease, cursor, scanned)
    return len(rows) == BATCH


async def _poll(rt: Runtime, free: int) -> tuple[str, list[Row[Any]]]:
    return await claim(rt, free) if free > 0 else ("", [])


async def hooks_worker(rt: Runtime) -> None:
    wake = rt.wakeup("webhooks")
    stopping = asyncio.Event()
    running: dict[int, asyncio.Task[bool]] = {}
    polling: asyncio.Task[tuple[str, list[Row[Any]]]] | None = None

    def done(sub_id: int, task: asyncio.Task[bool]) -> None:
        running.pop(sub_id, None)
        # A full batch: go on at once. Otherwise the next poll, so that a busy tenant's subscription
        # is served once per poll rather than in a loop beside the webhooks coming in.
        if not task.cancelled() and task.exception() is None and task.result():
            rt.wake("webhooks")

    try:
        while True:
            wake.clear()
            lease, subs = "", list[Row[Any]]()
            # Shielded: a shutdown never cuts a database call in half (see the outbox's worker).
            polling = asyncio.create_task(_poll(rt, CONCURRENCY - len(running)))
            try:
                lease, subs = await asyncio.shield(polling)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                log.warning("webhooks: storage unavailable (%s); polling again", exc)
            polling = None
            for sub in subs:
                task = asyncio.create_task(serve(rt, sub, lease, stopping), name=f"webhooks:{sub.id}")
                running[sub.id] = task
                task.add_done_callback(functools.partial(done, sub.id))
            await wait_event(wake, rt.settings.webhook_poll_seconds)
    finally:
        stopping.set()
        if polling is not None:
            try:
                lease, claimed = await polling
            except Exception:
                lease, claimed = "", []
            for sub in claimed:  # claimed as we were told to stop: handed back untried
                await _write(
                    rt, "handing back", functools.partial(actions.release, sub_id=sub.id, lease=lease)
                )
        await asyncio.gather(*running.values(), return_exceptions=True)
