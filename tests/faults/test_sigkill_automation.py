"""A server SIGKILLed between claiming an automation's run and sending it: after a restart the run is
decided once and its message reaches the provider exactly once.

The test holds the conversation's row lock, so the first process claims the run's job (its lease is
committed) and then waits inside the run's transaction, before any message exists; that is when it
is killed. A second process takes the run once the lease lapses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.faults.harness import fetch, inbox_serve, login, poll_rows, provision, wait_until
from tests.faults.servers import PgServer
from tests.support import notificame_message

RUNS = "SELECT id, status, message_id FROM automation_runs"
JOBS = "SELECT locked_until FROM jobs WHERE kind = 'automation'"
SYSTEM = "SELECT id FROM messages WHERE sender_type = 'system' AND direction = 'out' AND status <> 'note'"


async def test_sigkill_between_claim_and_send_sends_exactly_once(pg_server: PgServer, tmp_path: Path) -> None:
    db = await pg_server.create_database()
    site = await provision(pg_server.url(db), pg_server.dsn(db), tmp_path)
    nm_app, nm = notificame_app(token="nm-token")
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
                holder = await asyncpg.connect(site.dsn)
                lock = holder.transaction()
                await lock.start()
                await holder.execute("SELECT id FROM conversations WHERE id = $1 FOR UPDATE", conv["id"])
                starts = (datetime.now(UTC) + timedelta(days=2)).isoformat()
                r = await http.post(
                    f"/api/contacts/{conv['contact']['id']}/appointments",
                    json={"starts_at": starts, "title": "Avaliação"},
                )
                assert r.status_code == 201, r.text
            # The first process claimed the run (its lease is stored) and waits for the lock.
            claimed = lambda rows: bool(rows) and rows[0]["locked_until"] is not None  # noqa: E731
            await poll_rows(site.dsn, JOBS, (), claimed, 20, "the run to be claimed")
            assert [r["status"] for r in await fetch(site.dsn, RUNS)] == ["pending"]
            first.proc.kill()  # SIGKILL: the lease is not released
            await first.proc.wait()
        await lock.rollback()
        await holder.close()
        assert await fetch(site.dsn, SYSTEM) == [] and nm.requests == []
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
