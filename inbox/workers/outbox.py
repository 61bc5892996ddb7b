"""The sender: takes due outbox rows and sends them through the channel's adapter.

Owns claiming (a batch at a time, leased; on PostgreSQL `FOR UPDATE SKIP LOCKED`, so several
processes share the work; SQLite has one writer), per-conversation order (only a conversation's
oldest row can be claimed, and a row leaves the outbox only when its outcome is committed), retries
with backoff, and what a provider's answer means. Work per batch, not per row: one claim, two reads
of context, one lease renewal for every row in flight and one transaction for the outcomes of many
sends (inbox/workers/outbox_flight.py). Toward the provider it is at-least-once: a process killed
between the call and the commit leaves leases that lapse, and those rows are sent again. On our side
a message is one row, always. What may be sent is decided in inbox.actions.replies and the adapter's
window rule; what an outcome does to the message is inbox.actions.sending. This module reads, leases
its rows and calls providers.

Idempotency toward providers: none of the providers' send APIs accepts an idempotency key (see the
adapters in channels/), so there is nothing to pass our message id in. A repeated send therefore
reaches the customer twice; the echo webhook (`_claim_inflight_echo` in ingest)
often proves that an interrupted attempt got through, and then we do not send it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
from sqlalchemy import and_, bindparam, exists, func, or_, select, type_coerce, update
from sqlalchemy.engine import Row

from channels.base import Adapter, Attachment, ChannelConfig, Outgoing, SendError, TemplateSend
from inbox import models as m
from inbox import uploads
from inbox.actions.sending import Outcome
from inbox.db import is_connection_error, picked
from inbox.tls import outgoing_client
from inbox.waiting import wait_event
from inbox.workers.outbox_flight import InFlight, record
from inbox.workers.retry import backoff

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
ob, msg, cv, ch, idt = m.outbox.c, m.messages.c, m.conversations.c, m.channels.c, m.contact_identities.c

POLL_SECONDS = 1.0  # other processes' rows and lapsed leases are found by polling
IN_FLIGHT_PER_CALL = 4  # rows claimed and not yet settled, per provider call allowed at once
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
    stmt = (
        update(m.outbox)
        .where(
            ob.id.in_(picked(pick, rt.engine.dialect.name, m.outbox)),
            or_(ob.locked_until.is_(None), ob.locked_until < now),
        )
        .values(locked_until=now + _lease(rt), attempts=ob.attempts + 1)
        .returning(m.outbox)
    )
    async with rt.engine.begin() as conn:
        return sorted((await conn.execute(stmt)).all(), key=lambda r: r.id)


def _lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.send_lease_seconds)


def _template(spec: Any) -> TemplateSend | None:
    """The approved template a message is sent as (an automation outside the window), if any."""
    if not isinstance(spec, dict):
        return None
    params = tuple(str(p) for p in spec.get("parameters") or [])
    return TemplateSend(name=str(spec["name"]), language=str(spec["language"]), parameters=params)


_contexts = (
    select(
        m.messages,
        cv.contact_id.label("contact_id"),
        cv.last_inbound_at.label("last_inbound_at"),
        ch.disabled_at.label("channel_disabled_at"),
    )
    .join(m.conversations, cv.id == msg.conversation_id)
    .join(m.channels, ch.id == msg.channel_id)
    .where(msg.id.in_(bindparam("mids", expanding=True)))
)
_addresses = (
    select(idt.contact_id, idt.kind, idt.external_id)
    .where(idt.contact_id.in_(bindparam("cids", expanding=True)))
    .order_by(idt.id)
)


@dataclass(frozen=True)
class _Send:
    """A claimed row that goes to the provider."""

    row: Row[Any]
    adapter: Adapter
    channel: ChannelConfig
    out: Outgoing


async def prepare(rt: Runtime, rows: list[Row[Any]]) -> list[Outcome | _Send]:
    """What to do with each claimed row: send it, or settle it at once (gone, already arrived, given
    up, no channel, no address, window closed). Two reads for the whole batch; channels come from
    the directory's cache (a few seconds old at most)."""
    if not rows:
        return []
    async with rt.engine.connect() as conn:
        ctxs = {r.id: r for r in await conn.execute(_contexts, {"mids": [r.message_id for r in rows]})}
        addresses: dict[tuple[int, str], str] = {}
        cids = sorted({c.contact_id for c in ctxs.values()})
        for cid, kind, xid in await conn.execute(_addresses, {"cids": cids}) if cids else []:
            addresses.setdefault((cid, kind), xid)
    channels: dict[int, ChannelConfig | None] = {}
    for cid in sorted({c.channel_id for c in ctxs.values()}):
        channels[cid] = await rt.directory.by_id(cid, cached=True)
    return [_plan(rt, row, ctxs.get(row.message_id), channels, addresses) for row in rows]


