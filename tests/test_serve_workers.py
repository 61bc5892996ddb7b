"""`inbox serve --workers 2` as deployed: real processes on one port, PostgreSQL (or an SQLite file)
and Redis. Both processes answer, a webhook taken by either reaches a socket held by the other,
SIGTERM stops them all with status 0; without a shared bus the option is refused.

Which process answered is told by `/metrics` (`inbox_process_info{pid}`, and the per-process socket
and webhook counters); every request here opens a connection of its own, so the kernel hands it to
either process, and each step retries (bounded) until it has landed on both.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inbox.actions import admin
from inbox.backup import _served, sqlite_path
from inbox.config import Settings
from inbox.runtime import Runtime
from tests.databases import create_pg_database, drop_pg_database, pg_ok
from tests.fakes.serve import free_port
from tests.inbox.realtime.client import WsClient, redis_url_or_skip, wait_until
from tests.serving import wait_healthy
from tests.support import Channel, notificame_message

ROOT = Path(__file__).resolve().parents[1]
SECRET = "serve-workers-secret"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(params=["postgresql", "sqlite"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}"
        return
    if not pg_ok():
        pytest.skip("PostgreSQL not configured (INBOX_TEST_DATABASE_URL)")
    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


def _serve(env: dict[str, str], port: int, log: Path, *more: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "inbox.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *more],
            env={**env, "PYTHONPATH": str(ROOT)},  # this checkout, whatever is installed
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:  # a thread that ended between listing and reading
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Scraper:
    """`/metrics` on a fresh connection each time: whichever process took it answers."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def one(self) -> tuple[int, dict[str, float]]:
        r = await self.http.get("/metrics")
        assert r.status_code == 200, r.text
        values: dict[str, float] = {}
        pid = 0
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                if s.name == "inbox_process_info":
                    pid = int(s.labels["pid"])
                elif s.name == "inbox_sockets_open":
                    values["sockets"] = s.value
                elif s.name == "inbox_webhooks_total" and s.labels == {
                    "provider": "notificame",
                    "outcome": "stored",
                }:
                    values["stored"] = s.value
        assert pid, r.text[:500]
        return pid, values

    async def each(self, pids: set[int], tries: int = 400) -> dict[int, dict[str, float]]:
        """One answer from every process of `pids` (bounded)."""
        seen: dict[int, dict[str, float]] = {}
        for _ in range(tries):
            pid, values = await self.one()
            seen[pid] = values
            if set(seen) >= pids:
                return seen
        raise AssertionError(f"only processes {sorted(seen)} of {sorted(pids)} answered in {tries} requests")


