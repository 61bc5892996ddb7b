"""Processes of a bench run: servers, the load generator, websocket clients, the `inbox` CLI.

Owns starting, probing and stopping child processes (always on 127.0.0.1) and reading a server's
memory from /proc. Every wait is bounded; every process started here is stopped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _more_fds() -> None:
    """Runs in the child before exec: thousands of sockets need more than the usual 1,024 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The live children of `pid`, theirs, and so on (`inbox serve --workers N`'s servers)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        for task in _listdir(f"/proc/{todo.pop()}/task"):
            with contextlib.suppress(OSError):
                kids = [int(c) for c in Path(task, "children").read_text().split()]
                found += kids
                todo += kids
    return found


def _listdir(path: str) -> list[Path]:
    try:
        return list(Path(path).iterdir())
    except OSError:
        return []


def cpu_by_pid(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds so far of each process still there."""
    out: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            out[pid] = cpu_seconds(pid)
    return out


def pids_named(name: str) -> list[int]:
    """Processes whose command is `name` (postgres, redis-server): on this box, whoever runs them."""
    found = []
    for d in _listdir("/proc"):
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() == name:
                    found.append(int(d.name))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


async def _http_get_status(port: int, path: str) -> int | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), 5)
        return int(line.split()[1]) if line.startswith(b"HTTP/") else None
    except (OSError, TimeoutError, ValueError, IndexError):
        return None
    finally:
        writer.close()


async def post(port: int, request: bytes) -> tuple[int, float]:
    """Sends one pre-built request on a fresh connection; returns (status, when it was written)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        sent = time.monotonic()
        writer.write(request)
        line = await asyncio.wait_for(reader.readline(), 30)
        return int(line.split()[1]), sent
    finally:
        writer.close()


class Server:
    """A child server process: `inbox serve` or one of `benchmarks.bare`'s apps."""

    def __init__(self, argv: Sequence[str], port: int, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.log = b""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        """The server's CPU so far, its child processes' included (`--workers N`)."""
        return sum(cpu_by_pid([self.pid, *descendants(self.pid)]).values())

    async def start(self, health_path: str | None = None, within: float = 60) -> Server:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_more_fds,
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                break
            status = await (_http_get_status(self.port, health_path) if health_path else self._tcp_open())
            if status == 200 or (health_path is None and status is not None):
                return self
            await asyncio.sleep(0.05)
        await self.stop()
        raise BenchError(
            f"{' '.join(self.argv[:4])} did not start: {self.log.decode(errors='replace')[-2000:]}"
        )

    async def _tcp_open(self) -> int | None:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return None
        w.close()
        return 0

    async def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        try:
            _, err = await asyncio.wait_for(p.communicate(), 15)
            self.log += err or b""
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            await p.wait()
        self.proc = None
        if os.environ.get("INBOX_BENCH_DEBUG") and self.log.strip():
            sys.stderr.write(
                f"--- {' '.join(self.argv[2:4])} said:\n{self.log.decode(errors='replace')[-5000:]}\n"
            )


@contextlib.asynccontextmanager
async def running(server: Server, health_path: str | None = None) -> AsyncIterator[Server]:
    await server.start(health_path)
    try:
        yield server
    finally:
        await server.stop()


def python(*module_args: str) -> list[str]:
    return [sys.executable, "-m", *module_args]


async def loadgen(spec: dict[str, Any], within: float) -> dict[str, Any]:
    """Runs `benchmarks.loadgen` in its own process with `spec`; returns its result."""
    proc = await asyncio.create_subprocess_exec(
        *python("benchmarks.loadgen"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(spec).encode()), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise BenchError("the load generator did not finish in time") from None
    if proc.returncode != 0:
        raise BenchError(f"load generator failed: {err.decode(errors='replace')[-2000:]}")
    return dict(json.loads(out))


class WsClients:
    """Websocket client processes (`benchmarks.wsclient`), sockets spread evenly over them."""

    def __init__(self, port: int, paths: list[str], processes: int = 1) -> None:
        self.port = port
        self.paths = paths
        self.n = max(1, min(processes, len(paths)))
        self.procs: list[asyncio.subprocess.Process] = []

    async def _ask(self, proc: asyncio.subprocess.Process, data: dict[str, Any], within: float) -> Any:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(data) + "\n").encode())
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), within)
        if not line:
            raise BenchError("a websocket client process died")
        return json.loads(line)

    async def connect(self, within: float = 120) -> dict[str, Any]:
        per = -(-len(self.paths) // self.n)
        for _ in range(self.n):
            proc = await asyncio.create_subprocess_exec(
                *python("benchmarks.wsclient"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                limit=1 << 28,
                preexec_fn=_more_fds,
            )
            self.procs.append(proc)
        spec = [
            {"port": self.port, "paths": self.paths[i * per : (i + 1) * per], "first_index": i * per}
            for i in range(self.n)
        ]
        answers = await asyncio.gather(
            *(self._ask(p, s, within) for p, s in zip(self.procs, spec, strict=True))
        )
        return {
            "connected": sum(a["connected"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "errors": [e for a in answers for e in a["errors"]][:3],
        }

    async def wait_all(self, mid: int, within: float) -> dict[str, Any]:
        """Waits (bounded) until every connected socket got message `mid`; `last` is the latest arrival."""
        answers = await asyncio.gather(
            *(self._ask(p, {"cmd": "wait", "id": mid, "timeout": within}, within + 10) for p in self.procs)
        )
        lasts = [a["last"] for a in answers if a["last"] is not None]
        return {"got": sum(a["got"] for a in answers), "last": max(lasts) if lasts else None}

    async def report(self) -> list[tuple[int, int, float]]:
        answers = await asyncio.gather(*(self._ask(p, {"cmd": "report"}, 60) for p in self.procs))
        return [tuple(r) for a in answers for r in a["records"]]

    async def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                await self._ask(p, {"cmd": "close"}, 10)
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            await p.wait()
        self.procs = []


# --- the `inbox` CLI and PostgreSQL databases ----------------------------------------------------


async def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    """`inbox ARGS --json` in a child process; returns its JSON."""
    proc = await asyncio.create_subprocess_exec(
        *python("inbox.cli", *args, "--json"),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode != 0:
        raise BenchError(f"inbox {' '.join(args)}: {err.decode(errors='replace').strip()[-500:]}")
    return dict(json.loads(out))


def _asyncpg_url(url: str) -> Any:
    return make_url(url).set(drivername="postgresql+asyncpg")


async def pg_connect(url: str) -> Any:
    """A plain asyncpg connection to the database of `url` (SQLAlchemy form)."""
    import asyncpg

    u = _asyncpg_url(url)
    return await asyncpg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database=u.database or "postgres",
        timeout=10,
    )


async def _pg_admin(url: str, sql: str) -> None:
    conn = await pg_connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def pg_database(server_url: str) -> AsyncIterator[str]:
    """A fresh database on the PostgreSQL server of `server_url`, dropped afterwards."""
    name = f"inbox_bench_{secrets.token_hex(5)}"
    await _pg_admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield _asyncpg_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def pg_reachable(server_url: str) -> str | None:
    """None when reachable, else the reason."""
    try:
        await _pg_admin(server_url, "SELECT 1")
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
