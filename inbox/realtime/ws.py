"""`GET /ws?token=...&since=N`: the agent's realtime socket (CONTRACT.md, "Realtime").

Owns the socket's life: the token is checked before accepting (a bad one gets no events and a
1008 close right after the handshake, so a browser can tell it from a network failure), then the
hub sends `ready`, the replay and live events; client frames are `ping` and `typing`. No
database session is held while the socket lives. Per-message deflate stays off (`inbox serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from inbox.auth import Principal, principal_for
from inbox.errors import Unauthenticated
from inbox.realtime.sockets import PONG, close

if TYPE_CHECKING:
    from inbox.realtime.hub import Hub
    from inbox.realtime.sockets import Socket
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008
CLOSE_UNAVAILABLE = 1011
_PING = '{"type":"ping"}'


def _since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    value = int(raw)  # ValueError: refused
    if value < 0:
        raise ValueError(raw)
    return value


class RealtimeEndpoint:
    """A plain ASGI app: live sends go straight to the ASGI `send` (one shared message per event)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        rt: Runtime = scope["app"].state.runtime
        try:
            since = _since(ws.query_params.get("since"))
        except ValueError:
            await self._refuse(ws, CLOSE_POLICY, "since must be a sequence number")
            return
        try:
            async with rt.engine.connect() as conn:
                principal = await principal_for(conn, ws.query_params.get("token", ""))
        except Unauthenticated as exc:
            await self._refuse(ws, CLOSE_POLICY, str(exc))
            return
        except Exception:
            log.exception("websocket authentication failed")
            await self._refuse(ws, CLOSE_UNAVAILABLE, "unavailable")
            return
        await ws.accept()
        await self._run(rt.hub, principal, since, receive, send)

    async def _refuse(self, ws: WebSocket, code: int, reason: str) -> None:
        await ws.accept()
        await ws.close(code, reason)

    async def _run(
        self, hub: Hub, principal: Principal, since: int | None, receive: Receive, send: Send
    ) -> None:
        sock = hub.attach(send, principal)
        try:
            await hub.presence.opened(principal.tenant_id, principal.agent_id)
            await hub.open(sock, since)
            await self._serve(hub, sock, receive)
        except OSError:
            pass  # the client went away mid-send
        except Exception:  # storage down while connecting: the client retries with since
            log.exception("websocket of agent %s failed", principal.agent_id)
            with contextlib.suppress(Exception):
                await send(close(CLOSE_UNAVAILABLE, "unavailable"))
        finally:
            hub.detach(sock)
            hub.presence.closed(principal.agent_id)

    async def _serve(self, hub: Hub, sock: Socket, receive: Receive) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            sock.last_seen = loop.time()
            data = message.get("text")
            if data == _PING:
                sock.push(PONG)
            elif data:
                await self._frame(hub, sock, data)

    async def _frame(self, hub: Hub, sock: Socket, data: str) -> None:
        try:
            frame: Any = json.loads(data)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind == "ping":
            sock.push(PONG)
        elif kind == "typing":
            cid = frame.get("conversation_id")
            if isinstance(cid, int) and not isinstance(cid, bool) and not sock.closed:
                await hub.typing(sock, cid)


routes: list[BaseRoute] = [WebSocketRoute("/ws", RealtimeEndpoint())]
