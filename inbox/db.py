"""Engine creation and the few dialect differences the core needs.

Owns connecting (SQLite pragmas, pool sizes) and the dialect-specific `insert` (ON CONFLICT).
Must not hold business rules: those live in `inbox.actions`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import ColumnElement, Select, Subquery, Table, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, NotSupportedError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class StorageUnavailable(Exception):
    """The database could not be reached; webhooks answer 503 so that the provider retries."""


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers (API, websocket replay) run while the writer commits.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "savepoint")
        def _begin_first(conn: Any, _name: str) -> None:
            # pysqlite opens a transaction only before DML, so a SAVEPOINT that comes first opens it
            # itself, and its RELEASE then commits (SQLite: releasing the outermost savepoint is a
            # COMMIT), whatever the unit of work does afterwards. Opening it here keeps the savepoint
            # nested. IMMEDIATE takes the write lock now (a savepoint is for writing), through the busy
            # handler, so a read inside cannot meet a newer snapshot (SQLITE_BUSY_SNAPSHOT) on its write.
            if not conn.connection.driver_connection.in_transaction:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping: it costs three round trips on every checkout (BEGIN / ; / ROLLBACK), a fifth of a
    # webhook batch's. A connection found dead instead fails its statement: SQLAlchemy then discards
    # the whole pool, the request answers 503 and the provider retries; the next checkout reconnects.
    # Connections are recycled hourly so that idle ones do not outlive server-side timeouts.
    kwargs.setdefault("pool_recycle", 3600)
    return create_async_engine(url, **kwargs)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def insert(engine_or_dialect: AsyncEngine | str, table: Table) -> Any:
    """The dialect's INSERT, which has `.on_conflict_do_nothing()` on both SQLite and PostgreSQL."""
    name = engine_or_dialect if isinstance(engine_or_dialect, str) else engine_or_dialect.dialect.name
    return sqlite.insert(table) if name == "sqlite" else postgresql.insert(table)


def sqlstate(exc: BaseException) -> str:
    """PostgreSQL's SQLSTATE of `exc`, or "": asyncpg's own errors carry it (raised unwrapped by
    `fetch_raw`), SQLAlchemy's carry the driver's error as `orig`."""
    for err in (exc, getattr(exc, "orig", None)):
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if state:
            return str(state)
    return ""


def is_connection_error(exc: BaseException) -> bool:
    """True for errors that mean storage is unavailable (answer 503, retry later), as opposed to a
    statement of ours being wrong (integrity, syntax, data: a bug or a bad input, never retried)."""
    if isinstance(exc, (ConnectionError, OSError, TimeoutError, StorageUnavailable)):
        return True
    if isinstance(exc, asyncpg.PostgresError):  # raised unwrapped by `fetch_raw`: the rule below
        return sqlstate(exc)[:2] not in ("22", "23", "42")
    if isinstance(exc, sqlite3.Error):  # raised unwrapped by SQLite's raw batch (sqlite_raw.py)
        # Locked past the busy timeout, I/O, a full disk, a read-only file: not the statement's fault.
        ours = sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.DataError, sqlite3.NotSupportedError
        return not isinstance(exc, ours)
    if isinstance(exc, DBAPIError):
        if isinstance(exc, (IntegrityError, ProgrammingError, DataError, NotSupportedError)):
            return False
        # PostgreSQL's SQLSTATE classes 22 (data), 23 (integrity) and 42 (syntax, access) are about
        # the statement, not the server: drivers do not always map them to the classes above.
        return sqlstate(exc)[:2] not in ("22", "23", "42")
    return False


def picked(pick: Select[Any], dialect: str, of: Table) -> Any:
    """The ids a claim's UPDATE may take (`WHERE id IN (picked(...))`): `pick` selects the ids of
    `of`'s claimable rows, ordered and limited. On PostgreSQL they are locked with SKIP LOCKED and
    picked once, in a MATERIALIZED CTE: as a plain subquery of the UPDATE, PostgreSQL may run it
    again for each row it compares, and with SKIP LOCKED each run picks other rows (a claim of 1
    took 3: tests/inbox/workers/test_job_lanes.py). SQLite has one writer: the subquery is enough."""
    if dialect != "postgresql":
        return pick.scalar_subquery()
    cte = pick.with_for_update(of=of, skip_locked=True).cte("pick").prefix_with("MATERIALIZED")
    return select(cte.c[0])


def distinct_values(column: ColumnElement[Any], *where: Any) -> Subquery:
    """The distinct values of `column` among the rows matching `where`, as a subquery with one
    column, `value`: one index probe per value (the smallest, then the smallest above it, ... a
    recursive CTE), not a read of every matching row. For few values over many rows, with an index
    that starts with `column` and covers `where`: PostgreSQL has no skip scan, and SQLite's needs
    the ANALYZE statistics the product does not gather (docs/benchmark.md, growth)."""
    first = select(func.min(column)).where(*where).scalar_subquery()
    seen = select(first.label("value")).cte("seen", recursive=True)
    above = select(func.min(column)).where(*where, column > seen.c.value).scalar_subquery()
    seen = seen.union_all(select(above).where(seen.c.value.is_not(None)))
    return select(seen.c.value).where(seen.c.value.is_not(None)).subquery()


async def fetch_raw(conn: AsyncConnection, statement: str, *args: Any) -> list[Any]:
    """`statement`'s rows, run on `conn`'s asyncpg connection itself, past SQLAlchemy's execute
    path (for the webhook batch: 0.2 ms less CPU per statement of 16, docs/benchmark.md), as its
    own transaction; asyncpg prepares it once per connection. PostgreSQL's errors are raised as asyncpg
    raises them (`sqlstate` and `is_connection_error` classify them); a lost connection is handled
    as SQLAlchemy handles one of its own. On a connection that is not in autocommit the statement
    belongs to the caller's transaction, which SQLAlchemy begins: it goes through SQLAlchemy."""
    sync = conn.sync_connection
    if sync is None or sync.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        return list(await conn.exec_driver_sql(statement, args))
    proxied = await conn.get_raw_connection()
    driver: Any = proxied.driver_connection
    try:
        return await driver.fetch(statement, *args)
    except BaseException as exc:
        if driver.is_closed():  # SQLAlchemy's own test for asyncpg (PGDialect_asyncpg.is_disconnect)
            # As SQLAlchemy does on a disconnect (engine/base.py, _handle_dbapi_exception): every
            # connection of this one's generation is replaced at its next checkout (a restart or a
            # terminated backend cut them all, and no pre-ping would notice), this one now.
            conn.sync_engine.pool._invalidate(proxied, exc, _checkin=False)
            await conn.invalidate(exc)
            if isinstance(exc, Exception):
                raise StorageUnavailable(f"connection lost: {exc}") from exc
        elif not isinstance(exc, Exception):
            # Cancelled mid-statement: asyncpg may still be cancelling it when the pool would hand
            # the connection out again (SQLAlchemy invalidates on these too).
            await conn.invalidate(exc)
        raise


T = TypeVar("T")


def per_dialect(build: Callable[[str], T]) -> Callable[[str], T]:
    """`build(dialect_name)` once per dialect, then the same object: statements are built once, not
    per call (building them cost more than running them; PERFORMANCE.md)."""
    built: dict[str, T] = {}

    def get(dialect: str) -> T:
        found = built.get(dialect)
        if found is None:
            found = built[dialect] = build(dialect)
        return found

    return get
