"""The per-process realtime hub: committed events in (own commits and the bus), sockets out.

Owns ordering and the connect seam. Per tenant, a `Feed` delivers records in strict sequence order
with no gap: a record beyond `last + 1` (concurrent commits publish out of order, other processes
race) makes the feed read the missing range from the events table, which has it because commits
are sequence-ordered; records at or below `last` are dropped. Each record is visibility-checked
once per socket with `inbox.access.may_see_event` and its frame text is shared by all sockets.

Connect: the socket registers first (live records buffer), learns the feed position P (or
anchors a new feed from the database), sends `ready` P, replays `since < seq <= P` from the
database, then flushes the buffer past max(P, since) and goes live, all without an await between
the flush and going live: no gap, no duplicate at the seam. Must not write: presence writes go
through inbox/workers/presence.py and the actions.

A bus outage is not a reason to resync: the events table has every committed event, so while the
link is down feeds poll it often (the same gap filling as for out-of-order records) and sockets stay
open. `resync` is only for what the log no longer has (pruned past retention) and slow consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from inbox import models as m
from inbox.access import may_see_conversation, may_see_event
from inbox.auth import Principal
from inbox.events import EventRecord
from inbox.realtime import eventlog
from inbox.realtime.bus import Bus
from inbox.realtime.sockets import CLOSE_IDLE, CLOSE_SLOW, RESYNC, Send, Socket, close, text
from inbox.waiting import wait_event
from inbox.workers.presence import Presence

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

# Safety net for what the bus never carried (a process that died between commit and publish, a
# CLI command, lines dropped while Redis was away): each feed compares with the log this often.
TAIL_POLL_SECONDS = 5.0
# While the bus link is down the log is the only way other processes' events arrive: poll it often.
OUTAGE_POLL_SECONDS = 0.5
FILL_CHUNK = 500
REPLAY_CHUNK = 500
MAX_PENDING = 10_000  # beyond this, out-of-order records are re-read from the database instead

_tails = select(m.tenants.c.id, m.tenants.c.last_seq).where(
    m.tenants.c.id.in_(bindparam("ids", expanding=True))
)
_conversation = select(m.conversations.c.assignee_id, m.conversations.c.queue_id).where(
    m.conversations.c.id == bindparam("cid"), m.conversations.c.tenant_id == bindparam("tid")
)


class Feed:
    """One tenant's ordered stream in this process (exists while it has sockets)."""

    __slots__ = ("filler", "gone", "last", "pending", "sockets", "tenant_id")

    def __init__(self, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self.last: int | None = None  # None until anchored from the database
        self.sockets: dict[Socket, int | None] = {}  # socket -> position when it joined
        self.pending: dict[int, EventRecord] = {}
        self.filler: asyncio.Task[None] | None = None
        self.gone = False


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        s = runtime.settings
        self.limit = max(s.ws_send_queue, 1)
        self.feeds: dict[int, Feed] = {}
        self.bus = Bus(s.broadcast_url, s.broadcast_channel, self._on_bus_message, self._on_link)
        self.presence = Presence(runtime)
        self._tasks: list[asyncio.Task[None]] = []
        self._link_lost = asyncio.Event()  # wakes the tail poll when the bus link goes down

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bus.start()
        self.presence.start()
        self._tasks.append(asyncio.create_task(self._sweep_idle(), name="ws-idle"))
        self._tasks.append(asyncio.create_task(self._poll_tails(), name="ws-tails"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for feed in list(self.feeds.values()):
            self._drop_feed(feed)
            for sock in feed.sockets:
                if sock.drainer is not None:
                    sock.drainer.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.presence.stop()
        await self.bus.stop()

    def healthy(self) -> bool:
        """False while the bus link is down (it reconnects by itself; meanwhile sockets are fed
        from the events table)."""
        return self.bus.up

    def socket_count(self) -> int:
        return sum(len(f.sockets) for f in self.feeds.values())

    # --- events in -------------------------------------------------------------------------------

    async def publish(self, records: list[EventRecord]) -> None:
        """Called after commit: deliver here at once, and tell the other processes."""
        for rec in records:
            self._receive(rec)
        if self.bus.shared:
            self.bus.publish([rec.to_wire() for rec in records])

    def _on_bus_message(self, body: str) -> None:
        for line in body.split("\n"):
            if line.startswith("["):
                self._receive(EventRecord.from_wire(line))
            elif line.startswith("{"):
                self._typing_in(json.loads(line)["typing"])

    def _receive(self, rec: EventRecord) -> None:
        feed = self.feeds.get(rec.tenant_id)
        if feed is None:
            return
        last = feed.last
        if last is not None and rec.seq <= last:
            return
        if last is not None and feed.filler is None and rec.seq == last + 1:
            self._deliver(feed, rec)
            return
        if len(feed.pending) < MAX_PENDING:
            feed.pending[rec.seq] = rec
        if last is not None:
            self._fill(feed)

    def _deliver(self, feed: Feed, rec: EventRecord) -> None:
        feed.last = rec.seq
        msg: dict[str, Any] | None = None
        dead: list[Socket] | None = None
        c, a, p, q = rec.conversation_id, rec.assignee_id, rec.prev_assignee_id, rec.queue_id
        for sock in feed.sockets:
            if sock.closed:
                dead = [*(dead or ()), sock]
            elif sock.sees_all or may_see_event(sock.principal, c, a, p, q):
                if msg is None:
                    msg = text(rec.frame)
                sock.offer(rec, msg)
        for sock in dead or ():
            self.detach(sock)

    def _take_pending(self, feed: Feed) -> None:
        pending = feed.pending
        assert feed.last is not None
        for seq in sorted(pending):
            if seq <= feed.last:
                del pending[seq]
            elif seq == feed.last + 1:
                self._deliver(feed, pending.pop(seq))
            else:
                break

    def _fill(self, feed: Feed) -> None:
        if feed.filler is None and not feed.gone:
            feed.filler = asyncio.create_task(self._filler(feed), name=f"feed-fill:{feed.tenant_id}")

    async def _filler(self, feed: Feed) -> None:
        """Read from the events table what the feed has not seen, until pending is contiguous."""
        delay = 0.02
        stalls = 0
        try:
            while not feed.gone:
                assert feed.last is not None
                before = feed.last
                try:
                    async with self.runtime.engine.connect() as conn:
                        rows = await eventlog.records_after(conn, feed.tenant_id, before, limit=FILL_CHUNK)
                except Exception as exc:
                    log.warning("reading events for tenant %s failed (%s)", feed.tenant_id, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if feed.gone:
                    return
                for rec in rows:
                    if rec.seq <= feed.last:
                        continue
                    if rec.seq != feed.last + 1:  # pruned past retention while we were behind
                        self._lost(feed, rec.seq - 1)
                    self._deliver(feed, rec)
                self._take_pending(feed)
                if len(rows) == FILL_CHUNK:
                    continue
                if not feed.pending:
                    return
                # A pending record the database did not show yet: committed before it was
                # published, so a new read finds it. Only a broken setup gets here repeatedly.
                stalls = stalls + 1 if feed.last == before else 0
                if stalls > 50:
                    log.error("tenant %s: events before %s never appeared", feed.tenant_id, min(feed.pending))
                    self._lost(feed, min(feed.pending) - 1)
                    self._take_pending(feed)
                    stalls = 0
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        finally:
            feed.filler = None

    def _lost(self, feed: Feed, upto: int) -> None:
        """Events up to `upto` cannot be delivered: every socket must resync."""
        log.warning("tenant %s: events up to %s are gone; sockets resync", feed.tenant_id, upto)
        for sock in feed.sockets:
            if sock.buffer is None:
                sock.push(RESYNC)
            else:
                sock.overflow = True
        feed.last = upto

    def _on_link(self, up: bool) -> None:
        if not up:
            # Nothing is lost yet: what other processes commit is in the events table, and the
            # tail poll (now frequent) delivers it in order. A `resync` here would reload every
            # agent's page on each Redis blip (issue 19 item 8); `_lost` sends it if the log
            # cannot cover a gap after all.
            log.warning("event bus link down: %d sockets fed from the event log", self.socket_count())
            self._link_lost.set()
            return
        # Whatever other processes committed while the link was down is in the events table.
        for feed in self.feeds.values():
            if feed.last is not None:
                self._fill(feed)

    async def _poll_tails(self) -> None:
        while True:
            await wait_event(self._link_lost, TAIL_POLL_SECONDS if self.bus.up else OUTAGE_POLL_SECONDS)
            self._link_lost.clear()
            ids = [f.tenant_id for f in self.feeds.values() if f.last is not None and f.filler is None]
            try:
                for i in range(0, len(ids), 1000):
                    async with self.runtime.engine.connect() as conn:
                        rows = (await conn.execute(_tails, {"ids": ids[i : i + 1000]})).all()
                    for tenant_id, last_seq in rows:
                        feed = self.feeds.get(tenant_id)
                        if feed is not None and feed.last is not None and last_seq > feed.last:
                            self._fill(feed)
            except Exception as exc:
                log.warning("polling the event log failed (%s)", exc)

    # --- sockets ---------------------------------------------------------------------------------

    def attach(self, send: Send, principal: Principal) -> Socket:
        """Register a socket (it buffers live records until `open` has run)."""
        feed = self.feeds.get(principal.tenant_id)
        if feed is None:
            feed = self.feeds[principal.tenant_id] = Feed(principal.tenant_id)
        sock = Socket(send, principal, self.limit, asyncio.get_running_loop().time())
        sock.feed = feed
        feed.sockets[sock] = feed.last
        return sock

    def detach(self, sock: Socket) -> None:
        sock.closed = True
        feed: Feed | None = sock.feed
        if feed is None or sock not in feed.sockets:
            return
        del feed.sockets[sock]
        if not feed.sockets:
            self._drop_feed(feed)

    def _drop_feed(self, feed: Feed) -> None:
        feed.gone = True
        if feed.filler is not None:
            feed.filler.cancel()
        if self.feeds.get(feed.tenant_id) is feed:
            del self.feeds[feed.tenant_id]

    def _anchor(self, feed: Feed, last: int) -> None:
        if feed.last is not None:
            return
        feed.last = last
        for sock, joined in feed.sockets.items():
            if joined is None:
                feed.sockets[sock] = last
        self._take_pending(feed)
        if feed.pending:
            self._fill(feed)

    async def open(self, sock: Socket, since: int | None) -> None:
        """ready, replay after `since`, then live. Raises if the client goes away meanwhile."""
        feed: Feed = sock.feed
        if feed.sockets.get(sock) is None:
            async with self.runtime.engine.connect() as conn:
                last = await eventlog.current_seq(conn, sock.tenant_id)
            self._anchor(feed, last)
        position = feed.sockets.get(sock)
        if position is None:  # detached meanwhile
            return
        await sock.send(text(f'{{"type":"ready","seq":{position}}}'))
        floor = position
        if since is not None and since < position:
            if not await self._replay(sock, since, position):
                await sock.send(RESYNC)
        elif since is not None and since > position:
            # The client saw more than this feed delivered yet (it was on a process further
            # ahead): skip what it has, now and as the feed catches up (`sock.floor`). Past the
            # database's end, it is from another life: resync.
            async with self.runtime.engine.connect() as conn:
                last = await eventlog.current_seq(conn, sock.tenant_id)
            if since > last:
                await sock.send(RESYNC)
            else:
                floor = since
        # The seam: from here to `buffer = None` nothing awaits, so no record slips between.
        buffer, sock.buffer = sock.buffer, None
        sock.floor = floor
        sock.last_seen = asyncio.get_running_loop().time()
        if sock.overflow or sock.closed:
            sock.end(RESYNC, close(CLOSE_SLOW, "too slow: reconnect with since"))
            return
        for rec in buffer or ():
            if rec.seq > floor:
                sock.push(text(rec.frame))

    async def _replay(self, sock: Socket, since: int, upto: int) -> bool:
        """Send what `sock` may see of `since < seq <= upto`; False if part of it was pruned. The
        next chunk is read while this one is sent: the database's round trip, not the sending, was
        most of a replay's time on a busy machine (10,000 events: ~12 us of CPU each, docs/benchmark.md)."""
        p = sock.principal
        cursor = since
        reading = asyncio.ensure_future(self._replay_chunk(sock.tenant_id, cursor, upto))
        try:
            while cursor < upto:
                rows = await reading
                if not rows:
                    return False
                if rows[-1].seq < upto:
                    reading = asyncio.ensure_future(self._replay_chunk(sock.tenant_id, rows[-1].seq, upto))
                for rec in rows:
                    if rec.seq != cursor + 1:
                        return False
                    cursor = rec.seq
                    if sock.sees_all or may_see_event(
                        p, rec.conversation_id, rec.assignee_id, rec.prev_assignee_id, rec.queue_id
                    ):
                        await sock.send(text(rec.frame))
                    if sock.overflow or sock.closed:
                        return True
            return True
        finally:
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading

    async def _replay_chunk(self, tenant_id: int, after: int, upto: int) -> list[EventRecord]:
        async with self.runtime.engine.connect() as conn:
            return await eventlog.records_after(conn, tenant_id, after, upto=upto, limit=REPLAY_CHUNK)

    # --- typing ----------------------------------------------------------------------------------

    async def typing(self, sock: Socket, conversation_id: int) -> None:
        """Relay "agent X is typing" to the others who may see the conversation (not logged)."""
        async with self.runtime.engine.connect() as conn:
            row = (await conn.execute(_conversation, {"cid": conversation_id, "tid": sock.tenant_id})).first()
        if row is None or not may_see_conversation(sock.principal, row.assignee_id, row.queue_id):
            return
        frame = json.dumps(
            {
                "type": "typing",
                "conversation_id": conversation_id,
                "agent_id": sock.agent_id,
                "name": sock.principal.name,
            },
            separators=(",", ":"),
        )
        item = [sock.tenant_id, conversation_id, row.assignee_id, row.queue_id, sock.agent_id, frame]
        self._typing_in(item)
        self.bus.publish([json.dumps({"typing": item}, separators=(",", ":"))])

    def _typing_in(self, item: list[Any]) -> None:
        tenant_id, conversation_id, assignee_id, queue_id, agent_id, frame = item
        feed = self.feeds.get(tenant_id)
        if feed is None:
            return
        msg = text(frame)
        for sock in feed.sockets:
            if sock.agent_id == agent_id or sock.buffer is not None:
                continue
            if sock.sees_all or may_see_event(sock.principal, conversation_id, assignee_id, None, queue_id):
                sock.push(msg)

    # --- idle sockets ----------------------------------------------------------------------------

    async def _sweep_idle(self) -> None:
        """Close sockets that sent nothing (not even a ping) for `ws_idle_timeout` seconds."""
        timeout = self.runtime.settings.ws_idle_timeout
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(max(timeout / 4, 0.05), 15.0))
            cutoff = loop.time() - timeout
            for feed in list(self.feeds.values()):
                for sock in list(feed.sockets):
                    if sock.buffer is None and not sock.closed and sock.last_seen < cutoff:
                        sock.end(close(CLOSE_IDLE, "idle timeout"))
