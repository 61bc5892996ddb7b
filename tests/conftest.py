"""Session fixtures: one database per backend (SQLite always; PostgreSQL when reachable), migrated
once, and one running app per backend. Tests create their own tenants.

PostgreSQL comes from INBOX_TEST_DATABASE_URL (a server URL; each run creates and drops its own
database on it). With INBOX_TEST_REQUIRE_POSTGRES=1 (CI) an unreachable server is an error, and a
run in which no PostgreSQL test ran fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

import inbox.auth
from inbox.config import Settings
from inbox.db import create_engine
from inbox.migrate import migrate
from tests.support import App, running_app

# Real argon2, at its cheapest: production costs take ~0.3-0.5 s per hash or login on a busy 2-vCPU
# box, and every test creates and logs in several agents.
inbox.auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

PG_URL = os.environ.get("INBOX_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("INBOX_TEST_REDIS_URL", "")
REQUIRE_PG = os.environ.get("INBOX_TEST_REQUIRE_POSTGRES") == "1"
_pg_tests_passed = 0


def _asyncpg_url(url: str) -> str:
    u = make_url(url)
    return str(u.set(drivername="postgresql+asyncpg")) if u.get_backend_name() == "postgresql" else url


async def _pg_admin_execute(sql: str) -> None:
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
    await _pg_admin_execute(f'CREATE DATABASE "{name}"')
    return make_url(_asyncpg_url(PG_URL)).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    await _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_available() -> bool:
    if not PG_URL:
        return False
    try:
        asyncio.run(_pg_admin_execute("SELECT 1"))
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


def pytest_configure(config: pytest.Config) -> None:
    # Probed here, before any event loop runs (the probe uses asyncio.run).
    pg_ok()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", "postgresql"], scope="session")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _pg_tests_passed
    if report.when == "call" and report.passed and "[postgresql" in report.nodeid:
        _pg_tests_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_PG and exitstatus == 0 and session.testscollected and _pg_tests_passed == 0:
        print("\nINBOX_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL test ran")
        session.exitstatus = 1


def pytest_report_header() -> list[str]:
    return [f"postgresql: {PG_URL or 'not configured'}; redis: {REDIS_URL or 'not configured'}"]


@pytest.fixture(scope="session")
def backend_name(backend: str) -> str:
    if backend == "postgresql" and not pg_ok():
        pytest.skip("PostgreSQL not configured (INBOX_TEST_DATABASE_URL)")
    return backend


@pytest.fixture(scope="session")
async def database_url(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated database for the whole session."""
    if backend_name == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "inbox.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = await create_pg_database()
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    yield url
    if backend_name == "postgresql":
        await drop_pg_database(url)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    """Settings for the session's app. Provider URLs point at nothing until a test's fake does."""
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key="test-secret-key",
        log_level="warning",
        provider_env={"NOTIFICAME_API_URL": "http://127.0.0.1:9/v1", "META_GRAPH_URL": "http://127.0.0.1:9/v21.0"},
        workers=False,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[App]:
    """The session's running app (background workers off) on this backend."""
    async with running_app(settings) as a:
        yield a


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
