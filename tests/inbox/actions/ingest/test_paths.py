"""One scenario down every ingest path, compared: the per-delivery path (single.py), the portable
set-based batch (sqlite.py, run on both databases), SQLite's raw batch (embedded.py) and PostgreSQL's
one statement (postgresql.py) apply the same rules (plan.py) and log the same events.

The scenario: a first message, delivered a day late, opens a conversation (the customer's last word
counts from when the provider stamped it, not from its receipt: the messaging window must not reopen);
snoozed and unassigned, a message wakes it into the queue (waiting from now); snoozed and assigned, a
message wakes it back to its agent (its wait unchanged); a retried old message does not move the
customer's last word back; a message to an open conversation only bumps it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from channels.base import ChannelConfig, ContactRef, MessageReceived
from inbox import models as m
from inbox.actions.ingest import embedded, postgresql, single, sqlite
from inbox.sqlite_raw import on_thread
from tests.support import App

Path = Callable[[App, ChannelConfig, MessageReceived], Awaitable[None]]
cv, ev = m.conversations.c, m.events.c


async def by_single(app: App, channel: ChannelConfig, msg: MessageReceived) -> None:
    async with app.runtime.uow() as uow:
        await single.ingest(uow, channel, [msg])


async def by_portable_batch(app: App, channel: ChannelConfig, msg: MessageReceived) -> None:
    async with app.runtime.uow() as uow:
        await sqlite.ingest_batch(uow, [(channel, [msg])])


async def by_one_statement(app: App, channel: ChannelConfig, msg: MessageReceived) -> None:
    async with app.runtime.autocommit.connect() as conn:
        out = await postgresql.ingest(conn, [(channel, msg)], m.utcnow())
    assert out.leftover == []


async def by_raw_sqlite(app: App, channel: ChannelConfig, msg: MessageReceived) -> None:
    async with app.runtime.engine.connect() as conn:
        out = await on_thread(conn, embedded.ingest, [(channel, msg)], m.utcnow())
    assert out is not None
    await app.runtime.publish(out.records)


PATHS: dict[str, Path] = {
    "single": by_single,
    "portable batch": by_portable_batch,
    "one statement": by_one_statement,
    "raw sqlite": by_raw_sqlite,
}
# The paths each database runs (the portable batch runs on both).
ONLY = {"one statement": "postgresql", "raw sqlite": "sqlite"}

# What differs between two runs of the scenario by nature: ids, clocks, names of the run's objects.
_VARYING = {"id", "conversation_id", "created_at", "last_message_at", "queued_at", "window_closes_at",
            "provider_message_id", "sender", "contact", "channel", "assignee_id", "queue_id"}  # fmt: skip


def _shape(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _VARYING}


async def _scenario(app: App, path: Path) -> list[Any]:
    """What each step left: the conversation's state and the events it logged (normalized)."""
    tenant = await app.tenant()
    made = await tenant.channel()
    agent = await tenant.agent()
    channel = await app.runtime.directory.by_id(made.id)
    assert channel is not None
    customer = f"55{secrets.randbelow(10**10)}"
    seen = 0
    outcome: list[Any] = []

    async def step(text: str, stamped: datetime | None = None, **before: Any) -> None:
        nonlocal seen
        async with app.runtime.engine.begin() as conn:
            if before:
                await conn.execute(update(m.conversations).where(cv.channel_id == made.id).values(**before))
            q = select(cv.queued_at, cv.last_inbound_at).where(cv.channel_id == made.id)
            prior, prior_inbound = (await conn.execute(q)).one_or_none() or (None, None)
        started = m.utcnow()
        contact = ContactRef("whatsapp", customer, "Zé")
        msg = MessageReceived(contact, f"{text}-{customer}", "text", text=text, timestamp=stamped)
        await path(app, channel, msg)
        async with app.runtime.engine.connect() as conn:
            conv = (await conn.execute(select(m.conversations).where(cv.channel_id == made.id))).one()
            q = select(ev.seq, ev.type, ev.frame).where(ev.tenant_id == tenant.id, ev.seq > seen)
            logged = (await conn.execute(q.order_by(ev.seq))).all()
        seen = logged[-1].seq if logged else seen
        frames = [json.loads(r.frame) for r in logged if r.type != "agent.updated"]
        dialect = app.runtime.engine.dialect
        queued_at = m.UTCDateTime().process_result_value(conv.queued_at, dialect)
        inbound = m.UTCDateTime().process_result_value(conv.last_inbound_at, dialect)
        assert inbound is not None
        outcome.append(
            {
                "status": conv.status,
                "assigned": conv.assignee_id == agent.id,
                "snoozed_until": conv.snoozed_until,
                "unread": conv.unread_count,
                "waiting since": None
                if queued_at is None
                else "this message"
                if queued_at >= started
                else "before"
                if prior is not None and abs(queued_at - prior.replace(tzinfo=UTC)) < timedelta(seconds=1)
                else "other",
                "customer wrote": "as stamped"
                if stamped is not None and inbound == stamped
                else "at receipt"
                if inbound >= started
                else "unchanged"
                if prior_inbound is not None and inbound == prior_inbound.replace(tzinfo=UTC)
                else "other",
                "events": [(f["type"], _shape(f["data"])) for f in frames],
            }
        )

    stamped = (m.utcnow() - timedelta(hours=26)).replace(microsecond=0)
    await step("first, a day late", stamped)
    later = m.utcnow() + timedelta(days=1)
    await step("wakes into the queue", status="snoozed", snoozed_until=later)
    await step("wakes to its agent", status="snoozed", snoozed_until=later, assignee_id=agent.id)
    await step("retried, old", stamped - timedelta(hours=1))
    await step("bumps", m.utcnow() + timedelta(minutes=5))  # a provider clock ahead: receipt wins
    return outcome


async def test_every_path_applies_the_same_rules(app: App) -> None:
    dialect = app.runtime.engine.dialect.name
    paths = {name: path for name, path in PATHS.items() if ONLY.get(name, dialect) == dialect}
    results = {name: await _scenario(app, path) for name, path in paths.items()}
    reference = results.pop("single")
    # The scenario itself, as the per-delivery path plays it.
    assert [
        (s["status"], s["assigned"], s["unread"], s["waiting since"], s["customer wrote"]) for s in reference
    ] == [
        ("queued", False, 1, "this message", "as stamped"),
        ("queued", False, 2, "this message", "at receipt"),
        ("assigned", True, 3, "before", "at receipt"),
        ("assigned", True, 4, "before", "unchanged"),
        ("assigned", True, 5, "before", "at receipt"),
    ]
    assert [[t for t, _ in s["events"]] for s in reference] == [
        ["conversation.created", "message.created"],
        ["conversation.updated", "message.created"],
        ["conversation.updated", "message.created"],
        ["message.created"],
        ["message.created"],
    ]
    for name, outcome in results.items():
        for n, (got, want) in enumerate(zip(outcome, reference, strict=True), start=1):
            assert got == want, f"{name}, step {n}"
