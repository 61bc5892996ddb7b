"""The fault suite's own PostgreSQL and Redis servers: start, stop (as a crash or a shutdown),
start again on the same port. PostgreSQL 15 runs from /usr/lib/postgresql/15/bin as the `postgres`
OS user when we are root (initdb refuses root); Redis from `redis-server` on PATH.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import time
from pathlib import Path

import asyncpg
import pytest
from redis import asyncio as aioredis

PG_BIN = Path(os.environ.get("INBOX_FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
REQUIRE = (
    os.environ.get("INBOX_TEST_REQUIRE_POSTGRES") == "1" or os.environ.get("INBOX_TEST_REQUIRE_REDIS") == "1"
)
START_WITHIN = 30.0


def missing(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"fault suite: {reason} (required: INBOX_TEST_REQUIRE_POSTGRES/REDIS=1)")
    pytest.skip(f"fault suite: {reason}")


async def _run(*argv: str) -> str:
    """Run a command to completion; its output, or AssertionError with the output on failure."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}: {text}")
    return text


class PgServer:
    """A throwaway PostgreSQL cluster: `stop()` (fast shutdown) and `start()` on the same port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"
        self.port = port
        self.restarts = 0
        # initdb and postgres refuse to run as root.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _pg(self, tool: str, *args: str) -> list[str]:
        return [*self._as, str(PG_BIN / tool), *args]

    async def init(self) -> None:
        self.sockets.mkdir()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        await _run(*self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"))

    async def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        await _run(
            *self._pg(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start"
            )
        )

    async def stop(self, mode: str = "fast") -> None:
        await _run(*self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"))

    async def restart(self) -> None:
        await self.stop()
        await self.start()
        self.restarts += 1

    async def ensure_running(self) -> None:
        """After a test that stopped the server, whatever happened to it: up again for the next."""
        if not (self.data / "postmaster.pid").exists():
            await self.start()

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"faults_{secrets.token_hex(5)}"
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name


class RedisServer:
    """A throwaway Redis without persistence: `stop()` (SHUTDOWN NOSAVE) and `start()` on one port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0

    async def ping(self) -> bool:
        client = aioredis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(await client.ping())
        except Exception:
            return False
        finally:
            await client.aclose()

    async def start(self) -> None:
        redis_server = shutil.which("redis-server")
        assert redis_server is not None
        self.proc = await asyncio.create_subprocess_exec(
            redis_server,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--logfile", str(self.root / "redis.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_WITHIN
        while not await self.ping():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start: {(self.root / 'redis.log').read_text()}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        redis_cli = shutil.which("redis-cli")
        if redis_cli is not None:
            proc = await asyncio.create_subprocess_exec(
                redis_cli, "-p", str(self.port), "shutdown", "nosave",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.wait_for(proc.wait(), timeout=10)
        if self.proc is not None:
            if self.proc.returncode is None and redis_cli is None:
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
            self.proc = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()
        self.restarts += 1

    async def ensure_running(self) -> None:
        """After a test that stopped the server, whatever happened to it: up again for the next."""
        if self.proc is None or self.proc.returncode is not None:
            await self.start()
