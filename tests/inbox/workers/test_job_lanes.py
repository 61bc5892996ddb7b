"""The jobs worker's lanes: a kind with a lane of its own (automation runs) runs at most its slots at
once and never holds up the other kinds; while webhooks are being stored, a paced lane runs one job
at a time. On a real database of the test's own (the worker claims every due job in it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from inbox import models as m
from inbox.config import Settings
from inbox.db import create_engine
from inbox.runtime import Runtime
from inbox.workers import Worker
from inbox.workers.jobs import PAUSE_MAX, Lane, jobs_worker
from tests.databases import migrated_database
from tests.inbox.routing_support import eventually

# Bounds a hang (a lane that never runs a job), not a duration under test.
GUARD_SECONDS = 60


@pytest.fixture
async def rt(backend_name: str, tmp_path: Path, settings: Settings) -> AsyncIterator[Runtime]:
    async with migrated_database(backend_name, tmp_path) as url:
        runtime = Runtime(settings.but(database_url=url, workers=False))
        try:
            yield runtime
        finally:
            await runtime.stop()


async def _jobs(rt: Runtime, kind: str, n: int) -> None:
    async with rt.engine.begin() as conn:
        tenant = insert(m.tenants).values(name="t", settings={}, created_at=m.utcnow())
        tenant_id = (await conn.execute(tenant.returning(m.tenants.c.id))).scalar_one()
        await conn.execute(
            insert(m.jobs),
            [
                {"tenant_id": tenant_id, "kind": kind, "key": f"{kind}-{i}", "run_at": m.utcnow(),
                 "attempts": 0, "payload": {}, "created_at": m.utcnow()}
                for i in range(n)
            ],
        )  # fmt: skip


def _none_left(rt: Runtime) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with rt.engine.connect() as conn:
            return not (await conn.execute(select(func.count()).select_from(m.jobs))).scalar_one()

    return check


async def _work(rt: Runtime, worker: Worker) -> None:
    await worker(rt)


class Counter:
    """How many handlers run at once, and the most there ever were."""

    def __init__(self) -> None:
        self.now = self.most = self.done = 0

    def enter(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def leave(self) -> None:
        self.now -= 1
        self.done += 1


async def test_a_lane_runs_at_most_its_slots_and_never_holds_up_other_kinds(rt: Runtime) -> None:
    """Six slow jobs wait for a quick one of another kind: it runs beside them (with one lane for all
    at 8 at once, the six would all run together)."""
    quick_ran = asyncio.Event()
    slow = Counter()

    async def slow_job(_rt: Runtime, _job: Any) -> None:
        slow.enter()
        await quick_ran.wait()
        await asyncio.sleep(0)
        slow.leave()

    async def quick_job(_rt: Runtime, _job: Any) -> None:
        quick_ran.set()

    await _jobs(rt, "slow", 6)
    await _jobs(rt, "quick", 1)
    lane = Lane(frozenset({"slow"}), lambda _s: 2)
    worker = asyncio.create_task(_work(rt, jobs_worker({"slow": slow_job, "quick": quick_job}, [lane])))
    try:
        await eventually(_none_left(rt), GUARD_SECONDS)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert quick_ran.is_set() and slow.done == 6
    assert slow.most <= 2


async def test_a_paced_lane_runs_one_at_a_time_while_webhooks_arrive(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four slots: one at a time while ingest is busy; once it is not, two run together (each job
    waits for a second beside it, which only a lane running more than one at a time gives)."""
    busy = True
    monkeypatch.setattr(rt.ingestor, "busy", lambda _within: busy)
    paced = Counter()
    two_at_once = asyncio.Event()

    async def job(_rt: Runtime, _job: Any) -> None:
        paced.enter()
        if not busy:
            if paced.now >= 2:
                two_at_once.set()
            await two_at_once.wait()
        await asyncio.sleep(0)
        paced.leave()

    await _jobs(rt, "paced", 3)
    lane = Lane(frozenset({"paced"}), lambda _s: 4, share=0.5)
    worker = asyncio.create_task(_work(rt, jobs_worker({"paced": job}, [lane])))
    try:
        await eventually(_none_left(rt), GUARD_SECONDS)
        assert paced.done == 3 and paced.most == 1
        busy = False
        await _jobs(rt, "paced", 4)
        await eventually(_none_left(rt), GUARD_SECONDS)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert paced.done == 7 and paced.most >= 2


def test_a_paced_lane_counts_its_jobs_weight_in_its_share() -> None:
    """Share a twentieth, weight 2 (a decision and the send it hands the outbox): after a job of
    10 ms the lane waits 390 ms, so that job and send together take a twentieth of the time."""
    plain = Lane(frozenset({"x"}), lambda _s: 1)
    assert not plain.paced and plain.pause(1.0) == 0.0
    lane = Lane(frozenset({"x"}), lambda _s: 1, share=0.05, weight=2.0)
    assert lane.paced
    assert lane.pause(0.010) == pytest.approx(0.390)
    assert (2 * 0.010) / (0.010 + lane.pause(0.010)) == pytest.approx(0.05)
    assert Lane(frozenset({"x"}), lambda _s: 1, share=0.5).pause(0.1) == pytest.approx(0.1)
    assert lane.pause(10.0) == PAUSE_MAX  # a job held up for seconds does not stop the lane for minutes


def test_automation_concurrency_from_the_environment(tmp_path: Path) -> None:
    none = tmp_path / "missing"
    assert Settings.from_env({}, dotenv=none).automation_concurrency == 2
    assert Settings.from_env({"INBOX_AUTOMATION_CONCURRENCY": "5"}, dotenv=none).automation_concurrency == 5
    assert Settings.from_env({"INBOX_AUTOMATION_CONCURRENCY": "0"}, dotenv=none).automation_concurrency == 1


async def test_stopping_lets_a_running_job_finish_before_the_engine_closes(
    backend_name: str, tmp_path: Path, settings: Settings
) -> None:
    """The runtime stops its workers by cancelling them; a job running then is not cut off (its
    transaction could hold SQLite's write lock) nor left running against a closed engine: `stop`
    returns once it has finished, and its write is there."""
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_job(job_rt: Runtime, job: Any) -> None:
        started.set()
        await release.wait()
        async with job_rt.engine.begin() as conn:
            await conn.execute(insert(m.tenants).values(name=f"written by {job.key}", settings={}))

    async with migrated_database(backend_name, tmp_path) as url:
        rt = Runtime(
            settings.but(database_url=url, workers=True),
            workers={"jobs": jobs_worker({"slow": slow_job}, [])},
        )
        await rt.start()
        stopped = False
        try:
            await _jobs(rt, "slow", 1)
            rt.wake("jobs")
            await asyncio.wait_for(started.wait(), GUARD_SECONDS)
            stopping = asyncio.create_task(rt.stop())
            await asyncio.sleep(0.2)
            assert not stopping.done()  # waiting for the job, not cut off
            release.set()
            await asyncio.wait_for(stopping, GUARD_SECONDS)
            stopped = True
        finally:
            release.set()
            if not stopped:
                await rt.stop()
        check = create_engine(url)
        try:
            async with check.connect() as conn:
                names = (await conn.execute(select(m.tenants.c.name))).scalars().all()
        finally:
            await check.dispose()
        assert "written by slow-0" in names
