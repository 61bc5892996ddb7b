"""The routing worker for real: apps with workers on (each on a database of its own), woken by
webhooks, presence, resolves and snooze jobs; two app instances sharing one database never assign a
conversation twice nor overfill an agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox import models as m
from inbox.config import Settings
from inbox.workers.routing import route_tenant
from tests.databases import migrated_database
from tests.inbox.routing_support import (
    conv,
    conversation,
    eventually,
    messages_of,
    status,
    worker_settings,
)
from tests.support import running_app


@pytest.fixture
async def own_db(backend_name: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own: an app with workers on would work on every other test's leftovers."""
    async with migrated_database(backend_name, tmp_path) as url:
        yield url


async def test_worker_assigns_within_seconds_and_picks_up_freed_capacity(
    settings: Settings, own_db: str
) -> None:
    async with running_app(worker_settings(settings, own_db)) as app:
        t = await app.tenant()
        ch = await t.channel()
        a = await t.agent(capacity=1)
        c1 = await conversation(app, ch)
        await status(a, "online")  # capacity appears: the worker is woken

        async def assigned(cid: int) -> bool:
            row = await conv(app, cid)
            return row.status == "assigned" and row.assignee_id == a.id

        await eventually(lambda: assigned(c1))
        c2 = await conversation(app, ch)  # waits: the agent is full
        assert (await conv(app, c2)).status == "queued"
        r = await a.http.post(f"/api/conversations/{c1}/resolve")
        assert r.status_code == 200
        await eventually(lambda: assigned(c2))


async def test_snooze_wakes_on_time_through_the_jobs_worker(settings: Settings, own_db: str) -> None:
    async with running_app(worker_settings(settings, own_db)) as app:
        t = await app.tenant()
        a = await t.agent()
        cid = await conversation(app, await t.channel())
        assert (
            await a.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": a.id})
        ).status_code == 200
        until = m.utcnow() + timedelta(seconds=1)
        r = await a.http.post(f"/api/conversations/{cid}/snooze", json={"until": until.isoformat()})
        assert r.status_code == 200 and r.json()["status"] == "snoozed"

        async def awake() -> bool:
            row = await conv(app, cid)
            return row.status == "assigned" and row.assignee_id == a.id

        await eventually(awake)
        assert [x.text for x in await messages_of(app, cid)][-1] == "Snooze ended"


async def test_two_instances_never_double_assign(settings: Settings, own_db: str) -> None:
    """Both instances run the routing worker on one database while customers write to both."""
    s = worker_settings(settings, own_db)
    async with running_app(s) as one, running_app(s) as two:
        t = await one.tenant()
        ch = await t.channel()
        agents = [await t.agent(capacity=2) for _ in range(3)]
        apps = [one, two]
        ids = list(await asyncio.gather(*(conversation(apps[i % 2], ch) for i in range(16))))
        await asyncio.gather(*(status(a, "online") for a in agents))

        async def loads() -> dict[int, int]:
            async with one.runtime.engine.connect() as conn:
                q = (
                    select(m.conversations.c.assignee_id, func.count())
                    .where(m.conversations.c.id.in_(ids), m.conversations.c.status == "assigned")
                    .group_by(m.conversations.c.assignee_id)
                )
                return dict((await conn.execute(q)).all())

        async def full() -> bool:
            return sum((await loads()).values()) == 6

        await eventually(full)
        # Free two places at once, from both instances: exactly two more get assigned.
        rows = [await conv(one, i) for i in ids]
        done = [r.id for r in rows if r.assignee_id == agents[0].id]
        await asyncio.gather(*(agents[0].http.post(f"/api/conversations/{cid}/resolve") for cid in done))
        await eventually(full)
        assert await loads() == {a.id: 2 for a in agents}
        for cid in ids:
            autos = [x.text for x in await messages_of(one, cid) if (x.text or "").endswith("automatically")]
            assert len(autos) <= 1, (cid, autos)


async def test_two_instances_with_concurrent_status_changes(settings: Settings, own_db: str) -> None:
    """Agents coming online on both instances at once while the queue is long: capacity holds."""
    s = worker_settings(settings, own_db)
    async with running_app(s) as one, running_app(s) as two:
        t = await one.tenant()
        ch = await t.channel()
        ids = [await conversation(one, ch) for _ in range(10)]
        agents = [await t.agent(capacity=3) for _ in range(2)]
        # Each agent says "online" through a different instance.
        for a, app in zip(agents, (one, two), strict=True):
            r = await app.client(a.token).put("/api/agents/me/status", json={"status": "online"})
            assert r.status_code == 200

        async def assigned() -> list[int | None]:
            return [(await conv(one, i)).assignee_id for i in ids]

        async def six() -> bool:
            return sum(1 for x in await assigned() if x is not None) == 6

        await eventually(six)
        final = await assigned()
        assert {a.id: final.count(a.id) for a in agents} == {a.id: 3 for a in agents}
        # Longest waiting first: the first six created are the ones taken.
        assert all(x is not None for x in final[:6]) and all(x is None for x in final[6:])


async def test_passes_racing_across_two_instances(settings: Settings, own_db: str) -> None:
    """Workers off, passes forced from both instances at once: the database-level serialization (not
    anything in one process) is what keeps capacity."""
    s = settings.but(database_url=own_db)
    async with running_app(s) as one, running_app(s) as two:
        t = await one.tenant()
        ch = await t.channel()
        agents = [await t.agent(capacity=2) for _ in range(3)]
        for a in agents:
            await status(a, "online")
        ids = [await conversation(one, ch) for _ in range(12)]
        runtimes = [one.runtime, two.runtime] * 4
        results = await asyncio.gather(*(route_tenant(rt, t.id) for rt in runtimes))
        assigned = [pair for r in results for pair in r.assigned]
        assert len(assigned) == 6 and len({c for c, _ in assigned}) == 6
        final = [(await conv(one, i)).assignee_id for i in ids]
        assert {a.id: final.count(a.id) for a in agents} == {a.id: 2 for a in agents}
