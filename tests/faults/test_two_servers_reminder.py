"""Reminders scheduled 24 h before appointments, due while two `inbox serve` processes share the
database (a SQLite file, PostgreSQL): each reaches the provider once and its run is recorded once.

Both processes run the jobs worker and wake for the same due time, so each reminder's job is
contended. When every run is `sent`, no job and no outbox row is left: nothing could send again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.faults.harness import fetch, inbox_serve, login, new_database, poll_rows, provision, wait_until
from tests.faults.servers import PgServer
from tests.support import notificame_message

CUSTOMERS = 6
RUNS = "SELECT contact_id, occurrence, status, message_id FROM automation_runs"
LEFT = "SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM outbox) AS outbox"
SYSTEM = "SELECT text FROM messages WHERE sender_type = 'system' AND direction = 'out' AND status <> 'note'"


async def test_a_due_reminder_fires_once_across_two_server_processes(
    fault_backend: PgServer | None, tmp_path: Path
) -> None:
    url, dsn = await new_database(fault_backend, tmp_path)
    site = await provision(url, dsn, tmp_path)
    nm_app, nm = notificame_app(token="nm-token")
    async with serve(nm_app) as nm_url, contextlib.AsyncExitStack() as stack:
        env = {**site.env, "NOTIFICAME_API_URL": nm_url + "/v1"}
        # Both start at once (each spends seconds importing): entered into the stack either way.
        started = await asyncio.gather(
            *(stack.enter_async_context(inbox_serve(env, tmp_path / f"serve-{i}.log")) for i in (1, 2)),
            return_exceptions=True,
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        servers = [s for s in started if not isinstance(s, BaseException)]
        token = await login(servers[0].url, site.admin_email)
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            )
            for s in servers
        ]
        a, b = clients
        for n in range(CUSTOMERS):
            message = notificame_message(
                site.channel, text="Oi", sender=f"55319888{n:05d}", name=f"Cliente {n}"
            )
            r = await clients[n % 2].post(site.channel.webhook_path, json=message)
            assert r.status_code == 200, r.text
        conversations = (await a.get("/api/conversations")).json()["items"]
        assert len(conversations) == CUSTOMERS
        r = await a.post(
            "/api/templates", json={"name": "Lembrete", "body": "Lembrete: {{appointment.title}} amanhã"}
        )
        assert r.status_code == 201, r.text
        body = {
            "name": "Lembrete 24 h",
            "trigger": "appointment.reminder",
            "template_id": r.json()["id"],
            "offset_seconds": 86_400,
            "enabled": True,
        }
        assert (await b.post("/api/automations", json=body)).status_code == 201
        # Every appointment starts a day and three seconds from now: the reminders come due together,
        # in three seconds, on both servers' jobs workers.
        starts = (datetime.now(UTC) + timedelta(days=1, seconds=3)).isoformat()
        for n, conv in enumerate(conversations):
            r = await clients[n % 2].post(
                f"/api/contacts/{conv['contact']['id']}/appointments",
                json={"starts_at": starts, "title": f"Consulta {conv['contact']['id']}"},
            )
            assert r.status_code == 201, r.text
        assert [r["status"] for r in await fetch(site.dsn, RUNS)] == ["pending"] * CUSTOMERS

        await wait_until(lambda: len(nm.requests) >= CUSTOMERS, 20, "the reminders to reach the provider")
        rows = await poll_rows(
            site.dsn, RUNS, (), lambda rows: all(r["status"] == "sent" for r in rows), 20, "every run sent"
        )
        left = await poll_rows(
            site.dsn, LEFT, (), lambda rows: rows[0]["jobs"] == rows[0]["outbox"] == 0, 20, "nothing left"
        )
        assert all(s.proc.returncode is None for s in servers)  # both were there throughout
    sends = Counter(r.json["contents"][0]["text"] for r in nm.requests if r.path.endswith("/messages"))
    print(f"two servers: runs={len(rows)} sends={sum(sends.values())} left={dict(left[0])}")
    expected = {f"Lembrete: Consulta {c['contact']['id']} amanhã" for c in conversations}
    assert set(sends) == expected and set(sends.values()) == {1}, sends
    assert len(rows) == CUSTOMERS and len({r["contact_id"] for r in rows}) == CUSTOMERS
    assert len({r["message_id"] for r in rows}) == CUSTOMERS
    assert sorted(r["text"] for r in await fetch(site.dsn, SYSTEM)) == sorted(expected)
