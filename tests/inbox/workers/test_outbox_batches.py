"""The outbox's work per batch, on SQLite and PostgreSQL: the outcomes of many sends recorded in one
transaction of a fixed number of statements, and one lease renewal that keeps every slow send its
row (helpers: tests/inbox/workers/outbox_support.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event

from inbox import models as m
from inbox.actions.sending import Outcome
from inbox.config import Settings
from inbox.workers.outbox import claim
from inbox.workers.outbox_flight import record
from tests.fakes.notificame import Reply
from tests.inbox.workers.outbox_support import (
    conversation,
    message,
    message_events,
    outbox_rows,
    reply,
    wait_status,
    world,
)


async def test_a_claim_takes_at_most_its_limit(settings: Settings, outbox_db: str) -> None:
    """PostgreSQL may run an UPDATE's `IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` again per
    row, each run skipping the rows the last one locked: the pick is made once (inbox.db.picked)."""
    async with world(settings, outbox_db, workers=False) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        ids = []
        for _ in range(10):
            conv_id, _ = await conversation(wd.app, ch)
            ids.append((await reply(tenant.admin, conv_id, "Oi"))["id"])
        taken: list[int] = []
        for limit in (1, 3, 3, 3):
            rows = await claim(wd.app.runtime, limit)
            assert len(rows) == limit
            taken += [r.message_id for r in rows]
        assert sorted(taken) == sorted(ids)  # each row once, oldest first
        assert await claim(wd.app.runtime, 3) == []


async def test_outcomes_of_a_batch_are_one_transaction_of_a_few_statements(
    settings: Settings, outbox_db: str
) -> None:
    async with world(settings, outbox_db, workers=False) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        ids = []
        for _ in range(24):
            conv_id, _ = await conversation(wd.app, ch)
            ids.append((await reply(tenant.admin, conv_id, "Seu pedido saiu"))["id"])
        rows = {r.message_id: r for r in await claim(wd.app.runtime, 100)}
        assert sorted(rows) == sorted(ids)
        *sent, failed, retry, drop, back = ids
        due = m.utcnow() + timedelta(hours=1)
        outcomes = [Outcome(rows[i].id, i, "sent", provider_message_id=f"pid-{i}") for i in sent] + [
            Outcome(rows[failed].id, failed, "failed", reason="Invalid recipient"),
            Outcome(rows[retry].id, retry, "retry", reason="503 from the Hub", due=due),
            Outcome(rows[drop].id, drop, "drop"),
            Outcome(rows[back].id, back, "hand_back", tried=False),
        ]

        counts = {"statements": 0, "commits": 0}
        engine = wd.app.runtime.engine.sync_engine

        def statement(*_: Any) -> None:
            counts["statements"] += 1

        def commit(*_: Any) -> None:
            counts["commits"] += 1

        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)
        try:
            await record(wd.app.runtime, outcomes)
        finally:
            event.remove(engine, "before_cursor_execute", statement)
            event.remove(engine, "commit", commit)
        # The same statements whatever the batch's size: a failed message is one UPDATE and one
        # conversation read of its own (rare); the 20 sent ones share every statement.
        assert counts["commits"] == 1
        assert counts["statements"] <= 14, counts

        for i in sent:
            row = await message(wd.app, i)
            assert (row.status, row.provider_message_id, row.error) == ("sent", f"pid-{i}", None)
            assert [(t, d["status"]) for t, d in await message_events(wd.app, tenant.id, i)][-1] == (
                "message.updated",
                "sent",
            )
            assert await outbox_rows(wd.app, i) == []
        row = await message(wd.app, failed)
        assert (row.status, row.error) == ("failed", "Invalid recipient")
        assert await outbox_rows(wd.app, failed) == []
        (again,) = await outbox_rows(wd.app, retry)
        assert again.locked_until is None and again.last_error == "503 from the Hub"
        assert abs((again.next_attempt_at - due).total_seconds()) < 1
        assert (await message(wd.app, retry)).status == "queued"
        assert await outbox_rows(wd.app, drop) == []
        (handed,) = await outbox_rows(wd.app, back)
        assert handed.locked_until is None and handed.attempts == 0


async def test_slow_sends_keep_their_leases_and_leave_once(settings: Settings, outbox_db: str) -> None:
    # Answers take three leases' time: without renewals every row would be claimed again meanwhile.
    # (1.5 s, renewed every 0.5 s: leases of 0.3 and 0.6 s were outrun by a renewal's commit when the
    # box's load average was 7 and more.)
    async with world(settings, outbox_db, send_lease_seconds=1.5) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        convs = [(await conversation(wd.app, ch))[0] for _ in range(3)]
        wd.nm.script(*[Reply(delay=4.5) for _ in convs])
        ids = [(await reply(tenant.admin, c, f"Resposta {n}"))["id"] for n, c in enumerate(convs)]
        for i in ids:
            await wait_status(wd.app, i, "sent")
        assert len(wd.nm.requests) == 3
        assert sorted(r.json["contents"][0]["text"] for r in wd.nm.requests) == [
            "Resposta 0",
            "Resposta 1",
            "Resposta 2",
        ]
