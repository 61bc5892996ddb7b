"""`inbox serve`: migrate, bootstrap the first tenant on an empty database, run uvicorn (one process,
or N on one socket: inbox/supervise.py).

Owns the start-up order: refusals first, then migrations and first-run bootstrap once, then serving.
"""

from __future__ import annotations

import asyncio
import logging
import sys

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
        from inbox.supervise import Supervisor, run_server

        if n == 1:
            return 0 if run_server(settings, host, port) else 3
        return Supervisor(settings, host, port, n).run()
