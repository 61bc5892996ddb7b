"""`inbox serve`: migrate, bootstrap the first tenant on an empty database, run uvicorn (one process,
or N on one socket under inbox/supervise.py).

Owns the start-up order: refusals first, then migrations and first-run bootstrap once, then serving.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys
from typing import Any

import uvicorn

from inbox.config import Settings

# The bus schemes other processes hear (inbox/realtime/bus.py `Bus.shared`).
SHARED_BUS = ("redis://", "rediss://")


class ServeError(Exception):
    """A configuration `inbox serve` refuses before touching the database; the one line the CLI prints."""


async def prepare(settings: Settings) -> dict[str, object] | None:
    """Migrations, then (under the same lock) the first tenant and admin on an empty database."""
    from inbox.actions.admin import first_run
    from inbox.migrate import migration_lock, upgrade
    from inbox.runtime import Runtime

    rt = Runtime(settings.but(workers=False))
    try:
        async with migration_lock(rt.engine) as conn:
            await upgrade(conn)
            async with rt.uow() as uow:
                return await first_run(uow)
    finally:
        await rt.stop()


def check(settings: Settings, processes: int) -> None:
    """Refuse several processes without a shared event bus: an agent's socket on one process would
    never see what a webhook stored through another (the log has it, but nothing would tell)."""
    if processes < 1:
        raise ServeError("--workers must be 1 or more")
    if processes > 1 and not settings.broadcast_url.startswith(SHARED_BUS):
        raise ServeError(
            f"--workers {processes} needs a shared event bus: set INBOX_BROADCAST_URL=redis://HOST:6379/0 "
            f"(with {settings.broadcast_url} agents connected to one process would miss events stored "
            "by another)"
        )


def config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=settings.log_level in ("debug", "info"),
        # Browsers ask for per-message deflate by default; for our small frames it doubles memory
        # per socket and halves the delivery rate (PERFORMANCE.md), so it stays off.
        ws_per_message_deflate=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def tune_gc() -> None:
    """Everything loaded so far lives as long as the process: the cyclic collector stops scanning it,
    and collects young objects every 20,000 allocations instead of 700. Under load the default ran a
    collection every few requests (measured: 15-20% more webhooks/s with this). Pauses, measured over
    20,000-70,000 ingested webhooks: young collections up to 15 ms, no full one; with the defaults,
    full collections of the unfrozen heap took 60-75 ms every ~5,000 webhooks. Before a fork it also
    keeps the imported code's pages shared between the children (no refcount-free GC writes)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def run_server(settings: Settings, host: str, port: int, sock: socket.socket | None = None) -> bool:
    """One uvicorn server in this process (on `sock` when given, bound by the parent); False when
    the app did not start (its lifespan failed)."""
    from inbox.app import create_app

    server = uvicorn.Server(config(create_app(settings), settings, host, port))
    tune_gc()
    server.run(sockets=None if sock is None else [sock])
    return server.started


def serve(settings: Settings, *, host: str, port: int, processes: int | None = None) -> int:
    """Returns the exit status (0: stopped by a signal, gracefully)."""
    n = settings.processes if processes is None else processes
    check(settings, n)
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = asyncio.run(prepare(settings))
    if created is not None:
        agent = created["agent"]
        assert isinstance(agent, dict)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        sys.stdout.write(
            "\nFirst run: created a tenant and an admin. This password is shown only once.\n"
            f"  open      http://{shown}:{port}/\n"
            f"  email     {agent['email']}\n"
            f"  password  {created['password']}\n\n"
        )
        sys.stdout.flush()
    from inbox.backup import serving

    # Held while serving, so that `inbox restore` refuses to replace the file under a live server.
    # A shared flock: several processes (and forked children, which inherit it) hold it together.
    with serving(settings):
        if n == 1:
            uvicorn_started = run_server(settings, host, port)
            return 0 if uvicorn_started else 3
        from inbox.supervise import Supervisor

        return Supervisor(settings, host, port, n).run()
