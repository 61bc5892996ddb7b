"""What the fault tests share: a deployment driven only through the public surface (the `inbox` CLI,
`inbox serve` processes, HTTP, the websocket), a retrying webhook sender, a recording websocket
client, a provider wrapper that can hold answers, and plain-SQL reads for the final counts.

Subprocesses get PYTHONPATH set to this worktree, so they run the code under test, not whatever
`inbox` happens to be installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.exceptions import ConnectionClosed

from tests.fakes.serve import free_port
from tests.faults.servers import PgServer
from tests.support import Channel, notificame_message

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fault suite password"
SECRET = "fault-suite-secret-key"
_PRODUCT_ENV = ("INBOX_", "NOTIFICAME_", "META_", "OPENAI_")


async def wait_until(cond: Callable[[], Any], within: float, what: str, every: float = 0.05) -> None:
    """Poll `cond` (sync or async) until it is true; AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = cond()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(every)


def base_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    # The product's own settings come only from here, never from the caller's shell.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_PRODUCT_ENV)}
    env = {
        **inherited,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "INBOX_DATABASE_URL": database_url,
        "INBOX_BROADCAST_URL": "memory://",
        "INBOX_DATA_DIR": str(data_dir),
        "INBOX_SECRET_KEY": SECRET,
        "INBOX_LOG_LEVEL": "warning",
        "NOTIFICAME_API_URL": "http://127.0.0.1:9/v1",
    }
    env.update(extra)
    return env


async def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    """`python -m inbox.cli ARGS --json`: its one JSON object."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inbox.cli", *args, "--json",
        cwd=env["INBOX_DATA_DIR"], env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, f"inbox {' '.join(args)}: exit {proc.returncode}: {err.decode()}"
    data = json.loads(out)
    assert isinstance(data, dict), out
    return data


async def new_database(server: PgServer | None, folder: Path) -> tuple[str, str]:
    """A new empty database: (SQLAlchemy URL for the product, dsn for `fetch`). A SQLite file in
    `folder` when `server` is None, else a database on that PostgreSQL."""
    if server is None:
        path = folder / f"inbox-{secrets.token_hex(4)}.db"
        return f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}"
    name = await server.create_database()
    return server.url(name), server.dsn(name)


@dataclass
class Site:
    """One tenant with an admin and a Notifica.me WhatsApp channel, on a database of its own."""

    env: dict[str, str]
    dsn: str  # for asyncpg reads
    tenant_id: int
    admin_email: str
    channel: Channel
    logs: Path


async def provision(database_url: str, dsn: str, data_dir: Path, **extra_env: str) -> Site:
    env = base_env(database_url, data_dir, **extra_env)
    tenant = await cli(env, "tenant", "create", "--name", "Fault suite")
    email = "admin@faults.example.com"
    await cli(
        env, "agent", "create", "--tenant", str(tenant["id"]), "--email", email, "--name", "Admin",
        "--password", PASSWORD, "--role", "admin",
    )  # fmt: skip
    nm_channel = "5f0c2a8e-3b1d-4c6e-9a7f-0123456789ab"
    data = await cli(
        env, "channel", "create", "--tenant", str(tenant["id"]), "--kind", "whatsapp",
        "--provider", "notificame", "--name", "WhatsApp", "--notificame-channel", nm_channel,
        "--notificame-token", "nm-token",
    )  # fmt: skip
    channel = Channel(
        data["id"], "whatsapp", "notificame", data["webhook_path"], data, external_id=nm_channel
    )
    return Site(env, dsn, tenant["id"], email, channel, data_dir)


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextlib.asynccontextmanager
async def inbox_serve(env: dict[str, str], log: Path, within: float = 60.0) -> AsyncIterator[Served]:
    """`inbox serve` on a free port, yielded once /healthz answers 200; stopped (SIGTERM, then SIGKILL)
    on exit unless the test killed it already."""
    port = free_port()
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            cwd=env["INBOX_DATA_DIR"], env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    served = Served(proc, port, log)
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=5) as http:

            async def healthy() -> bool:
                assert proc.returncode is None, f"inbox serve exited {proc.returncode}: {served.log_tail()}"
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, within, "inbox serve to answer /healthz")
        yield served
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def ready(url: str, within: float = 30.0) -> None:
    """Wait for /readyz 200 (migrations, database and event bus all up)."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:

        async def ok() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ok, within, f"{url}/readyz")


async def login(url: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])


