"""A server SIGKILLed between claiming an automation's run and sending it: after a restart the run is
decided once and its message reaches the provider exactly once. On SQLite and on PostgreSQL.

The first process must be caught with the run's job claimed (its lease committed) and the run not
yet decided, no message written. On PostgreSQL the test holds the conversation's row lock: the
process claims and then waits inside the run's transaction. SQLite has one writer and no row locks
(holding the write lock would stop the claim too), so there the database refuses the decision and
the lease's release instead (two triggers): the process claims, fails to decide and keeps its
lease. Either way it is killed in that state; the hold is lifted, and a second process takes the
run once the lease lapses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from asyncpg.transaction import Transaction

from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.faults.harness import (
    fetch,
    inbox_serve,
    login,
    new_database,
    poll_rows,
    provision,
    sqlite_path,
    wait_until,
)
from tests.faults.servers import PgServer
from tests.support import notificame_message

RUNS = "SELECT id, status, message_id FROM automation_runs"
JOBS = "SELECT locked_until FROM jobs WHERE kind = 'automation'"
SYSTEM = "SELECT id FROM messages WHERE sender_type = 'system' AND direction = 'out' AND status <> 'note'"
# SQLite: the decision (its first statement updates the run) and the release of the lease (a failed
# job's lease is cleared for a retry) are refused while these exist.
SQLITE_HOLD = (
    "CREATE TRIGGER fault_hold_decision BEFORE UPDATE ON automation_runs"
    " BEGIN SELECT RAISE(ABORT, 'fault suite: the decision is held'); END",
    "CREATE TRIGGER fault_hold_lease BEFORE UPDATE ON jobs WHEN NEW.locked_until IS NULL"
    " BEGIN SELECT RAISE(ABORT, 'fault suite: the lease is held'); END",
)
SQLITE_RELEASE = ("DROP TRIGGER fault_hold_decision", "DROP TRIGGER fault_hold_lease")


def _sqlite(path: Path, statements: tuple[str, ...]) -> None:
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            for sql in statements:
                conn.execute(sql)
    finally:
        conn.close()


class Hold:
    """Keeps the first process from deciding the run while it holds the run's claim."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.path = sqlite_path(dsn)
        self._pg: asyncpg.Connection | None = None
        self._tx: Transaction | None = None

    async def start(self, conversation_id: int) -> None:
        if self.path is not None:
            await asyncio.to_thread(_sqlite, self.path, SQLITE_HOLD)
            return
        self._pg = await asyncpg.connect(self.dsn)
        tx = self._pg.transaction()
        await tx.start()
        self._tx = tx
        await self._pg.execute("SELECT id FROM conversations WHERE id = $1 FOR UPDATE", conversation_id)

    async def release(self) -> None:
        if self.path is not None:
            await asyncio.to_thread(_sqlite, self.path, SQLITE_RELEASE)
            return
        assert self._pg is not None and self._tx is not None
        await self._tx.rollback()
        await self._pg.close()


async def test_sigkill_between_claim_and_send_sends_exactly_once(
    fault_backend: PgServer | None, tmp_path: Path
) -> None:
    url, dsn = await new_database(fault_backend, tmp_path)
    site = await provision(url, dsn, tmp_path)
    nm_app, nm = notificame_app(token="nm-token")
    hold = Hold(site.dsn)
    async with serve(nm_app) as nm_url:
        env = {**site.env, "NOTIFICAME_API_URL": nm_url + "/v1", "INBOX_JOB_LEASE_SECONDS": "2"}
        async with inbox_serve(env, tmp_path / "first.log") as first:
            token = await login(first.url, site.admin_email)
            async with httpx.AsyncClient(
                base_url=first.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as http:
                r = await http.post(
                    site.channel.webhook_path, json=notificame_message(site.channel, text="Oi")
                )
                assert r.status_code == 200, r.text
                conv = (await http.get("/api/conversations")).json()["items"][0]
                r = await http.post(
                    "/api/templates",
                    json={"name": "Confirmação", "body": "Confirmado: {{appointment.title}}"},
                )
                body = {
                    "name": "Confirmação",
                    "trigger": "appointment.created",
                    "template_id": r.json()["id"],
                    "enabled": True,
                }
                assert (await http.post("/api/automations", json=body)).status_code == 201
                await hold.start(conv["id"])
                try:
                    starts = (datetime.now(UTC) + timedelta(days=2)).isoformat()
                    r = await http.post(
                        f"/api/contacts/{conv['contact']['id']}/appointments",
                        json={"starts_at": starts, "title": "Avaliação"},
                    )
                    assert r.status_code == 201, r.text
                    # The first process claimed the run (its lease is stored) and cannot decide it.
                    claimed = lambda rows: bool(rows) and rows[0]["locked_until"] is not None  # noqa: E731
                    await poll_rows(site.dsn, JOBS, (), claimed, 20, "the run to be claimed")
                    assert [r["status"] for r in await fetch(site.dsn, RUNS)] == ["pending"]
                    first.proc.kill()  # SIGKILL: the lease is not released
                    await first.proc.wait()
                finally:
                    await hold.release()
        assert await fetch(site.dsn, SYSTEM) == [] and nm.requests == []
        assert [r["status"] for r in await fetch(site.dsn, RUNS)] == ["pending"]
        async with inbox_serve(env, tmp_path / "second.log"):
            await wait_until(lambda: len(nm.requests) >= 1, 30, "the confirmation to reach the provider")
            rows = await poll_rows(
                site.dsn, RUNS, (), lambda rows: rows[0]["status"] == "sent", 20, "the run sent"
            )
            await poll_rows(site.dsn, JOBS, (), lambda rows: rows == [], 20, "the job to be done")
        sends = [r for r in nm.requests if r.path.endswith("/messages")]
        print(f"sigkill automation: runs={len(rows)} sends={len(sends)}")
        assert len(sends) == 1 and b"Confirmado: Avalia" in sends[0].body
        assert len(await fetch(site.dsn, SYSTEM)) == 1
        assert rows[0]["message_id"] is not None
