"""Alembic environment. Run through `inbox migrate` (inbox/migrate.py), which passes a connection
already holding the migration lock; `alembic` on the command line works too (sqlalchemy.url)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from inbox.models import metadata, schema_compared

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            include_name=schema_compared,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url or run `inbox migrate`"
    engine = create_engine(url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg"))
    with engine.begin() as conn:
        context.configure(
            connection=conn, target_metadata=metadata, render_as_batch=True, include_name=schema_compared
        )
        with context.begin_transaction():
            context.run_migrations()


run()
