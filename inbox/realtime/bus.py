"""The cross-process event bus: one broadcaster subscription per process, and the state of its link.

Owns carrying text between processes and saying whether the link is up. Must not order, filter or
keep events: the hub does that, and the `events` table is the source of truth (the bus is lossy).

What we changed around broadcaster 0.3.1 with redis-py 8.1, and why (`LinkedRedisBackend`):

(a) `RedisBackend.subscribe()` sets its listener's "ready" flag *before* sending SUBSCRIBE, and
    redis-py records the channel only after the command is written. The listener wakes, finds no
    subscription, its `listen()` loop ends at once, it clears the flag and waits for it forever:
    nothing is ever delivered (reproduced against a real Redis). And even in the right order,
    `subscribe()` returns when the command is written, not when Redis confirmed it, so a publish
    right after it can be missed. Our `subscribe()` returns only after Redis's subscribe
    confirmation, and reading starts from that same loop.
(b) Concurrent first `Broadcast.subscribe()` calls for one channel each see "no subscriber yet"
    and each replace the subscriber set (one of 100 stayed registered). (c) A subscriber per
    socket costs 2-3x the CPU of one per process. So `Bus` subscribes exactly once per process and
    the hub fans out in-process.
(d) redis-py reconnects a pub/sub connection silently and re-subscribes, so what was published
    while the link was down vanishes without a trace; when its retries run out the exception ends
    broadcaster's listener for good. Our backend turns redis-py's retries off for its connections,
    reports every drop and recovery (`on_link`), reconnects by itself with backoff, and treats a
    Redis that stops answering PINGs (half-open TCP) as a drop.

Publishing never blocks the caller: lines queue in order for one publisher task, which sends all
queued lines as one message (fewer round trips under load) and retries while Redis is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable
from urllib.parse import urlparse

from broadcaster import Broadcast
from broadcaster._backends.redis import RedisBackend
from broadcaster._base import Event, Unsubscribed
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)

# Lines waiting for the publisher past this are dropped (oldest first): receivers recover them
# from the events table on their next event or when their own link comes back.
MAX_QUEUED_LINES = 20_000
MAX_MESSAGE_BYTES = 512 * 1024


def _redis(url: str) -> aioredis.Redis:
    # No redis-py retries: a drop must surface here, not be papered over (see (d) above).
    return aioredis.Redis.from_url(
        url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, socket_timeout=5
    )


class LinkedRedisBackend(RedisBackend):
    """broadcaster's Redis backend with a confirmed subscribe and a supervised, self-healing link."""

    def __init__(self, url: str, on_link: Callable[[bool], None], ping_interval: float = 5.0) -> None:
        # Not calling RedisBackend.__init__: it opens a pub/sub client with redis-py's silent
        # reconnects, which is what this class replaces.
        self._url = url
        self._conn = _redis(url)  # publishing
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None
        self._channels: set[str] = set()
        self._on_link = on_link
        self._ping_interval = ping_interval
        self.up = False

    async def connect(self) -> None:
        pass  # the link starts with the first subscribe()

    async def disconnect(self) -> None:
        await self._stop_link()
        await self._conn.aclose()

    async def subscribe(self, channel: str) -> None:
        """Returns once Redis confirmed the subscription, or once the first attempt failed (the
        link then keeps retrying in the background and reports through `on_link`)."""
        self._channels.add(channel)
        await self._relink()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        await self._relink()

    async def _stop_link(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _relink(self) -> None:
        await self._stop_link()
        if not self._channels:
            self._set_up(False)
            return
        first: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(self._pubsub_listener(first), name="bus-link")
        await first

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self._on_link(up)

    async def _pubsub_listener(self, first: asyncio.Future[bool] | None = None) -> None:
        delay = 0.1
        while True:
            client = _redis(self._url)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(*sorted(self._channels))
                waiting = set(self._channels)
                while waiting:
                    msg = await pubsub.get_message(timeout=self._ping_interval)
                    if msg is None:
                        raise TimeoutError("Redis did not confirm SUBSCRIBE")
                    if msg["type"] == "subscribe":
                        waiting.discard(msg["channel"].decode())
                self._set_up(True)
                delay = 0.1
                if first is not None and not first.done():
                    first.set_result(True)
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event bus link down (%s: %s); reconnecting", type(exc).__name__, exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            self._set_up(False)
            if first is not None and not first.done():
                first.set_result(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        """Forward messages until the link fails; PING when idle, give up when Redis goes quiet."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            msg = await pubsub.get_message(timeout=self._ping_interval)
            if msg is None:
                if loop.time() - heard >= 2 * self._ping_interval:
                    raise ConnectionError("Redis stopped answering PING")
                await pubsub.ping()
                continue
            heard = loop.time()
            if msg["type"] == "message":
                self._queue.put_nowait(Event(msg["channel"].decode(), msg["data"].decode()))


class Bus:
    """`start()` subscribes once; `publish(lines)` queues; `on_message(text)` gets what other
    processes published (our own messages are skipped by origin); `on_link(up)` reports the link."""

    def __init__(
        self,
        url: str,
        channel: str,
        on_message: Callable[[str], None],
        on_link: Callable[[bool], None],
    ) -> None:
        self.url = url
        self.channel = channel
        self._on_message = on_message
        self._on_link = on_link
        self._origin = secrets.token_hex(8)
        self._remote = urlparse(url).scheme in ("redis", "rediss")
        self._backend: LinkedRedisBackend | None = None
        self._broadcast: Broadcast | None = None
        self._outbox: deque[str] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._memory_up = False
        self._stopping = False

    @property
    def shared(self) -> bool:
        """Other processes can hear this bus (Redis). A memory bus is this process's alone: its only
        listener is our own, which skips what we published."""
        return self._remote

    @property
    def up(self) -> bool:
        return self._backend.up if self._backend is not None else self._memory_up

    async def start(self) -> None:
        if self._remote:
            self._backend = LinkedRedisBackend(self.url, self._link_changed)
            self._broadcast = Broadcast(backend=self._backend)
        else:
            self._broadcast = Broadcast(self.url)
        await self._broadcast.connect()
        subscribed = asyncio.get_running_loop().create_future()
        self._tasks.append(asyncio.create_task(self._listen(subscribed), name="bus-listen"))
        await subscribed
        self._tasks.append(asyncio.create_task(self._publisher(), name="bus-publish"))
        if self._backend is None:
            self._memory_up = True
        elif not self._backend.up:
            log.warning("event bus %s unreachable at start; retrying in the background", self.channel)

    def _link_changed(self, up: bool) -> None:
        if not self._stopping:
            self._on_link(up)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._broadcast is not None:
            with contextlib.suppress(Exception):
                await self._broadcast.disconnect()
        self._memory_up = False

    def publish(self, lines: list[str]) -> None:
        if not self._tasks:
            return  # not started (a CLI command): the hubs' tail poll finds these in the log
        if not self.shared:
            return  # nobody else to tell
        self._outbox.extend(lines)
        while len(self._outbox) > MAX_QUEUED_LINES:
            self._outbox.popleft()
        self._wake.set()

    async def _listen(self, subscribed: asyncio.Future[None]) -> None:
        assert self._broadcast is not None
        prefix = self._origin + "\n"
        async with self._broadcast.subscribe(self.channel) as sub:
            subscribed.set_result(None)
            while True:
                try:
                    event = await sub.get()
                except Unsubscribed:
                    return
                text = event.message
                if text.startswith(prefix):
                    continue  # ours: already delivered in-process
                _, _, body = text.partition("\n")
                try:
                    self._on_message(body)
                except Exception:
                    log.exception("event bus message handler failed")

    async def _publisher(self) -> None:
        assert self._broadcast is not None
        delay = 0.1
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch: list[str] = []
                size = 0
                while self._outbox and (not batch or size + len(self._outbox[0]) < MAX_MESSAGE_BYTES):
                    line = self._outbox.popleft()
                    batch.append(line)
                    size += len(line) + 1
                try:
                    await self._broadcast.publish(self.channel, "\n".join([self._origin, *batch]))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("event bus publish failed (%s); retrying", type(exc).__name__)
                    self._outbox.extendleft(reversed(batch))
                    while len(self._outbox) > MAX_QUEUED_LINES:
                        self._outbox.popleft()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.1
