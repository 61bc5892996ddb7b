"""Direct database setup and checks for the bench: agents with tokens, assignments, counts, replies.

Agents are inserted in bulk with one precomputed password hash and ready-made bearer tokens: 5,000
agents through the CLI would spend minutes in argon2, which is not what is being measured. Rows
follow the product's schema exactly (inbox.models), so the server sees them as its own.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update

from inbox import models as m
from inbox.auth import hash_password, token_hash
from inbox.automations.schedule import JOB_KIND
from inbox.db import create_engine

_PASSWORD_HASH = ""


def _password_hash() -> str:
    global _PASSWORD_HASH
    if not _PASSWORD_HASH:
        _PASSWORD_HASH = hash_password(secrets.token_urlsafe(12))
    return _PASSWORD_HASH


class Db:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    async def close(self) -> None:
        await self.engine.dispose()

    async def agents(
        self, tenant_id: int, role: str, count: int, queue_id: int | None = None, tag: str = ""
    ) -> list[tuple[int, str]]:
        """`count` agents with a bearer token each: [(agent id, token)], in creation order."""
        now = m.utcnow()
        tag = tag or secrets.token_hex(3)
        rows = [
            {
                "tenant_id": tenant_id,
                "email": f"{role}-{tag}-{i}@bench.example",
                "name": f"{role.title()} {tag} {i}",
                "password_hash": _password_hash(),
                "role": role,
                "capacity": 5,
                "status": "offline",
                "created_at": now,
            }
            for i in range(count)
        ]
        out: list[tuple[int, str]] = []
        async with self.engine.begin() as conn:
            ids = [
                r.id
                for r in await conn.execute(
                    insert(m.agents).returning(m.agents.c.id, sort_by_parameter_order=True), rows
                )
            ]
            tokens = [secrets.token_urlsafe(24) for _ in ids]
            await conn.execute(
                insert(m.auth_tokens),
                [
                    {
                        "tenant_id": tenant_id,
                        "agent_id": aid,
                        "token_hash": token_hash(tok),
                        "created_at": now,
                        "expires_at": now + timedelta(days=1),
                    }
                    for aid, tok in zip(ids, tokens, strict=True)
                ],
            )
            if queue_id is not None:
                await conn.execute(
                    insert(m.queue_members),
                    [{"queue_id": queue_id, "agent_id": aid, "tenant_id": tenant_id} for aid in ids],
                )
            out = list(zip(ids, tokens, strict=True))
        return out

    async def conversations_of(self, tenant_id: int, channel_id: int, senders: list[str]) -> dict[str, int]:
        """The open conversation id of each sender (phone number) on a channel."""
        idt, cv = m.contact_identities.c, m.conversations.c
        q = (
            select(idt.external_id, cv.id)
            .join(m.conversations, cv.contact_id == idt.contact_id)
            .where(
                idt.tenant_id == tenant_id,
                cv.channel_id == channel_id,
                cv.status != "resolved",
                idt.external_id.in_(bindparam("xs", expanding=True)),
            )
        )
        out: dict[str, int] = {}
        async with self.engine.connect() as conn:
            for i in range(0, len(senders), 500):
                for xid, cid in await conn.execute(q, {"xs": senders[i : i + 500]}):
                    out[xid] = cid
        return out

    async def assign(self, assignments: dict[int, int]) -> None:
        """conversation id -> agent id, as if an agent had taken each one."""
        now = m.utcnow()
        cv = m.conversations.c
        stmt = (
            update(m.conversations)
            .where(cv.id == bindparam("cid"))
            .values(assignee_id=bindparam("aid"), status="assigned", assigned_at=now)
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, [{"cid": c, "aid": a} for c, a in assignments.items()])

    async def analyze(self) -> None:
        """Fresh statistics, as a database in service has: planned on the stats of near-empty tables,
        PostgreSQL's generic plans filter instead of using an index, and the run would measure that."""
        async with self.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))

    async def resolve_all(self, tenant_id: int) -> None:
        cv = m.conversations.c
        async with self.engine.begin() as conn:
            await conn.execute(
                update(m.conversations)
                .where(cv.tenant_id == tenant_id, cv.status != "resolved")
                .values(status="resolved", resolved_at=m.utcnow())
            )

    async def forget_sockets(self) -> int:
        """Drop the presence rows a stopped server left behind. The next server would otherwise sweep
        them (one transaction per agent, thousands after the sockets phase) in the middle of the
        latency phase; that sweep is reported on its own, not folded into end-to-end latency."""
        async with self.engine.begin() as conn:
            return int((await conn.execute(delete(m.agent_sockets))).rowcount or 0)

    async def count_inbound(self, tenant_id: int) -> int:
        msg = m.messages.c
        async with self.engine.connect() as conn:
            q = (
                select(func.count())
                .select_from(m.messages)
                .where(msg.tenant_id == tenant_id, msg.direction == "in")
            )
            return int((await conn.execute(q)).scalar_one())

    async def count_status(self, tenant_id: int, status: str) -> int:
        msg = m.messages.c
        async with self.engine.connect() as conn:
            q = (
                select(func.count())
                .select_from(m.messages)
                .where(msg.tenant_id == tenant_id, msg.status == status)
            )
            return int((await conn.execute(q)).scalar_one())

    async def queue_replies(self, tenant_id: int, conv_channel: list[tuple[int, int]], count: int) -> None:
        """`count` queued replies with their outbox rows (what `create_reply` writes), round-robin over
        the given (conversation id, channel id) pairs, in one transaction."""
        now = m.utcnow()
        rows: list[dict[str, Any]] = []
        for i in range(count):
            conv_id, channel_id = conv_channel[i % len(conv_channel)]
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "conversation_id": conv_id,
                    "channel_id": channel_id,
                    "direction": "out",
                    "sender_type": "agent",
                    "sender_id": None,
                    "kind": "text",
                    "text": f"Seu pedido {i} saiu para entrega.",
                    "attachments": [],
                    "status": "queued",
                    "deleted": False,
                    "created_at": now,
                }
            )
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(m.messages).returning(
                    m.messages.c.id, m.messages.c.conversation_id, sort_by_parameter_order=True
                ),
                rows,
            )
            outbox = [
                {
                    "tenant_id": tenant_id,
                    "message_id": r.id,
                    "conversation_id": r.conversation_id,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for r in result
            ]
            await conn.execute(insert(m.outbox), outbox)

    async def due_reminders(self, tenant_id: int, automation_id: int, channel_id: int, count: int) -> int:
        """`count` appointments 23 hours ahead over the contacts who wrote on `channel_id`, each with its
        24-hour reminder run due now and the job that wakes it: what `inbox.automations.schedule` writes
        for an appointment booked at short notice, in one transaction. Returns how many contacts."""
        cv = m.conversations.c
        now = m.utcnow()
        async with self.engine.begin() as conn:
            q = (
                select(cv.contact_id)
                .where(cv.tenant_id == tenant_id, cv.channel_id == channel_id)
                .distinct()
                .order_by(cv.contact_id)
            )
            contacts = list((await conn.execute(q)).scalars())
            if not contacts:
                return 0
            appointments = await conn.execute(
                insert(m.appointments).returning(
                    m.appointments.c.id, m.appointments.c.contact_id, sort_by_parameter_order=True
                ),
                [
                    {
                        "tenant_id": tenant_id,
                        "contact_id": contacts[i % len(contacts)],
                        "title": f"Consulta {i}",
                        "starts_at": now + timedelta(hours=23),
                        "status": "scheduled",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(count)
                ],
            )
            runs = await conn.execute(
                insert(m.automation_runs).returning(m.automation_runs.c.id, sort_by_parameter_order=True),
                [
                    {
                        "tenant_id": tenant_id,
                        "automation_id": automation_id,
                        "contact_id": a.contact_id,
                        "occurrence": f"appointment:{a.id}",
                        "due_at": now,
                        "status": "pending",
                        "appointment_id": a.id,
                        "created_at": now,
                    }
                    for a in appointments
                ],
            )
            await conn.execute(
                insert(m.jobs),
                [
                    {
                        "tenant_id": tenant_id,
                        "kind": JOB_KIND,
                        "key": str(r.id),
                        "run_at": now,
                        "attempts": 0,
                        "payload": {"run_id": r.id},
                        "created_at": now,
                    }
                    for r in runs
                ],
            )
        return len(contacts)

    async def runs_by_status(self, automation_id: int) -> dict[str, int]:
        rn = m.automation_runs.c
        q = select(rn.status, func.count()).where(rn.automation_id == automation_id).group_by(rn.status)
        async with self.engine.connect() as conn:
            return {str(status): int(n) for status, n in await conn.execute(q)}

    async def sent_by_automations(self, tenant_id: int) -> int:
        """System messages (automations') the provider accepted."""
        msg = m.messages.c
        q = (
            select(func.count())
            .select_from(m.messages)
            .where(msg.tenant_id == tenant_id, msg.sender_type == "system", msg.status == "sent")
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())
