"""Run an ASGI app on a real socket on 127.0.0.1 inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: Any, **config: Any) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields its base URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    cfg = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level=config.pop("log_level", "warning"),
        access_log=config.pop("access_log", False),
        lifespan=config.pop("lifespan", "on"),
        ws_per_message_deflate=False,
        **config,
    )
    server = uvicorn.Server(cfg)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited before starting")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
