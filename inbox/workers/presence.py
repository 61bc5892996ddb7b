"""Presence from live sockets: an agent whose last socket closed, in every process, goes offline
after a grace period. Coming online is the agent's choice (PUT /api/agents/me/status), remembered:
logging in restores it, and so does the agent's first socket after presence set it offline
(`resume` in inbox/actions/presence.py). A login whose socket never opens, in any process, goes
offline after the same grace (`expect`), so a script's login draws no conversations.

How processes agree: each process keeps a row per agent it holds sockets of in `agent_sockets`
(agent, process, seen_at) and re-asserts all its rows every heartbeat. When an agent's last local
socket closes, after the grace period the process deletes its row, commits, and only then looks
for other processes' fresh rows: of two processes closing at once, at least one sees neither row
and sets the agent offline. Rows not refreshed for three heartbeats belong to a dead process; any
process sweeps them and applies the same rule. Known gap: a socket opening on another process in
the instant of that check can still see its agent set offline (the agent sets it back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, delete, select, update

from inbox import db
from inbox import models as m
from inbox.actions.presence import WORKING, resume, set_status
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
so = m.agent_sockets.c


class Presence:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.process_id = secrets.token_hex(16)
        self.grace = runtime.settings.presence_grace_seconds
        self.heartbeat = runtime.settings.presence_heartbeat_seconds
        self.counts: dict[int, int] = {}  # agent -> live local sockets
        self.tenant_of: dict[int, int] = {}
        self.leaving: dict[int, tuple[int, float]] = {}  # agent -> (tenant, deadline)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        ins = db.insert(runtime.engine, m.agent_sockets)
        self._upsert = ins.on_conflict_do_update(
            index_elements=["agent_id", "process_id"], set_={"seen_at": ins.excluded.seen_at}
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="presence")

    async def stop(self) -> None:
        # Rows stay: if this process does not come back they go stale and another one sweeps them.
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def opened(self, tenant_id: int, agent_id: int) -> None:
        n = self.counts.get(agent_id, 0)
        self.counts[agent_id] = n + 1  # first, so that closed() always balances
        self.tenant_of[agent_id] = tenant_id
        self.leaving.pop(agent_id, None)
        if n == 0:
            async with self.rt.engine.begin() as conn:
                await conn.execute(self._upsert, [self._row(agent_id, tenant_id)])
                # Usually nothing to restore: a read here, a unit of work only when there is.
                restore = (await conn.execute(_restorable, {"aid": agent_id, "tid": tenant_id})).first()
            if restore is not None:
                async with self.rt.uow() as uow:
                    await resume(uow, tenant_id, agent_id)

    def expect(self, tenant_id: int, agent_id: int) -> None:
        """The agent just logged in here: its socket should open soon, here or in another process.
        Unless one does within the grace, it goes offline (the rule for a last socket closing)."""
        if agent_id not in self.counts:
            self.leaving[agent_id] = (tenant_id, asyncio.get_running_loop().time() + self.grace)
            self._wake.set()

    def closed(self, agent_id: int) -> None:
        n = self.counts.get(agent_id, 0) - 1
        if n > 0:
            self.counts[agent_id] = n
            return
        self.counts.pop(agent_id, None)
        tenant_id = self.tenant_of.pop(agent_id, None)
        if tenant_id is not None:
            self.leaving[agent_id] = (tenant_id, asyncio.get_running_loop().time() + self.grace)
            self._wake.set()

    def _row(self, agent_id: int, tenant_id: int) -> dict[str, object]:
        return {
            "agent_id": agent_id,
            "process_id": self.process_id,
            "tenant_id": tenant_id,
            "seen_at": m.utcnow(),
        }

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time()
        while True:
            now = loop.time()
            if now >= next_beat:
                next_beat = now + self.heartbeat
                try:
                    await self._beat()
                except Exception:
                    log.exception("presence heartbeat failed")
            for agent_id, (tenant_id, deadline) in list(self.leaving.items()):
                if deadline <= loop.time() and self.leaving.get(agent_id) == (tenant_id, deadline):
                    del self.leaving[agent_id]
                    try:
                        await self._left(tenant_id, agent_id)
                    except Exception:
                        log.exception("presence check for agent %s failed", agent_id)
            wake_at = min([next_beat, *(d for _, d in self.leaving.values())])
            self._wake.clear()
            await wait_event(self._wake, wake_at - loop.time())

    async def _beat(self) -> None:
        if self.tenant_of:
            # One UPDATE refreshes every row of ours; only rows that went missing (swept while this
            # process stalled) are written again. Thousands of sockets cost one statement.
            async with self.rt.engine.begin() as conn:
                present = set(
                    (
                        await conn.execute(
                            update(m.agent_sockets)
                            .where(so.process_id == self.process_id)
                            .values(seen_at=m.utcnow())
                            .returning(so.agent_id)
                        )
                    ).scalars()
                )
                missing = [self._row(a, t) for a, t in self.tenant_of.items() if a not in present]
                if missing:
                    await conn.execute(self._upsert, missing)
        # Rows of processes that stopped heartbeating (read first: usually there are none, and a
        # DELETE would take SQLite's write lock for nothing).
        stale_before = m.utcnow() - timedelta(seconds=3 * self.heartbeat)
        async with self.rt.engine.connect() as conn:
            if (await conn.execute(_stale, {"before": stale_before})).first() is None:
                return
        async with self.rt.engine.begin() as conn:
            stale = (
                await conn.execute(
                    delete(m.agent_sockets)
                    .where(so.seen_at < stale_before)
                    .returning(so.agent_id, so.tenant_id)
                )
            ).all()
        for agent_id, tenant_id in {(r.agent_id, r.tenant_id) for r in stale}:
            if agent_id not in self.counts:
                await self._offline_unless_present(tenant_id, agent_id)

    async def _left(self, tenant_id: int, agent_id: int) -> None:
        if agent_id in self.counts:
            return
        async with self.rt.engine.begin() as conn:
            await conn.execute(
                delete(m.agent_sockets).where(so.agent_id == agent_id, so.process_id == self.process_id)
            )
        await self._offline_unless_present(tenant_id, agent_id)

    async def _offline_unless_present(self, tenant_id: int, agent_id: int) -> None:
        fresh_after = m.utcnow() - timedelta(seconds=3 * self.heartbeat)
        async with self.rt.uow() as uow:
            elsewhere = (await uow.conn.execute(_present, {"aid": agent_id, "fresh": fresh_after})).first()
            status = (
                await uow.conn.execute(_status, {"aid": agent_id, "tid": tenant_id})
            ).scalar_one_or_none()
            if elsewhere is not None or status in (None, "offline") or agent_id in self.counts:
                return
            await set_status(uow, tenant_id, agent_id, "offline")


_present = (
    select(so.process_id)
    .where(and_(so.agent_id == bindparam("aid"), so.seen_at > bindparam("fresh")))
    .limit(1)
)
_stale = select(so.agent_id).where(so.seen_at < bindparam("before")).limit(1)
_status = select(m.agents.c.status).where(
    m.agents.c.id == bindparam("aid"), m.agents.c.tenant_id == bindparam("tid")
)
_restorable = select(m.agents.c.id).where(
    m.agents.c.id == bindparam("aid"),
    m.agents.c.tenant_id == bindparam("tid"),
    m.agents.c.status == "offline",
    m.agents.c.chosen_status.in_(WORKING),
)
