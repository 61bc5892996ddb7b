"""Session fixtures: one database per backend (SQLite always; PostgreSQL when reachable), migrated
once, and one running app per backend. Tests create their own tenants.

PostgreSQL comes from INBOX_TEST_DATABASE_URL (a server URL; each run creates and drops its own
databases on it, tests/databases.py). With INBOX_TEST_REQUIRE_POSTGRES=1 (CI) an unreachable server
is an error, and a run in which no PostgreSQL test ran fails.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

import inbox.auth
from inbox.config import Settings
from tests.databases import PG_URL, REQUIRE_PG, migrated_database, pg_ok
from tests.support import App, running_app

# Real argon2, at its cheapest: production costs take ~0.3-0.5 s per hash or login on a busy 2-vCPU
# box, and every test creates and logs in several agents.
inbox.auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

REDIS_URL = os.environ.get("INBOX_TEST_REDIS_URL", "")
_pg_tests_passed = 0


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
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller sees every worker's reports and judges
    if REQUIRE_PG and exitstatus == 0 and session.testscollected and _pg_tests_passed == 0:
        print("\nINBOX_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL test ran")
        session.exitstatus = 1


# Tests that run processes or servers of their own (`inbox serve` subprocesses, the fault suite's
# PostgreSQL and Redis, the benchmark, the demo, schemathesis' thousands of requests). Under xdist
# (`--dist loadgroup`) each group runs on one worker, one test at a time, so that at most two of them
# (one per group) share the 2-core box, while the other tests fill the gaps. The fault suite stays in
# one group: its PostgreSQL and Redis servers are restarted under the tests.
SOLO = {
    "solo-faults": (
        "tests/faults/",
        "tests/inbox/realtime/test_serve_processes.py",
        "tests/inbox/realtime/test_hammer.py",
        "tests/inbox/workers/test_outbox_processes.py",
    ),
    "solo-tools": (
        "tests/benchmarks/",
        "tests/demo/",
        "tests/inbox/test_backup.py",
        "tests/inbox/test_first_run.py",
        "tests/inbox/api/test_openapi.py",
        "tests/test_serve_workers.py",
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for group, paths in SOLO.items():
            if item.nodeid.startswith(paths):
                item.add_marker(pytest.mark.xdist_group(group))


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
    async with migrated_database(backend_name, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


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
        provider_env={
            "NOTIFICAME_API_URL": "http://127.0.0.1:9/v1",
            "META_GRAPH_URL": "http://127.0.0.1:9/v21.0",
        },
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