def _plan(
    rt: Runtime,
    row: Row[Any],
    ctx: Row[Any] | None,
    channels: dict[int, ChannelConfig | None],
    addresses: dict[tuple[int, str], str],
) -> Outcome | _Send:
    if ctx is None or ctx.status != "queued":
        # Gone, or settled meanwhile (a status webhook about a claimed echo): nothing to send.
        return Outcome(row.id, row.message_id, "drop")
    if ctx.provider_message_id and row.attempts > 1:
        # An earlier attempt was cut off, but its echo already gave us the provider's id: it arrived.
        return Outcome(row.id, row.message_id, "sent", provider_message_id=ctx.provider_message_id)
    if row.attempts > rt.settings.send_max_attempts:
        return _failed(row, f"gave up after {row.attempts - 1} attempts: {row.last_error or 'no answer'}")
    channel = channels.get(ctx.channel_id)
    adapter = rt.adapters.get(channel.provider) if channel is not None else None
    if channel is None or adapter is None or ctx.channel_disabled_at is not None:
        return _failed(row, "the channel is disabled or no longer exists")
    to = addresses.get((ctx.contact_id, channel.kind))
    if not to:
        return _failed(row, f"the contact has no {channel.kind} address to send to")
    rule = adapter.window_rule(channel, ctx.last_inbound_at, m.utcnow())
    template = _template(ctx.template)
    if rule.refusal and template is None:  # the window closed while the message waited
        return _failed(row, rule.refusal)
    stored = [a for a in ctx.attachments or [] if isinstance(a, dict)]
    attachments = [_attachment(rt, channel.tenant_id, a) for a in stored]
    if any(a.get("upload_id") and not sent.url for a, sent in zip(stored, attachments, strict=True)):
        return _failed(row, "an uploaded file cannot be sent: INBOX_PUBLIC_URL is not set")
    out = Outgoing(
        message_id=ctx.id,
        to=to,
        text=ctx.text,
        attachments=tuple(attachments),
        tag=None if template else rule.tag,
        template=template,
    )
    return _Send(row, adapter, channel, out)


class Lanes:
    """Provider calls at once, each in a lane: an HTTP client of its own, holding a keep-alive
    connection or two. Not the shared `rt.http`: with many calls at once to one provider, httpcore's
    pool hands an idle connection to two waiting requests, one of which then goes round again
    (encode/httpcore#1110), and scans every connection for each request (encode/httpcore#1035); at
    16 calls at once that doubled the CPU per call against a client per lane (docs/benchmark.md).

    Up to `count` lanes, each made when a call finds no free one, all with the process's one TLS
    context (inbox/tls.py): making the 32 clients at start, each parsing the CA bundle, held the event
    loop for 7-13 s under load, and the app answered nothing meanwhile."""

    def __init__(self, rt: Runtime, count: int) -> None:
        self._rt = rt
        self._count = count
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        self._all: list[httpx.AsyncClient] = []

    def _new(self) -> httpx.AsyncClient:
        client = outgoing_client(
            timeout=self._rt.settings.send_timeout_seconds,
            # A lane may serve several providers (origins) in turn.
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )
        self._all.append(client)
        return client

    def __len__(self) -> int:
        return len(self._all)

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._free.empty() and len(self._all) < self._count:
            client = self._new()
        else:
            client = await self._free.get()
        try:
            yield client
        finally:
            self._free.put_nowait(client)

    async def aclose(self) -> None:
        for client in self._all:
            await client.aclose()


