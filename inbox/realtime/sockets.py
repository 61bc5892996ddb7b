"""One connected websocket as the hub sees it: who it is, and a send path with no task per socket.

Owns sending and the slow-consumer rule. A frame is written straight from the fan-out while the
connection accepts it (the ASGI send finishes without suspending); only when a send would block
does the socket get a backlog and one task to drain it. A backlog past `limit` frames means the
client does not keep up: the backlog is dropped, `resync` and a close are sent instead, and the
client reconnects with `since` (the database has every event). Must not decide visibility.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

from inbox.auth import Principal

if TYPE_CHECKING:
    from inbox.events import EventRecord

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
Message = dict[str, Any]

RESYNC: Message = {"type": "websocket.send", "text": '{"type":"resync"}'}
PONG: Message = {"type": "websocket.send", "text": '{"type":"pong"}'}
CLOSE_SLOW = 1013  # "try again later": reconnect with since
CLOSE_IDLE = 1001  # going away: no frame from the client for the idle timeout


def text(frame: str) -> Message:
    return {"type": "websocket.send", "text": frame}


def close(code: int, reason: str = "") -> Message:
    return {"type": "websocket.close", "code": code, "reason": reason}


class _Resume:
    """Awaitable that finishes an awaitable which was started by hand and suspended on `first`
    (PEP 380's `yield from`, spelled out because the first step already happened)."""

    __slots__ = ("first", "it")

    def __init__(self, it: Generator[Any, Any, Any], first: Any) -> None:
        self.it = it
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        it, value = self.it, self.first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                it.close()
                raise
            except BaseException as exc:
                try:
                    value = it.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = it.send(sent)
                except StopIteration as stop:
                    return stop.value


def start_eagerly(aw: Awaitable[Any]) -> _Resume | None:
    """Run `aw` up to its first suspension. None if it finished (the common case: the frame is
    written); else an awaitable that finishes it. Exceptions raised before suspending propagate."""
    it = aw.__await__()
    try:
        first = it.send(None)
    except StopIteration:
        return None
    return _Resume(it, first)


class Socket:
    """Per-socket state, kept small: thousands of these live in one process."""

    __slots__ = (
        "agent_id",
        "backlog",
        "buffer",
        "closed",
        "drainer",
        "feed",
        "floor",
        "last_seen",
        "limit",
        "overflow",
        "principal",
        "sees_all",
        "send",
        "tenant_id",
    )

    def __init__(self, send: Send, principal: Principal, limit: int, now: float) -> None:
        self.send = send
        self.principal = principal
        self.tenant_id = principal.tenant_id
        self.agent_id = principal.agent_id
        self.sees_all = principal.sees_all
        self.limit = limit
        self.last_seen = now
        self.feed: Any = None  # the hub's per-tenant Feed
        # While connecting (ready + replay), live records wait here; None once live.
        self.buffer: list[EventRecord] | None = []
        self.floor = 0  # records at or below it were already seen by the client (since > feed)
        self.overflow = False
        self.backlog: deque[Message] | None = None  # only while a send is blocked
        self.drainer: asyncio.Task[None] | None = None
        self.closed = False

    def offer(self, rec: EventRecord, msg: Message) -> None:
        """A record this socket may see, in sequence order."""
        buffer = self.buffer
        if buffer is None:
            if rec.seq > self.floor:
                self.push(msg)
        elif len(buffer) < self.limit:
            buffer.append(rec)
        else:
            self.overflow = True  # the connecting task sends resync and closes
            buffer.clear()

    def push(self, msg: Message) -> None:
        if self.closed:
            return
        backlog = self.backlog
        if backlog is not None:
            if len(backlog) < self.limit:
                backlog.append(msg)
            else:
                self.cut()
            return
        try:
            rest = start_eagerly(self.send(msg))
        except Exception:  # the client is gone; its endpoint detaches it
            self.closed = True
            return
        if rest is not None:
            self.backlog = deque()
            self.drainer = asyncio.create_task(self._drain(rest))

    def cut(self) -> None:
        """Slow consumer: forget the backlog, tell the client to resync, close."""
        log.info("websocket of agent %s cut off: more than %d frames behind", self.agent_id, self.limit)
        self.end(RESYNC, close(CLOSE_SLOW, "too slow: reconnect with since"))

    def end(self, *last: Message) -> None:
        """Send these (after anything already blocked in the pipe), then nothing more."""
        if self.closed:
            return
        if self.backlog is not None:
            self.backlog.clear()
            self.backlog.extend(last)
            self.closed = True
            return
        for msg in last:
            self.push(msg)
        self.closed = True

    async def _drain(self, rest: _Resume) -> None:
        try:
            await rest
            backlog = self.backlog
            while backlog:
                await self.send(backlog.popleft())
            self.backlog = None
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed = True
        finally:
            self.drainer = None
