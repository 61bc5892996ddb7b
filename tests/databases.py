"""Test databases: the PostgreSQL test server (INBOX_TEST_DATABASE_URL), a fresh database on it per
use, and `migrated_database`, the one factory for a migrated database of a test's own (SQLite file
or PostgreSQL database, dropped afterwards).

With INBOX_TEST_REQUIRE_POSTGRES=1 (CI) an unreachable server is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from inbox.db import create_engine
from inbox.migrate import migrate

PG_URL = os.environ.get("INBOX_TEST_DATABASE_URL", "")
REQUIRE_PG = os.environ.get("INBOX_TEST_REQUIRE_POSTGRES") == "1"


def _asyncpg_url(url: str) -> str:
    u = make_url(url)
    return str(u.set(drivername="postgresql+asyncpg")) if u.get_backend_name() == "postgresql" else url


async def pg_admin_execute(sql: str) -> None:
    import asyncpg

    u = make_url(_asyncpg_url(PG_URL))
    conn = await asyncpg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database=u.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_pg_database() -> str:
    """A fresh, empty database on the test server; returns its SQLAlchemy URL."""
    name = f"inbox_test_{secrets.token_hex(6)}"
    await pg_admin_execute(f'CREATE DATABASE "{name}"')
    return make_url(_asyncpg_url(PG_URL)).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    await pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_available() -> bool:
    if not PG_URL:
        return False
    try:
        asyncio.run(pg_admin_execute("SELECT 1"))
        return True
    except Exception:
        return False


_PG_OK: bool | None = None


def pg_ok() -> bool:
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _pg_available()
        if REQUIRE_PG and not _PG_OK:
            raise pytest.UsageError(f"INBOX_TEST_REQUIRE_POSTGRES=1 but {PG_URL!r} is not reachable")
    return _PG_OK


@contextlib.asynccontextmanager
async def migrated_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """A migrated database of the caller's own on `backend` ("sqlite": a file in `directory`); yields
    its URL and drops it afterwards (PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / f'inbox-{secrets.token_hex(4)}.db'}"
    else:
        url = await create_pg_database()
    try:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        yield url
    finally:
        if backend == "postgresql":
            await drop_pg_database(url)