async def send(rt: Runtime, job: _Send, stopping: asyncio.Event, lanes: Lanes | None = None) -> Outcome:
    """The provider call (in one of `lanes`, else on `rt.http`) and what its answer means.
    `stopping` (shutdown) interrupts the call; a row still waiting for a lane goes back untried."""
    if lanes is None:
        return await _call(rt, rt.http, job, stopping)
    async with lanes.lane() as http:
        if stopping.is_set():
            return Outcome(job.row.id, job.row.message_id, "hand_back", tried=False)
        return await _call(rt, http, job, stopping)


async def _call(rt: Runtime, http: httpx.AsyncClient, job: _Send, stopping: asyncio.Event) -> Outcome:
    row = job.row
    call = asyncio.ensure_future(job.adapter.send(http, job.channel, job.out))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not call.done():
        # Shutting down mid-call: whether it reached the provider is unknown, as after a crash, but
        # the row is handed back now rather than when its lease lapses.
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        return Outcome(row.id, row.message_id, "hand_back")
    try:
        result = call.result()
    except SendError as exc:
        rt.metrics.send("failed" if exc.permanent else "retry")
        if exc.permanent:
            return _failed(row, exc.reason)
        return _retry(rt, row, exc.reason, exc.retry_after)
    except Exception as exc:  # an adapter bug must not lose the message: retried, then failed
        log.exception("outbox: sending message %s raised", job.out.message_id)
        rt.metrics.send("retry")
        return _retry(rt, row, f"internal error while sending ({type(exc).__name__})", None)
    rt.metrics.send("sent")
    return Outcome(row.id, row.message_id, "sent", provider_message_id=result.provider_message_id)


async def deliver(rt: Runtime, row: Row[Any], stopping: asyncio.Event) -> None:
    """Send one claimed row and record its outcome (the worker does the same for many rows at once)."""
    (step,) = await prepare(rt, [row])
    outcome = step if isinstance(step, Outcome) else await send(rt, step, stopping)
    await record(rt, [outcome])


def _attachment(rt: Runtime, tenant_id: int, a: dict[str, Any]) -> Attachment:
    """A stored attachment as the adapter sends it. A file uploaded here goes out as a signed address
    made now (providers fetch media by URL; inbox/uploads.py), None without INBOX_PUBLIC_URL."""
    kind = a.get("kind") if a.get("kind") in _ATTACHMENT_KINDS else "file"
    url = a.get("url")
    if a.get("upload_id") is not None:
        url = uploads.public_url(rt.settings.public_url, rt.box, tenant_id, int(a["upload_id"]))
    return Attachment(kind=cast(Any, kind), url=url, mime_type=a.get("mime_type"), name=a.get("name"))


def _failed(row: Row[Any], reason: str) -> Outcome:
    log.info("outbox: message %s failed: %s", row.message_id, reason)
    return Outcome(row.id, row.message_id, "failed", reason=reason)


def _retry(rt: Runtime, row: Row[Any], reason: str, retry_after: float | None) -> Outcome:
    if row.attempts >= rt.settings.send_max_attempts:
        return _failed(row, f"{reason} (gave up after {row.attempts} attempts)")
    s = rt.settings
    delay = backoff(
        row.attempts, retry_after, base=s.send_backoff_base_seconds, cap=s.send_backoff_max_seconds
    )
    due = m.utcnow() + timedelta(seconds=delay)
    log.info("outbox: message %s attempt %d: %s; next at %s", row.message_id, row.attempts, reason, due)
    return Outcome(row.id, row.message_id, "retry", reason=reason, due=due)


