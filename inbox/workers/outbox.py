"""The sender: takes due outbox rows and sends them through the channel's adapter.

Owns claiming (a renewed lease per row; on PostgreSQL `FOR UPDATE SKIP LOCKED`, so several processes
share the work; SQLite has one writer), per-conversation order (only a conversation's oldest row can
be claimed), retries with backoff, and recording the answer. Toward the provider it is at-least-once:
a process killed between the call and the commit leaves a lease that lapses, and the row is sent
again. On our side a message is one row, always. What may be sent is decided in
inbox.actions.replies and the adapter's window rule; what an answer does to the message is
inbox.actions.sending. This module reads, leases its rows and calls providers.

Idempotency toward providers: none of the providers' send APIs accepts an idempotency key (see the
adapters in channels/), so there is nothing to pass our message id in. A repeated send therefore
reaches the customer twice; the echo webhook (`_claim_inflight_echo` in ingest)
often proves that an interrupted attempt got through, and then we do not send it again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, bindparam, exists, func, or_, select, type_coerce, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from channels.base import Attachment, Outgoing, SendError, TemplateSend
from inbox import models as m
from inbox import uploads
from inbox.actions import sending
from inbox.db import is_connection_error
from inbox.waiting import wait_event
from inbox.workers.retry import backoff

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
ob, msg, cv, ch, idt = m.outbox.c, m.messages.c, m.conversations.c, m.channels.c, m.contact_identities.c

POLL_SECONDS = 1.0  # other processes' rows and lapsed leases are found by polling
CONCURRENCY = 16  # sends in flight per process
FINISH_TRIES = 5  # recording an answer: tries before leaving the row to its lease
_ATTACHMENT_KINDS = {"image", "audio", "video", "file", "sticker"}

_older = m.outbox.alias("older")
# A conversation's messages leave in order: a row waits while an older one of its conversation exists
# (retrying or in flight); a failed or sent message has no row any more.
_first_of_conversation = ~exists().where(_older.c.conversation_id == ob.conversation_id, _older.c.id < ob.id)


def _claimable(now: Any) -> Any:
    return and_(or_(ob.locked_until.is_(None), ob.locked_until < now), _first_of_conversation)


async def claim(rt: Runtime, limit: int) -> list[Row[Any]]:
    """Lease up to `limit` due rows (attempts + 1 each) in one short transaction."""
    now = m.utcnow()
    pick = (
        select(ob.id)
        .where(ob.next_attempt_at <= now, _claimable(now))
        .order_by(ob.next_attempt_at, ob.id)
        .limit(limit)
    )
    if rt.engine.dialect.name == "postgresql":
        pick = pick.with_for_update(of=m.outbox, skip_locked=True)
    stmt = (
        update(m.outbox)
        .where(ob.id.in_(pick.scalar_subquery()), or_(ob.locked_until.is_(None), ob.locked_until < now))
        .values(locked_until=now + _lease(rt), attempts=ob.attempts + 1)
        .returning(m.outbox)
    )
    async with rt.engine.begin() as conn:
        return sorted((await conn.execute(stmt)).all(), key=lambda r: r.id)


def _template(spec: Any) -> TemplateSend | None:
    """The approved template a message is sent as (an automation outside the window), if any."""
    if not isinstance(spec, dict):
        return None
    params = tuple(str(p) for p in spec.get("parameters") or [])
    return TemplateSend(name=str(spec["name"]), language=str(spec["language"]), parameters=params)


def _lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.send_lease_seconds)


async def _keep_lease(rt: Runtime, outbox_id: int, done: asyncio.Event) -> None:
    """Renew the lease while the send runs (a slow provider, several Graph calls), so that no other
    process takes the row; if this process dies the renewals stop and the lease lapses. Stopped by
    `done` between renewals, never cancelled in the middle of one (a database call cut off by a
    cancellation can leave its connection, and SQLite's write lock, behind)."""
    period = max(0.05, rt.settings.send_lease_seconds / 3)
    while True:
        if await wait_event(done, period):
            return
        try:
            async with rt.engine.begin() as conn:
                await conn.execute(
                    update(m.outbox).where(ob.id == outbox_id).values(locked_until=m.utcnow() + _lease(rt))
                )
        except Exception as exc:
            log.warning("outbox: renewing the lease of row %s failed: %s", outbox_id, exc)


_context = (
    select(
        m.messages,
        cv.contact_id.label("contact_id"),
        cv.last_inbound_at.label("last_inbound_at"),
        ch.disabled_at.label("channel_disabled_at"),
    )
    .join(m.conversations, cv.id == msg.conversation_id)
    .join(m.channels, ch.id == msg.channel_id)
    .where(msg.id == bindparam("mid"))
)
_address = (
    select(idt.external_id)
    .where(idt.contact_id == bindparam("cid"), idt.kind == bindparam("kind"))
    .order_by(idt.id)
    .limit(1)
)


async def deliver(rt: Runtime, row: Row[Any], stopping: asyncio.Event) -> None:
    """Send one claimed row and record the outcome. `stopping` (shutdown) interrupts the provider call
    only: database work always runs to its end."""
    done = asyncio.Event()
    lease = asyncio.create_task(_keep_lease(rt, row.id, done))
    try:
        await _deliver(rt, row, stopping)
    except Exception:
        # Unrecorded: the lease lapses and the row is tried again (attempts still count).
        log.exception("outbox: delivering row %s failed", row.id)
    finally:
        done.set()
        await lease


async def _deliver(rt: Runtime, row: Row[Any], stopping: asyncio.Event) -> None:
    async with rt.engine.connect() as conn:
        ctx = (await conn.execute(_context, {"mid": row.message_id})).first()
    if ctx is None or ctx.status != "queued":
        # Gone, or settled meanwhile (a status webhook about a claimed echo): nothing to send.
        await _drop(rt, row)
        return
    if ctx.provider_message_id and row.attempts > 1:
        # An earlier attempt was cut off, but its echo already gave us the provider's id: it arrived.
        await _sent(rt, row, ctx.provider_message_id)
        return
    if row.attempts > rt.settings.send_max_attempts:
        await _failed(rt, row, f"gave up after {row.attempts - 1} attempts: {row.last_error or 'no answer'}")
        return
    channel = await rt.directory.by_id(ctx.channel_id)
    adapter = rt.adapters.get(channel.provider) if channel is not None else None
    if channel is None or adapter is None or ctx.channel_disabled_at is not None:
        await _failed(rt, row, "the channel is disabled or no longer exists")
        return
    async with rt.engine.connect() as conn:
        to = (await conn.execute(_address, {"cid": ctx.contact_id, "kind": channel.kind})).scalar()
    if not to:
        await _failed(rt, row, f"the contact has no {channel.kind} address to send to")
        return
    rule = adapter.window_rule(channel, ctx.last_inbound_at, m.utcnow())
    template = _template(ctx.template)
    if rule.refusal and template is None:  # the window closed while the message waited
        await _failed(rt, row, rule.refusal)
        return
    stored = [a for a in ctx.attachments or [] if isinstance(a, dict)]
    attachments = [_attachment(rt, channel.tenant_id, a) for a in stored]
    if any(a.get("upload_id") and not sent.url for a, sent in zip(stored, attachments, strict=True)):
        await _failed(rt, row, "an uploaded file cannot be sent: INBOX_PUBLIC_URL is not set")
        return
    out = Outgoing(
        message_id=ctx.id,
        to=to,
        text=ctx.text,
        attachments=tuple(attachments),
        tag=None if template else rule.tag,
        template=template,
    )
    send = asyncio.ensure_future(adapter.send(rt.http, channel, out))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({send, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not send.done():
        # Shutting down mid-call: whether it reached the provider is unknown, as after a crash, but
        # the row is handed back now rather than when its lease lapses.
        send.cancel()
        await asyncio.gather(send, return_exceptions=True)
        await _write(rt, f"handing row {row.id} back", lambda uow: sending.hand_back(uow, row.id))
        return
    try:
        result = send.result()
    except SendError as exc:
        rt.metrics.send("failed" if exc.permanent else "retry")
        if exc.permanent:
            await _failed(rt, row, exc.reason)
        else:
            await _retry(rt, row, exc.reason, exc.retry_after)
        return
    except Exception as exc:  # an adapter bug must not lose the message: retried, then failed
        log.exception("outbox: sending message %s raised", ctx.id)
        rt.metrics.send("retry")
        await _retry(rt, row, f"internal error while sending ({type(exc).__name__})", None)
        return
    rt.metrics.send("sent")
    await _sent(rt, row, result.provider_message_id)


def _attachment(rt: Runtime, tenant_id: int, a: dict[str, Any]) -> Attachment:
    """A stored attachment as the adapter sends it. A file uploaded here goes out as a signed address
    made now (providers fetch media by URL; inbox/uploads.py), None without INBOX_PUBLIC_URL."""
    kind = a.get("kind") if a.get("kind") in _ATTACHMENT_KINDS else "file"
    url = a.get("url")
    if a.get("upload_id") is not None:
        url = uploads.public_url(rt.settings.public_url, rt.box, tenant_id, int(a["upload_id"]))
    return Attachment(kind=cast(Any, kind), url=url, mime_type=a.get("mime_type"), name=a.get("name"))


async def _write(rt: Runtime, what: str, fn: Any) -> bool:
    """Run `fn(uow)` in a unit of work, again on a lost race (IntegrityError) or while storage is
    down. False if it never committed: the row's lease then lapses and the send is repeated."""
    for attempt in range(FINISH_TRIES):
        try:
            async with rt.uow() as uow:
                await fn(uow)
            return True
        except IntegrityError:
            # A concurrent echo took the provider id first; it is committed now, so merge on retry.
            continue
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning("outbox: %s failed (%s); retrying", what, exc)
            await asyncio.sleep(0.2 * 2**attempt)
    log.error("outbox: %s did not commit after %d tries", what, FINISH_TRIES)
    return False


async def _sent(rt: Runtime, row: Row[Any], provider_message_id: str) -> None:
    await _write(
        rt,
        f"recording message {row.message_id} as sent",
        lambda uow: sending.record_sent(uow, row.id, row.message_id, provider_message_id),
    )


async def _failed(rt: Runtime, row: Row[Any], reason: str) -> None:
    log.info("outbox: message %s failed: %s", row.message_id, reason)
    await _write(
        rt,
        f"recording message {row.message_id} as failed",
        lambda uow: sending.record_failed(uow, row.id, row.message_id, reason),
    )


async def _retry(rt: Runtime, row: Row[Any], reason: str, retry_after: float | None) -> None:
    if row.attempts >= rt.settings.send_max_attempts:
        await _failed(rt, row, f"{reason} (gave up after {row.attempts} attempts)")
        return
    s = rt.settings
    delay = backoff(
        row.attempts, retry_after, base=s.send_backoff_base_seconds, cap=s.send_backoff_max_seconds
    )
    due = m.utcnow() + timedelta(seconds=delay)
    log.info("outbox: message %s attempt %d: %s; next at %s", row.message_id, row.attempts, reason, due)
    await _write(
        rt, f"rescheduling message {row.message_id}", lambda uow: sending.reschedule(uow, row.id, due, reason)
    )


async def _drop(rt: Runtime, row: Row[Any]) -> None:
    await _write(rt, f"dropping outbox row {row.id}", lambda uow: sending.drop(uow, row.id))


async def _seconds_to_next(rt: Runtime) -> float:
    """Until the next claimable row is due, within the poll interval."""
    now = m.utcnow()
    q = select(type_coerce(func.min(ob.next_attempt_at), m.UTCDateTime())).where(_claimable(now))
    async with rt.engine.connect() as conn:
        nxt = (await conn.execute(q)).scalar()
    if nxt is None:
        return POLL_SECONDS
    return max(0.05, min(POLL_SECONDS, (nxt - now).total_seconds()))


async def _poll(rt: Runtime, free: int) -> tuple[list[Row[Any]], float]:
    """Claim what is due; with nothing due, how long until something may be."""
    rows = await claim(rt, free) if free > 0 else []
    return rows, (POLL_SECONDS if rows or free <= 0 else await _seconds_to_next(rt))


async def outbox_worker(rt: Runtime) -> None:
    wake = rt.wakeup("outbox")
    stopping = asyncio.Event()
    running: dict[int, asyncio.Task[None]] = {}
    polling: asyncio.Task[tuple[list[Row[Any]], float]] | None = None

    def done(outbox_id: int, _task: asyncio.Task[None]) -> None:
        running.pop(outbox_id, None)
        rt.wake("outbox")  # the conversation's next message may go now

    try:
        while True:
            wake.clear()
            rows: list[Row[Any]] = []
            timeout = POLL_SECONDS
            # Shielded: a shutdown never cuts a database call in half (see `_keep_lease`).
            polling = asyncio.create_task(_poll(rt, CONCURRENCY - len(running)))
            try:
                rows, timeout = await asyncio.shield(polling)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                log.warning("outbox: storage unavailable (%s); polling again", exc)
            polling = None
            for row in rows:
                task = asyncio.create_task(deliver(rt, row, stopping), name=f"outbox:{row.id}")
                running[row.id] = task
                task.add_done_callback(functools.partial(done, row.id))
            if rows:
                continue
            await wait_event(wake, timeout)
    finally:
        # Deliveries stop their provider calls and finish their database work; none is cancelled.
        stopping.set()
        if polling is not None:
            try:
                claimed, _ = await polling
            except Exception:
                claimed = []
            for row in claimed:  # claimed as we were told to stop: never tried, so not an attempt
                await _write(
                    rt,
                    f"handing row {row.id} back",
                    functools.partial(sending.hand_back, row_id=row.id, tried=False),
                )
        await asyncio.gather(*running.values(), return_exceptions=True)