async def conversation_ids(http: httpx.AsyncClient) -> list[int]:
    """Every conversation the (admin) client sees, through the paginated API."""
    ids: list[int] = []
    cursor: str | None = None
    for _ in range(1000):
        r = await http.get("/api/conversations", params={"cursor": cursor} if cursor else {})
        assert r.status_code == 200, r.text
        body = r.json()
        ids.extend(c["id"] for c in body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return ids
    raise AssertionError("conversation pages never ended")


# --- webhooks --------------------------------------------------------------------------------------


@dataclass
class SendStats:
    delivered: int = 0
    attempts: int = 0
    unavailable: int = 0  # 503 answers
    conn_errors: int = 0  # refused, reset, timed out
    unexpected: list[str] = field(default_factory=list)
    not_200: int = 0


class Burst:
    """Concurrent webhook deliveries over keep-alive, each retried on 503 or a connection error (as
    the provider would) until it is answered 200. Bodies are fed in with `feed`; `close` ends it."""

    def __init__(self, url: str, path: str, *, concurrency: int = 16, attempts: int = 400) -> None:
        self.path = path
        self.stats = SendStats()
        self.attempts = attempts
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        # A client (one keep-alive connection) per worker: one shared pool costs the sender several
        # times the CPU per request at this concurrency (httpx scans its pool on every request).
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._clients = [
            httpx.AsyncClient(base_url=url, timeout=10, limits=limits) for _ in range(concurrency)
        ]
        self._workers = [asyncio.create_task(self._worker(c)) for c in self._clients]

    def feed(self, bodies: Iterable[dict[str, Any] | bytes]) -> None:
        for body in bodies:
            self._queue.put_nowait(body if isinstance(body, bytes) else json.dumps(body).encode())

    async def close(self, within: float) -> SendStats:
        """Wait until everything fed was answered 200 (or a worker gave up), at most `within` seconds."""
        for _ in self._workers:
            self._queue.put_nowait(None)
        try:
            async with asyncio.timeout(within):
                await asyncio.gather(*self._workers)
        finally:
            for w in self._workers:
                w.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            for client in self._clients:
                await client.aclose()
        return self.stats

    async def _worker(self, http: httpx.AsyncClient) -> None:
        headers = {"Content-Type": "application/json"}
        while (body := await self._queue.get()) is not None:
            delay = 0.02
            for _ in range(self.attempts):
                self.stats.attempts += 1
                try:
                    r = await http.post(self.path, content=body, headers=headers)
                except httpx.TransportError:
                    self.stats.conn_errors += 1
                else:
                    if r.status_code == 200:
                        self.stats.delivered += 1
                        break
                    self.stats.not_200 += 1
                    if r.status_code != 503:
                        self.stats.unexpected.append(f"{r.status_code} {r.text[:200]}")
                        break
                    self.stats.unavailable += 1
                await asyncio.sleep(delay)  # the provider's backoff between retries
                delay = min(delay * 2, 0.5)
            else:
                self.stats.unexpected.append(f"gave up after {self.attempts} attempts")


# --- websockets ------------------------------------------------------------------------------------


class WsRecorder:
    """A websocket client that records every frame; if the server closes the socket it reconnects with
    `since` = the last event seq it saw (what the browser does)."""

    def __init__(self, ws_url: str, token: str, name: str) -> None:
        self.ws_url = ws_url
        self.token = token
        self.name = name
        self.frames: list[dict[str, Any]] = []
        self.connects = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if "seq" in f and f.get("type") != "ready"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    @property
    def first_ready(self) -> int:
        return int(self.of_type("ready")[0]["seq"])

    def last_seq(self) -> int | None:
        events = self.events
        return int(events[-1]["seq"]) if events else (self.first_ready if self.of_type("ready") else None)

    def reached(self, seq: int) -> bool:
        return any(int(e["seq"]) >= seq for e in self.events)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"ws:{self.name}")
        await wait_until(lambda: self.of_type("ready"), 20, f"{self.name}: ready frame")

    async def _run(self) -> None:
        for _ in range(50):
            since = self.last_seq()
            url = f"{self.ws_url}/ws?token={self.token}" + (f"&since={since}" if since is not None else "")
            self.connects += 1
            try:
                async with websockets.connect(url, open_timeout=10, max_size=None) as ws:
                    async for raw in ws:
                        self.frames.append(json.loads(raw))
            except (ConnectionClosed, OSError, TimeoutError):
                pass
            await asyncio.sleep(0.2)  # a reconnecting client's pause

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# --- the fake provider, held ------------------------------------------------------------------------


