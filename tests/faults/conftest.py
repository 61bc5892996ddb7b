"""The fault suite's own PostgreSQL and Redis: started on free loopback ports in temp dirs, once per
session, so that tests may stop and restart them without touching the shared servers (5432, 6379).

PostgreSQL 15 runs from /usr/lib/postgresql/15/bin as the `postgres` OS user when we are root
(initdb refuses root); Redis from `redis-server` on PATH. Missing binaries skip the suite, unless
INBOX_TEST_REQUIRE_POSTGRES=1 or INBOX_TEST_REQUIRE_REDIS=1 (CI), where they fail it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.serve import free_port
from tests.faults.servers import PG_BIN, PgServer, RedisServer, missing


@pytest.fixture(scope="session")
async def pg_server() -> AsyncIterator[PgServer]:
    """This suite's PostgreSQL 15 (trust auth, fsync off) on a free port."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        missing(f"PostgreSQL binaries not found in {PG_BIN}")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root and there is no `postgres` user to run PostgreSQL as")
        if shutil.which("runuser") is None:
            missing("running as root and `runuser` is missing")
    root = Path(tempfile.mkdtemp(prefix="inbox-faults-pg-"))
    server = PgServer(root, free_port())
    try:
        await server.init()
        await server.start()
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            try:
                await server.stop("immediate")
            except AssertionError as exc:
                print(f"faults: stopping PostgreSQL failed: {exc}")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def redis_server() -> AsyncIterator[RedisServer]:
    """This suite's Redis (no persistence) on a free port."""
    if shutil.which("redis-server") is None:
        missing("redis-server not found on PATH")
    root = Path(tempfile.mkdtemp(prefix="inbox-faults-redis-"))
    server = RedisServer(root, free_port())
    try:
        await server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def fault_backend(request: pytest.FixtureRequest) -> PgServer | None:
    """Each test that asks runs twice: on a SQLite file (None) and on this suite's PostgreSQL (the
    server, started only for that run). Databases come from `harness.new_database`."""
    if request.param == "sqlite":
        return None
    server: PgServer = request.getfixturevalue("pg_server")
    return server
