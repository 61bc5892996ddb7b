"""Migrations from empty on both databases give exactly the models' schema; concurrent starts are safe."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from inbox.db import create_engine
from inbox.migrate import migrate
from inbox.models import metadata
from tests.conftest import create_pg_database, drop_pg_database, pg_ok


def _diff(sync_conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True, "compare_server_default": False})
    return list(compare_metadata(ctx, metadata))


def _state(sync_conn: Any) -> tuple[list[str], Any]:
    return sorted(inspect(sync_conn).get_table_names()), MigrationContext.configure(
        sync_conn
    ).get_current_revision()


async def _check_fresh(url: str) -> None:
    engine = create_engine(url)
    try:
        await asyncio.gather(migrate(engine), migrate(engine), migrate(engine))  # concurrent starts
        async with engine.connect() as conn:
            tables, revision = await conn.run_sync(_state)
            diff = await conn.run_sync(_diff)
        assert set(metadata.tables) <= set(tables)
        assert revision is not None
        assert diff == [], f"migrations and inbox/models.py disagree: {diff}"
    finally:
        await engine.dispose()


async def test_sqlite_from_empty(tmp_path: Path) -> None:
    await _check_fresh(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


async def test_postgresql_from_empty_with_concurrent_migrators() -> None:
    if not pg_ok():
        pytest.skip("PostgreSQL not configured")
    url = await create_pg_database()
    try:
        await _check_fresh(url)
    finally:
        await drop_pg_database(url)