def _sent_text(body: bytes) -> str:
    try:
        return str(json.loads(body)["contents"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


class Held:
    """Wraps a fake provider app. Records the text of every send on arrival (`arrived`) and when its
    answer was fully written (`answered`). The first `pass_first` requests go straight through; later
    ones wait while `gate` is closed (`held` counts them), so a test knows exactly which sends are in
    flight."""

    def __init__(self, app: ASGIApp, *, pass_first: int = 0) -> None:
        self.app = app
        self.pass_first = pass_first
        self.gate = asyncio.Event()
        self.arrived: Counter[str] = Counter()
        self.order: list[str] = []  # texts in arrival order
        self.answered: Counter[str] = Counter()
        self.waiting: Counter[str] = Counter()
        self._count = 0

    @property
    def held(self) -> int:
        return sum(self.waiting.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body")) and message["type"] == "http.request"
        body = b"".join(chunks)
        key = _sent_text(body)
        self.arrived[key] += 1
        self.order.append(key)
        self._count += 1
        if self._count > self.pass_first and not self.gate.is_set():
            self.waiting[key] += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting[key] -= 1

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.answered[key] += 1
            await send(message)

        await self.app(scope, replay, send_)


# --- database reads ----------------------------------------------------------------------------------


def sqlite_path(dsn: str) -> Path | None:
    """The file of a `sqlite:///PATH` dsn; None for PostgreSQL's."""
    return Path(dsn.removeprefix("sqlite:///")) if dsn.startswith("sqlite:///") else None


def _sqlite_fetch(path: Path, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, args))
    finally:
        conn.close()


async def fetch(dsn: str, sql: str, *args: Any) -> list[Any]:
    """Rows of `sql` (asyncpg records, or sqlite3 rows for a `sqlite:///` dsn: both read by column
    name); parameters are `$1` on PostgreSQL and `?` on SQLite."""
    path = sqlite_path(dsn)
    if path is not None:
        return await asyncio.to_thread(_sqlite_fetch, path, sql, args)
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def poll_rows(
    dsn: str,
    sql: str,
    args: tuple[Any, ...],
    done: Callable[[list[Any]], bool],
    within: float,
    what: str,
) -> list[Any]:
    """Re-read `sql` until `done(rows)`; the last rows. Fails after `within` seconds."""
    rows: list[Any] = []

    async def check() -> bool:
        nonlocal rows
        rows = await fetch(dsn, sql, *args)
        return done(rows)

    try:
        await wait_until(check, within, what, every=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last rows: {[dict(r) for r in rows][:20]}") from None
    return rows


async def gather_limited(coros: Iterable[Awaitable[Any]], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Awaitable[Any]) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def seed_replies(
    url: str, site: Site, conversations: int, per_conversation: int, phone: str
) -> list[str]:
    """`conversations` customers write in (webhooks), then the admin answers each `per_conversation`
    times through the API (202, queued for the outbox). Returns the reply texts, in posting order."""
    burst = Burst(url, site.channel.webhook_path, concurrency=4)
    burst.feed(
        notificame_message(site.channel, text=f"oi {n}", sender=f"{phone}{n:06d}")
        for n in range(conversations)
    )
    assert (await burst.close(within=30)).unexpected == []
    token = await login(url, site.admin_email)
    texts: list[str] = []
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        conv_ids = await conversation_ids(http)
        assert len(conv_ids) == conversations

        async def reply(text: str, cid: int) -> None:
            r = await http.post(f"/api/conversations/{cid}/messages", json={"text": text})
            assert r.status_code == 202, r.text

        for k in range(per_conversation):
            batch = [(f"reply {cid} #{k}", cid) for cid in conv_ids]
            await gather_limited((reply(text, cid) for text, cid in batch), 8)
            texts.extend(text for text, _ in batch)
    return texts


def first_heard_in_order(arrivals: list[str], posted: list[str]) -> bool:
    """Per conversation (texts `reply CID #K`), the provider first heard of the replies in posting order."""
    first: dict[str, int] = {}
    for i, text in enumerate(arrivals):
        first.setdefault(text, i)
    by_conversation: dict[str, list[str]] = {}
    for text in posted:
        by_conversation.setdefault(text.split(" #")[0], []).append(text)
    return all(sorted(texts, key=first.__getitem__) == texts for texts in by_conversation.values())
