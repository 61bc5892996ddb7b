"""The bare baselines and the fake provider, each run as its own uvicorn process.

`python -m benchmarks.bare http|ws|notificame --port P`. Same server settings as `inbox serve`
(uvicorn's defaults pick httptools and uvloop, one process, access log off, no per-message deflate),
so the product's figures are read as ratios to what this stack does with no product code at all.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def http_app() -> Starlette:
    """Reads a webhook-sized JSON body, parses it, answers 200: the floor under any webhook route."""

    async def webhook(request: Request) -> Response:
        body = json.loads(await request.body())
        return PlainTextResponse("ok" if body else "empty")

    return Starlette(routes=[Route("/{path:path}", webhook, methods=["POST"])])


def ws_app() -> Starlette:
    """Holds sockets; `POST /broadcast` sends its body, encoded once, to every socket in turn."""
    sockets: set[WebSocket] = set()

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        sockets.add(ws)
        try:
            await ws.send_text('{"type":"ready","seq":0}')
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(ws)

    async def broadcast(request: Request) -> Response:
        frame = (await request.body()).decode()
        for ws in list(sockets):
            try:
                await ws.send_text(frame)
            except Exception:  # a socket closing meanwhile is not the baseline's concern
                sockets.discard(ws)
        return PlainTextResponse("ok")

    return Starlette(
        routes=[WebSocketRoute("/ws", endpoint), Route("/broadcast", broadcast, methods=["POST"])]
    )


def notificame_app() -> Starlette:
    """A Notifica.me Hub that accepts every send at once, so the outbox is what gets measured."""

    async def send(request: Request) -> Response:
        await request.body()
        return JSONResponse({"id": secrets.token_hex(12)})

    return Starlette(routes=[Route("/{path:path}", send, methods=["POST"])])


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("which", choices=["http", "ws", "notificame"])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    raise_fd_limit()
    app = {"http": http_app, "ws": ws_app, "notificame": notificame_app}[args.which]()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        ws_per_message_deflate=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
