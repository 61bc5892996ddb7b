"""Migrations from empty on both databases give exactly the models' schema; concurrent starts are safe."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.schema import CreateIndex

from inbox.db import create_engine
from inbox.migrate import migrate
from inbox.models import metadata, schema_compared
from tests.databases import create_pg_database, drop_pg_database, pg_ok

# Indexes on expressions, which SQLAlchemy does not reflect from SQLite (SQLAlchemy and Alembic warn
# and skip them): there their stored CREATE INDEX is compared with the models' instead.
EXPRESSION_INDEXES = ("ix_conversations_sla_clock",)


def _diff(sync_conn: Connection) -> list[Any]:
    opts = {"compare_type": True, "compare_server_default": False, "include_name": schema_compared}
    ctx = MigrationContext.configure(sync_conn, opts=opts)
    with warnings.catch_warnings():
        for name in EXPRESSION_INDEXES:
            warnings.filterwarnings(
                "ignore", f"Skipped unsupported reflection of expression-based index {name}$"
            )
            warnings.filterwarnings(
                "ignore", f"autogenerate skipping metadata-specified expression-based index '{name}'"
            )
        diff = list(compare_metadata(ctx, metadata))
    if sync_conn.dialect.name == "sqlite":
        diff += _sqlite_expression_index_diff(sync_conn)
    return diff


def _sqlite_expression_index_diff(sync_conn: Connection) -> list[Any]:
    models = {str(i.name): i for t in metadata.tables.values() for i in t.indexes}
    diff = []
    for name in EXPRESSION_INDEXES:
        stored = sync_conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"), {"name": name}
        ).scalar()
        wanted = str(CreateIndex(models[name]).compile(dialect=sync_conn.dialect))
        if " ".join(str(stored).split()) != " ".join(wanted.split()):
            diff.append(("index", name, stored, wanted))
    return diff


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


async def _upgrade_keeps_every_row(url: str, settings: Any) -> None:
    """A database at 0001 with a conversation, a message, a queued reply and their events: 0002
    rebuilds `messages` on SQLite, which must not cascade to the outbox, and leaves foreign keys on."""
    from sqlalchemy import MetaData, func, insert, select

    from inbox import models as m
    from inbox.actions.replies import create_reply
    from inbox.runtime import Runtime

    engine = create_engine(url)
    await migrate(engine, "0001")
    await engine.dispose()
    rt = Runtime(settings.but(database_url=url, workers=False))
    try:
        # The tenant and channel as rows: today's admin actions also write tables that later
        # migrations add (the audit log, 0003).
        now = m.utcnow()
        async with rt.engine.begin() as conn:
            new_tenant = insert(m.tenants).values(name="Antes", settings={}, created_at=now)
            tenant = {"id": (await conn.execute(new_tenant.returning(m.tenants.c.id))).scalar_one()}
            new_channel = insert(m.channels).values(
                tenant_id=tenant["id"], kind="whatsapp", provider="notificame", name="W",
                webhook_key="k-0001", external_id="nm-1",
                secrets=rt.box.seal({"notificame_token": "t"}), settings={}, created_at=now,
            )  # fmt: skip
            made = {"id": (await conn.execute(new_channel.returning(m.channels.c.id))).scalar_one()}
        # The rows as 0001 knew them (its tables reflected): today's code writes columns that later
        # migrations add.
        old = MetaData()
        async with rt.engine.begin() as conn:
            await conn.run_sync(lambda sync: old.reflect(sync))
            t = old.tables
            now = m.utcnow().replace(tzinfo=None)  # reflected columns are plain timestamps

            async def add(table: str, **values: Any) -> int:
                return (
                    await conn.execute(insert(t[table]).values(**values).returning(t[table].c.id))
                ).scalar_one()

            contact = await add(
                "contacts",
                tenant_id=tenant["id"],
                name="Ana",
                lead_status="new",
                attributes={},
                created_at=now,
            )
            await add(
                "contact_identities",
                tenant_id=tenant["id"],
                contact_id=contact,
                kind="whatsapp",
                external_id="5511900000001",
            )
            conv_id = await add(
                "conversations",
                tenant_id=tenant["id"],
                channel_id=made["id"],
                contact_id=contact,
                status="queued",
                created_at=now,
                last_message_at=now,
                last_inbound_at=now,
                queued_at=now,
                bot_turns=0,
                unread_count=1,
            )
            common = {
                "tenant_id": tenant["id"],
                "conversation_id": conv_id,
                "channel_id": made["id"],
                "kind": "text",
                "attachments": [],
                "deleted": False,
                "created_at": now,
            }
            await add(
                "messages",
                direction="in",
                sender_type="contact",
                sender_id=contact,
                text="oi",
                status="received",
                provider_message_id="m-1",
                **common,
            )
            reply = await add(
                "messages",
                direction="out",
                sender_type="system",
                text="olá",
                status="queued",
                client_id="k-1",
                **common,
            )
            await add(
                "outbox",
                tenant_id=tenant["id"],
                message_id=reply,
                conversation_id=conv_id,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            await conn.execute(
                insert(t["events"]).values(
                    tenant_id=tenant["id"],
                    seq=1,
                    type="message.created",
                    conversation_id=conv_id,
                    frame="{}",
                    created_at=now,
                )
            )

        async def counts() -> list[int]:
            async with rt.engine.connect() as conn:
                return [
                    (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                    for t in (m.messages, m.outbox, m.events, m.conversations)
                ]

        before = await counts()
        assert before[:2] == [2, 1]
        await migrate(rt.engine)
        assert await counts() == before
        async with rt.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            if rt.engine.dialect.name == "sqlite":
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        async with rt.uow() as uow:  # the reply's idempotency key still holds
            _, created = await create_reply(
                uow, tenant["id"], conv_id, text="olá", sender_type="system", sender_id=None, client_id="k-1"
            )
        assert not created and await counts() == before
    finally:
        await rt.stop()


async def test_sqlite_upgrade_from_0001_keeps_every_row(tmp_path: Path, settings: Any) -> None:
    await _upgrade_keeps_every_row(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", settings)


async def test_postgresql_upgrade_from_0001_keeps_every_row(settings: Any) -> None:
    if not pg_ok():
        pytest.skip("PostgreSQL not configured")
    url = await create_pg_database()
    try:
        await _upgrade_keeps_every_row(url, settings)
    finally:
        await drop_pg_database(url)
