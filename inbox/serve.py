"""`inbox serve`: migrate, bootstrap the first tenant on an empty database, run uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

import uvicorn

from inbox.config import Settings


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


def serve(settings: Settings, *, host: str, port: int) -> None:
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
    from inbox.app import create_app

    config = uvicorn.Config(
        create_app(settings),
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
    # Everything loaded so far lives as long as the process: the cyclic collector stops scanning it,
    # and collects young objects every 20,000 allocations instead of 700. Under load the default
    # ran a collection every few requests (measured: 15-20% more webhooks/s with this). Pauses,
    # measured over 20,000-70,000 ingested webhooks: young collections up to 15 ms, no full one;
    # with the defaults, full collections of the unfrozen heap took 60-75 ms every ~5,000 webhooks.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    from inbox.backup import serving

    # Held while serving, so that `inbox restore` refuses to replace the file under a live server.
    with serving(settings):
        uvicorn.Server(config).run()