async def _seconds_to_next(rt: Runtime) -> float:
    """Until the next claimable row is due, within the poll interval."""
    now = m.utcnow()
    q = select(type_coerce(func.min(ob.next_attempt_at), m.UTCDateTime())).where(_claimable(now))
    async with rt.engine.connect() as conn:
        nxt = (await conn.execute(q)).scalar()
    if nxt is None:
        return POLL_SECONDS
    return max(0.05, min(POLL_SECONDS, (nxt - now).total_seconds()))


async def _poll(rt: Runtime, free: int) -> tuple[list[Row[Any]], list[Outcome | _Send], float]:
    """Claim what is due and prepare it; with nothing due, how long until something may be. The
    claimed rows come back even when preparing them failed (then with no steps): they are ours."""
    rows = await claim(rt, free) if free > 0 else []
    if not rows:
        return rows, [], (POLL_SECONDS if free <= 0 else await _seconds_to_next(rt))
    try:
        return rows, await prepare(rt, rows), POLL_SECONDS
    except Exception as exc:
        # Left to their leases: tried again once those lapse, as after a crash.
        log.warning("outbox: preparing %d claimed rows failed (%s)", len(rows), exc)
        return rows, [], POLL_SECONDS


async def outbox_worker(rt: Runtime) -> None:
    wake = rt.wakeup("outbox")
    stopping = asyncio.Event()
    # Settled rows free their slots, and a conversation's next message may go now.
    flight = InFlight(rt, lambda: rt.wake("outbox"))
    lanes = Lanes(rt, rt.settings.send_concurrency)
    # More rows in flight than calls: the next rows are claimed and prepared while calls run.
    batch = IN_FLIGHT_PER_CALL * rt.settings.send_concurrency
    sending_: set[asyncio.Task[Outcome]] = set()
    polling: asyncio.Task[tuple[list[Row[Any]], list[Outcome | _Send], float]] | None = None

    def sent(row_id: int, task: asyncio.Task[Outcome]) -> None:
        sending_.discard(task)
        if task.cancelled() or task.exception() is not None:
            flight.forget(row_id)  # unrecorded: the lease lapses and the row is tried again
        else:
            flight.finish(task.result())

    try:
        while True:
            wake.clear()
            steps: list[Outcome | _Send] = []
            timeout = POLL_SECONDS
            # Shielded: a shutdown never cuts a database call in half (see InFlight._renew).
            # Claims of a quarter batch or more (unless idle): fewer, larger claims and reads.
            free = batch - len(flight)
            polling = asyncio.create_task(_poll(rt, free if free >= batch // 4 or not len(flight) else 0))
            try:
                rows, steps, timeout = await asyncio.shield(polling)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                rows = []
                log.warning("outbox: storage unavailable (%s); polling again", exc)
            polling = None
            for row in rows:
                flight.add(row.id)
            if rows and not steps:
                for row in rows:
                    flight.forget(row.id)
            for step in steps:
                if isinstance(step, Outcome):
                    flight.finish(step)
                    continue
                task = asyncio.create_task(send(rt, step, stopping, lanes), name=f"outbox:{step.row.id}")
                sending_.add(task)
                task.add_done_callback(functools.partial(sent, step.row.id))
            if rows:
                continue
            await wait_event(wake, timeout)
    finally:
        # Sends stop their provider calls; outcomes are all written; nothing is cancelled. In a task
        # the runtime waits for before closing the engine: cancelling this worker again (a slow
        # stop) must not leave the recording half done or running against a closed engine.
        stopping.set()

        async def close() -> None:
            if polling is not None:
                try:
                    claimed, _, _ = await polling
                except Exception:
                    claimed = []
                for row in claimed:  # claimed as we were told to stop: never tried, so not an attempt
                    flight.add(row.id)
                    flight.finish(Outcome(row.id, row.message_id, "hand_back", tried=False))
            if sending_:
                await asyncio.wait(set(sending_))
            await flight.close()
            await lanes.aclose()

        await asyncio.shield(rt.settle_before_close(asyncio.ensure_future(close())))
