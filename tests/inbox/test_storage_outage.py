"""A storage outage answers 503 (the provider retries) and loses nothing once storage is back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.config import Settings
from tests.databases import create_pg_database, drop_pg_database, migrated_database, pg_admin_execute, pg_ok
from tests.support import notificame_message, running_app


async def _texts(conn: AsyncConnection, tenant_id: int) -> list[str | None]:
    """The tenant's message texts in the order they were stored."""
    q = select(m.messages.c.text).where(m.messages.c.tenant_id == tenant_id).order_by(m.messages.c.id)
    return list((await conn.execute(q)).scalars().all())


async def test_webhook_answers_503_while_postgresql_is_down(tmp_path: object) -> None:
    if not pg_ok():
        pytest.skip("PostgreSQL not configured")
    from inbox.db import create_engine
    from inbox.migrate import migrate

    url = await create_pg_database()
    name = make_url(url).database
    try:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        settings = Settings(database_url=url, data_dir=tmp_path, secret_key="k", workers=False)  # type: ignore[arg-type]
        async with running_app(settings) as app:
            tenant = await app.tenant()
            ch = await tenant.channel()
            first = notificame_message(ch, text="antes", sender="5511911112222")
            assert (await app.post_webhook(ch, first)).status_code == 200

            await pg_admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await pg_admin_execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            during = notificame_message(ch, text="durante", sender="5511911112222")
            r = await app.post_webhook(ch, during)
            assert r.status_code == 503
            health = await app.http.get("/healthz")
            assert health.status_code == 503

            await pg_admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            # The provider retries the same delivery: stored once, nothing lost.
            assert (await app.post_webhook(ch, during)).status_code == 200
            assert (await app.post_webhook(ch, during)).status_code == 200
            async with app.runtime.engine.connect() as conn:
                texts = await _texts(conn, tenant.id)
                n = (await conn.execute(select(func.count()).select_from(m.conversations))).scalar_one()
            assert texts == ["antes", "durante"]
            assert n == 1
            assert (await app.http.get("/healthz")).status_code == 200
    finally:
        await pg_admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await drop_pg_database(url)


async def test_terminated_backends_cost_one_503_then_the_pool_reconnects(tmp_path: Path) -> None:
    """The webhook batch runs on the raw asyncpg connection (inbox.db.fetch_raw): when PostgreSQL
    cuts every backend (a restart, pg_terminate_backend), the batch that meets a dead connection
    answers 503 and invalidates the pool's whole generation, as SQLAlchemy does, so the next webhook
    gets a fresh connection instead of the next dead one; the retried delivery is stored once."""
    if not pg_ok():
        pytest.skip("PostgreSQL not configured")
    async with migrated_database("postgresql", tmp_path) as url:
        name = make_url(url).database
        settings = Settings(database_url=url, data_dir=tmp_path, secret_key="k", workers=False)
        async with running_app(settings) as app:
            tenant = await app.tenant()
            ch = await tenant.channel()
            first = notificame_message(ch, text="antes", sender="5511911113333")
            assert (await app.post_webhook(ch, first)).status_code == 200
            # Several connections in the pool, all of which the kill below cuts.
            held = [await app.runtime.engine.connect() for _ in range(4)]
            for conn in held:
                await conn.exec_driver_sql("SELECT 1")
            for conn in held:
                await conn.close()
            pool = app.runtime.engine.pool
            assert pool.checkedin() >= 4  # type: ignore[attr-defined]

            await pg_admin_execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            during = notificame_message(ch, text="durante", sender="5511911113333")
            assert (await app.post_webhook(ch, during)).status_code == 503
            # Without the pool's invalidation this would meet the next dead connection.
            assert (await app.post_webhook(ch, during)).status_code == 200
            assert (await app.post_webhook(ch, during)).status_code == 200
            after = notificame_message(ch, text="depois", sender="5511911113333")
            assert (await app.post_webhook(ch, after)).status_code == 200
            async with app.runtime.engine.connect() as conn:
                texts = await _texts(conn, tenant.id)
            assert texts == ["antes", "durante", "depois"]