async def test_two_workers_answer_share_events_and_stop_on_sigterm(database_url: str, tmp_path: Path) -> None:
    redis = redis_url_or_skip()
    env = {
        **os.environ,
        "INBOX_DATABASE_URL": database_url,
        "INBOX_BROADCAST_URL": redis,
        "INBOX_BROADCAST_CHANNEL": f"inbox-test-{secrets.token_hex(6)}",
        "INBOX_DATA_DIR": str(tmp_path),
        "INBOX_SECRET_KEY": SECRET,
        "INBOX_LOG_LEVEL": "warning",
        "NOTIFICAME_API_URL": "http://127.0.0.1:9/v1",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = _serve(env, port, log, "--workers", "2")
    scraper = Scraper(base)
    clients: list[WsClient] = []
    try:

        async def healthy() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return (await scraper.http.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(healthy, within=90, what="inbox serve --workers 2 ready")
        workers = _children(proc.pid)
        assert len(workers) == 2 and proc.pid not in workers, workers
        await scraper.each(workers)  # each child answers (both have started)
        # Migrated and bootstrapped once, by the parent: one admin, its password printed once.
        printed = log.read_text()
        assert len(re.findall(r"^\s+password\s+\S+$", printed, re.M)) == 1, printed
        email = re.search(r"^\s+email\s+(\S+@\S+)$", printed, re.M)
        password = re.search(r"^\s+password\s+(\S+)$", printed, re.M)
        assert email and password, printed
        if (db := sqlite_path(Settings(database_url=database_url))) is not None:
            assert _served(db)  # `inbox restore` sees a live server; the siblings share the lock

        rt = Runtime(Settings(database_url=database_url, data_dir=tmp_path, secret_key=SECRET, workers=False))
        try:
            async with rt.uow() as uow:
                tenant = (await admin.list_tenants(uow))[0]["id"]
                made = await admin.create_channel(
                    uow,
                    tenant,
                    kind="whatsapp",
                    provider="notificame",
                    name="wa",
                    external_id=f"nm-{secrets.token_hex(6)}",
                    secrets_={"notificame_token": "t"},
                )
        finally:
            await rt.stop()
        channel = Channel(
            made["id"], "whatsapp", "notificame", made["webhook_path"], made, external_id=made["external_id"]
        )
        r = await scraper.http.post(
            "/api/auth/login", json={"email": email.group(1), "password": password.group(1)}
        )
        assert r.status_code == 200, r.text
        token = r.json()["token"]

        # A socket on each process: open one at a time; the process whose socket count grew holds it.
        holder: dict[int, WsClient] = {}
        held = {pid: 0.0 for pid in workers}
        for _ in range(30):
            client = WsClient(f"ws://127.0.0.1:{port}", token)
            await client.connect()
            await client.ready()
            clients.append(client)
            now = {pid: v["sockets"] for pid, v in (await scraper.each(workers)).items()}
            grew = [pid for pid in workers if now[pid] > held[pid]]
            assert len(grew) == 1, (held, now)
            held = now
            holder.setdefault(grew[0], client)
            if set(holder) == workers:
                break
        assert set(holder) == workers, f"30 sockets all landed on {sorted(holder)}"

        # Webhooks on fresh connections until each process has stored at least one.
        texts: list[str] = []
        stored = {pid: 0.0 for pid in workers}
        for n in range(40):
            texts.append(f"message {n} to whichever process")
            r = await scraper.http.post(
                channel.webhook_path, json=notificame_message(channel, text=texts[-1])
            )
            assert r.status_code == 200, r.text
            stored = {pid: v["stored"] for pid, v in (await scraper.each(workers)).items()}
            if all(stored.values()):
                break
        assert all(stored.values()), f"40 webhooks all taken by one process: {stored}"
        assert sum(stored.values()) == len(texts)
        # Every socket, on either process, got every message, whichever process took it.
        for pid, client in holder.items():

            def got(c: WsClient = client) -> bool:
                return {f["data"]["text"] for f in c.of_type("message.created")} >= set(texts)

            await wait_until(got, within=20, what=f"every message on the socket held by {pid}")
            # Once each (routing's "Assigned to ... automatically" notes are messages too: not counted).
            inbound = [
                f["data"]["text"] for f in client.of_type("message.created") if f["data"]["direction"] == "in"
            ]
            assert sorted(inbound) == sorted(texts)

        # A child that dies is reported and replaced; the other one serves on meanwhile.
        lost = min(workers)
        os.kill(lost, signal.SIGKILL)
        await wait_until(lambda: len(_children(proc.pid) - workers) == 1, within=30, what="a new child")
        workers = _children(proc.pid)
        assert len(workers) == 2 and lost not in workers
        await scraper.each(workers)
    finally:
        for client in clients:
            await client.close()
        await scraper.http.aclose()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            status = await asyncio.to_thread(proc.wait, 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert status == 0, log.read_text()[-3000:]
    assert not any(_alive(pid) for pid in workers)
    said = log.read_text()
    assert said.count("ERROR") == 1 and f"(pid {lost}) ended (killed by SIGKILL); starting another" in said


def test_several_workers_without_a_shared_bus_are_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INBOX_", "OPENAI_"))}
    env |= {"INBOX_DATA_DIR": str(tmp_path), "INBOX_WORKERS": "2"}
    port = free_port()
    proc = _serve(env, port, tmp_path / "serve.log")
    assert proc.wait(60) == 1
    said = (tmp_path / "serve.log").read_text()
    assert said.startswith("inbox: --workers 2 needs a shared event bus: set INBOX_BROADCAST_URL=redis://"), (
        said
    )
    assert not (tmp_path / "inbox.db").exists()  # refused before migrating anything
    # One process on the in-memory bus is the default, and --workers 1 overrides INBOX_WORKERS.
    proc = _serve(env, port, tmp_path / "serve-1.log", "--workers", "1")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, within=60)  # type: ignore[arg-type]
        assert _children(proc.pid) == set()  # served in-process, no supervisor
    finally:
        proc.terminate()
        proc.wait(30)


def test_inbox_workers_is_read_and_checked(tmp_path: Path) -> None:
    assert Settings.from_env({"INBOX_WORKERS": "3"}, dotenv=tmp_path / "none").processes == 3
    assert Settings.from_env({}, dotenv=tmp_path / "none").processes == 1
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(ValueError, match="INBOX_WORKERS must be a whole number of processes, 1 or more"):
            Settings.from_env({"INBOX_WORKERS": bad}, dotenv=tmp_path / "none")
