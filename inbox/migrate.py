"""Apply Alembic migrations, safely when several processes start at once.

PostgreSQL: a session-level advisory lock around the upgrade. SQLite: an exclusive file lock next
to the database file. The first-run bootstrap (first tenant and admin) runs under the same lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inbox.paths import shipped

LOCK_KEY = 7_411_903_322  # arbitrary, constant: "inbox migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(shipped("migrations")))
    return cfg


def _upgrade(conn: Connection, revision: str = "head") -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


@contextlib.asynccontextmanager
async def migration_lock(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    url = engine.url
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            await conn.commit()
            try:
                yield conn
            finally:
                await conn.rollback()
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                await conn.commit()
            return
        database = make_url(str(url)).database
        if not database or database == ":memory:":
            yield conn
            return
        lock_path = Path(database + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # Startup only, before serving anything: a blocking open is fine here.
        with open(lock_path, "a") as fh:  # noqa: ASYNC230
            # flock blocks; in a thread, so that another migrator in this same process (tests, or
            # the CLI's helpers) can still run on the event loop and release it.
            await asyncio.to_thread(fcntl.flock, fh, fcntl.LOCK_EX)
            try:
                yield conn
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


async def upgrade(conn: AsyncConnection, revision: str = "head") -> None:
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # A migration that changes a table's constraints rebuilds it on SQLite (copy, drop, rename):
        # with foreign keys on, dropping the old table would cascade to the rows that reference it.
        # Outside a transaction, where this pragma takes effect; the database is checked after.
        await conn.commit()
        await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        await conn.run_sync(_upgrade, revision)
        if sqlite:
            broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
            if broken:
                raise RuntimeError(f"migration left rows without their referenced rows: {broken[:5]}")
        await conn.commit()
    finally:
        if sqlite:
            await conn.rollback()
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    async with migration_lock(engine) as conn:
        await upgrade(conn, revision)


def current_revision(conn: Connection) -> Any:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()
