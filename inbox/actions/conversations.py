"""Conversation state changes: handoff (bot -> human), assign/transfer, resolve, reopen, snooze.

Owns the conversation lifecycle rules and who may apply them. Each change writes a system message and
emits `conversation.updated` (to the new and the previous assignee); changes that free or need
capacity poke routing after commit. Routing's own writes live in inbox/actions/routing.py.
What a person does here (assign, resolve, reopen, snooze, an agent's handoff) is audited; the bot's
handoff and routing's automatic assignments are not (they would flood the log, see `_audit`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from inbox import audit
from inbox import models as m
from inbox.access import may_see_conversation
from inbox.actions import assignments
from inbox.actions.events import message_event, updated_event
from inbox.auth import Principal
from inbox.automations import schedule
from inbox.db import insert as dialect_insert
from inbox.errors import Conflict, Forbidden, Invalid, NotFound, Unprocessable
from inbox.queries import conversations_select
from inbox.signals import routing_changed
from inbox.texts import Text
from inbox.uow import UnitOfWork

cv, jb, ag = m.conversations.c, m.jobs.c, m.agents.c

# Statuses in which a conversation counts against its assignee's capacity.
OPEN_LOAD = ("assigned", "snoozed")


async def load(uow: UnitOfWork, tenant_id: int, conversation_id: int, *, lock: bool = False) -> Row[Any]:
    """The conversation joined with channel and contact (the serializer's shape); 404 if not the tenant's.

    `lock`: hold the row until commit. SQLite has no row locks; a no-op write takes its database write
    lock instead, so the read below and the change after it cannot interleave with another writer."""
    noop, q = load_statements(uow.dialect, tenant_id, conversation_id, lock=lock)
    if noop is not None:
        await uow.conn.execute(noop)
    return found((await uow.conn.execute(q)).first())


def load_statements(dialect: str, tenant_id: int, conversation_id: int, *, lock: bool) -> tuple[Any, Any]:
    """`load`'s statements, for callers that run them synchronously: the no-op write that takes
    SQLite's lock (or None), then the read."""
    noop = None
    if lock and dialect == "sqlite":
        noop = (
            update(m.conversations)
            .where(cv.id == conversation_id, cv.tenant_id == tenant_id)
            .values(tenant_id=cv.tenant_id)
        )
    q = conversations_select().where(cv.id == conversation_id, cv.tenant_id == tenant_id)
    if lock and dialect == "postgresql":
        q = q.with_for_update(of=m.conversations)
    return noop, q


def found(row: Row[Any] | None) -> Row[Any]:
    """`load`'s answer: the row, or 404."""
    if row is None:
        raise NotFound("conversation not found", code="conversation_not_found")
    return row


async def change(
    uow: UnitOfWork,
    row: Row[Any],
    note: Text | None,
    *,
    why: assignments.Reason | None = None,
    by: int | None = None,
    **values: Any,
) -> Row[Any]:
    """Update a conversation, write an optional system message, emit conversation.updated. A change of
    status or hands moves waiting and load: routing (and the supervisor's figures) hear of it.

    `why` writes an assignment history row (`by`: the agent who did it); a change of holder without
    one is a bug, refused, so that no path can leave the history out. With it, the conversation's
    report credit moves in the same UPDATE: `held_since` (the new holder's interval) and, resolving,
    `resolved_by_id` (the one who resolved, else the holder)."""
    before = assignments.holder(row)
    # The history row's time is the change's own (resolved_at, assigned_at): reports join on it.
    at = values.get("resolved_at") or values.get("assigned_at") or values.get("handed_off_at") or m.utcnow()
    if why is not None:
        status, assignee = values.get("status", row.status), values.get("assignee_id", row.assignee_id)
        values["held_since"] = at if status in assignments.HELD and assignee is not None else None
        if why == "resolve":
            values["resolved_by_id"] = by if by is not None else before
    await uow.conn.execute(update(m.conversations).where(cv.id == row.id).values(**values))
    if "status" in values or "assignee_id" in values:
        _poke_routing(uow, row.tenant_id)
    new = await load(uow, row.tenant_id, row.id)
    after = assignments.holder(new)
    if why is None and before != after:
        raise RuntimeError("a change of hands needs its reason (assignment history)")
    if why is not None:
        await assignments.record(
            uow.conn,
            new,
            why,
            from_agent_id=before,
            to_agent_id=after,
            at=at,
            actor_id=by,
            assigned_at=row.assigned_at,
        )
    if note:
        await system_message(uow, new, note)
    uow.emit(row.tenant_id, updated_event(new, prev_assignee_id=row.assignee_id))
    return new


async def system_message(uow: UnitOfWork, conv: Row[Any], text: Text) -> dict[str, Any]:
    """The one way a system line is written: its English `text` (search, exports, old clients) and
    its `text_code`, which the browser renders in the agent's language (inbox/texts.py)."""
    row = (
        await uow.conn.execute(
            insert(m.messages)
            .values(
                tenant_id=conv.tenant_id,
                conversation_id=conv.id,
                channel_id=conv.channel_id,
                direction="out",
                sender_type="system",
                sender_id=None,
                kind="text",
                text=str(text),
                text_code=text.as_json(),
                attachments=[],
                status="note",
                deleted=False,
                created_at=m.utcnow(),
            )
            .returning(m.messages)
        )
    ).one()
    uow.emit(conv.tenant_id, message_event("message.created", row._mapping, conv._mapping))
    return dict(row._mapping)


def _poke_routing(uow: UnitOfWork, tenant_id: int) -> None:
    rt = uow.runtime
    uow.after_commit(lambda: routing_changed(rt, tenant_id))


async def _audit(uow: UnitOfWork, actor: Principal, action: str, conv: Row[Any], **details: Any) -> None:
    """One audit row for a person's change of a conversation (issue 19 item 3). Only the agent-facing
    functions below call it, and only when something changed: the bot's handoffs and routing's
    automatic assignments (inbox/actions/routing.py) happen on every conversation and would bury
    the people's actions in noise. Details hold ids and times, never message text or reasons
    typed by hand (they may quote the customer, and an erasure must leave no trace here)."""
    await audit.record(
        uow, actor.tenant_id, action, target_type="conversation", target_id=conv.id, details=details
    )


async def handoff(
    uow: UnitOfWork,
    tenant_id: int,
    conversation_id: int,
    *,
    reason: str,
    assign_to: int | None = None,
    by: int | None = None,
) -> Row[Any]:
    """Bot -> human: the conversation queues (or goes straight to `assign_to`) and the bot is silent
    there from now on (its pending turn is dropped; the bot only ever answers status `bot`).
    `by`: the agent whose action it is (None: the bot's own decision). `reason`: a `Text` where the
    server words it (shown in the agent's language), else the model's or the agent's own words, shown
    as they are."""
    conv = await load(uow, tenant_id, conversation_id, lock=True)
    await uow.conn.execute(m.jobs.delete().where(jb.kind == "bot", jb.key == str(conversation_id)))
    if conv.status != "bot":
        return conv
    now = m.utcnow()
    values: dict[str, Any] = {"handoff_reason": str(reason), "handed_off_at": now}
    if assign_to is not None:
        values.update(
            status="assigned", assignee_id=assign_to, assigned_at=now, queued_at=conv.queued_at or now
        )
        await _mark_assigned(uow, assign_to, now)
    else:
        values.update(status="queued", queued_at=now)
    return await change(
        uow, conv, Text("conversation.handed_off", reason=reason), why="handoff", by=by, **values
    )


async def request_handoff(uow: UnitOfWork, actor: Principal, conversation_id: int, reason: str) -> Row[Any]:
    """An agent pressing "hand over": bot -> human queue now, audited. A conversation already with
    humans is answered unchanged (and nothing is recorded)."""
    conv = await visible(uow, actor, conversation_id)
    if conv.status == "bot":
        await _audit(uow, actor, "conversation.handed_off", conv)
    return await handoff(uow, actor.tenant_id, conv.id, reason=reason, by=actor.agent_id)


async def conversation_ids_for(uow: UnitOfWork, tenant_id: int, status: str) -> list[int]:
    q = select(cv.id).where(cv.tenant_id == tenant_id, cv.status == status)
    return list((await uow.conn.execute(q)).scalars())


# --- agent actions (the contract's POST /api/conversations/{id}/...) ----------------------------


async def visible(uow: UnitOfWork, actor: Principal, conversation_id: int) -> Row[Any]:
    """Locked row the actor may act on: 404 for another tenant's, 403 beyond the visibility rule."""
    conv = await load(uow, actor.tenant_id, conversation_id, lock=True)
    if not may_see_conversation(actor, conv.assignee_id, conv.queue_id):
        raise Forbidden("this conversation is assigned to another agent", code="conversation_forbidden")
    return conv


async def _agent(uow: UnitOfWork, tenant_id: int, agent_id: int) -> Row[Any]:
    row = (
        await uow.conn.execute(select(m.agents).where(ag.id == agent_id, ag.tenant_id == tenant_id))
    ).first()
    if row is None:
        raise NotFound("agent not found")
    if row.disabled_at is not None:
        raise Unprocessable("that agent is disabled", code="agent_disabled")
    return row


async def _mark_assigned(uow: UnitOfWork, agent_id: int, now: datetime) -> None:
    """Routing's idle tie-break counts from an agent's last new conversation, however it came."""
    await uow.conn.execute(update(m.agents).where(ag.id == agent_id).values(last_assigned_at=now))


async def assign(uow: UnitOfWork, actor: Principal, conversation_id: int, agent_id: int | None) -> Row[Any]:
    """Assign or transfer to `agent_id`, or return to the queue (`None`).

    Agents may act on what they may see: take an unassigned conversation of their queues, pass their
    own (or an unassigned one) to a colleague, or give it back to the queue (as Chatwoot allows).
    Supervisors and admins may move anything in the tenant. A manual choice ignores queue membership,
    status and capacity: it is a person's decision. A bot conversation is taken over (handoff)."""
    conv = await visible(uow, actor, conversation_id)
    if conv.status == "resolved":
        raise Conflict("the conversation is resolved; reopen it first", code="conversation_resolved")
    by = actor.name
    if agent_id is not None:
        target = await _agent(uow, actor.tenant_id, agent_id)
        if conv.assignee_id == target.id and conv.status != "bot":
            return conv
        await _audit(
            uow, actor, "conversation.assigned", conv, agent_id=target.id, previous_agent_id=conv.assignee_id
        )
        if conv.status == "bot":
            return await handoff(
                uow,
                actor.tenant_id,
                conv.id,
                reason=Text("handoff.taken_over", by=by),
                assign_to=target.id,
                by=actor.agent_id,
            )
        now = m.utcnow()
        await _mark_assigned(uow, target.id, now)
        note = (
            Text("conversation.assigned", name=target.name)
            if target.id == actor.agent_id
            else Text("conversation.assigned_by", name=target.name, by=by)
        )
        values: dict[str, Any] = {"assignee_id": target.id, "assigned_at": now}
        if conv.status == "queued":  # a snoozed one stays snoozed, now someone else's
            values["status"] = "assigned"
        return await change(uow, conv, note, why="manual", by=actor.agent_id, **values)
    if conv.status != "bot" and conv.assignee_id is None:
        return conv
    await _audit(uow, actor, "conversation.assigned", conv, agent_id=None, previous_agent_id=conv.assignee_id)
    if conv.status == "bot":
        return await handoff(
            uow, actor.tenant_id, conv.id, reason=Text("handoff.sent_to_queue", by=by), by=actor.agent_id
        )
    values = {"assignee_id": None, "assigned_at": None}
    if conv.status == "assigned":
        values.update(status="queued", queued_at=_requeued_at(conv))
    return await change(
        uow, conv, Text("conversation.unassigned", by=by), why="unassign", by=actor.agent_id, **values
    )


def _requeued_at(conv: Row[Any]) -> datetime:
    """A customer still waiting for a first answer keeps its place in line; otherwise it queues anew."""
    if conv.first_response_at is None and conv.queued_at is not None:
        queued_at: datetime = conv.queued_at
        return queued_at
    return m.utcnow()


async def resolve(uow: UnitOfWork, actor: Principal, conversation_id: int) -> Row[Any]:
    """Close it (idempotent). The assignee stays recorded (reports credit them) but is freed."""
    conv = await visible(uow, actor, conversation_id)
    if conv.status == "resolved":
        return conv
    await _audit(uow, actor, "conversation.resolved", conv, previous_status=conv.status)
    await uow.conn.execute(
        m.jobs.delete().where(jb.kind.in_(("bot", "snooze")), jb.key == str(conversation_id))
    )
    resolved = await change(
        uow,
        conv,
        Text("conversation.resolved", by=actor.name),
        why="resolve",
        by=actor.agent_id,
        status="resolved",
        resolved_at=m.utcnow(),
        snoozed_until=None,
    )
    await schedule.conversation_resolved(uow, resolved)
    return resolved


async def reopen(uow: UnitOfWork, actor: Principal, conversation_id: int) -> Row[Any]:
    """A resolved conversation opens again: back to its assignee if still active, else queued.
    A snoozed one wakes now. An open one is left as it is. 409 if the contact already has another
    open conversation on the channel (one open conversation per contact and channel)."""
    conv = await visible(uow, actor, conversation_id)
    if conv.status == "snoozed":
        await _audit(uow, actor, "conversation.reopened", conv, previous_status=conv.status)
        return await wake(uow, conv, Text("conversation.reopened", by=actor.name))
    if conv.status != "resolved":
        return conv
    other = select(cv.id).where(
        cv.channel_id == conv.channel_id,
        cv.contact_id == conv.contact_id,
        cv.status != "resolved",
        cv.id != conv.id,
    )
    other_id = (await uow.conn.execute(other)).scalar()
    if other_id is not None:
        raise Conflict(
            f"this contact already has an open conversation on this channel (id {other_id})",
            code="conversation_open_elsewhere",
            params={"id": other_id},
        )
    active = (
        conv.assignee_id is not None
        and (
            await uow.conn.execute(
                select(exists().where(ag.id == conv.assignee_id, ag.disabled_at.is_(None)))
            )
        ).scalar()
    )
    await _audit(uow, actor, "conversation.reopened", conv, previous_status=conv.status)
    values: dict[str, Any] = {"resolved_at": None}
    if active:
        values["status"] = "assigned"
    else:
        values.update(status="queued", assignee_id=None, queued_at=m.utcnow())
    try:
        return await change(
            uow, conv, Text("conversation.reopened", by=actor.name), why="reopen", by=actor.agent_id, **values
        )
    except IntegrityError as exc:  # a new conversation opened concurrently (uq_conversations_open)
        raise Conflict(
            "this contact already has an open conversation on this channel",
            code="conversation_open_elsewhere",
        ) from exc


async def snooze(uow: UnitOfWork, actor: Principal, conversation_id: int, until: datetime) -> Row[Any]:
    """Set aside until `until`, or until the customer writes (ingest wakes it). Still counts against
    the assignee's capacity: it is theirs to come back to."""
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until <= m.utcnow():
        raise Invalid("until must be in the future", code="snooze_past")
    conv = await visible(uow, actor, conversation_id)
    if conv.status in ("resolved", "bot"):
        raise Conflict(
            f"a {conv.status} conversation cannot be snoozed",
            code="snooze_refused",
            params={"status": conv.status},
        )
    job = dialect_insert(uow.dialect, m.jobs)
    job = job.on_conflict_do_update(
        index_elements=["kind", "key"],
        set_={"run_at": job.excluded.run_at, "locked_until": None, "attempts": 0},
    )
    await uow.conn.execute(
        job,
        {
            "tenant_id": actor.tenant_id,
            "kind": "snooze",
            "key": str(conv.id),
            "run_at": until,
            "attempts": 0,
            "payload": {"conversation_id": conv.id},
            "created_at": m.utcnow(),
        },
    )
    rt = uow.runtime
    uow.after_commit(lambda: rt.wake("jobs"))
    await _audit(uow, actor, "conversation.snoozed", conv, until=until.astimezone(UTC))
    stamp = until.astimezone(UTC).isoformat(timespec="minutes").replace("+00:00", "Z")
    note = Text("conversation.snoozed", until=stamp, by=actor.name)
    return await change(uow, conv, note, status="snoozed", snoozed_until=until)


async def wake(uow: UnitOfWork, conv: Row[Any], note: Text) -> Row[Any]:
    """A snoozed conversation back to its assignee, or to the queue if it has none."""
    values: dict[str, Any] = {"snoozed_until": None}
    if conv.assignee_id is not None:
        values["status"] = "assigned"
    else:
        values.update(status="queued", queued_at=m.utcnow())
    return await change(uow, conv, note, **values)


async def wake_snoozed(uow: UnitOfWork, tenant_id: int, conversation_id: int) -> datetime | None:
    """The snooze job: wake the conversation if its time came. Returns a later time to try again at
    when the snooze was moved (or the clock that ran the job is early), else None."""
    try:
        conv = await load(uow, tenant_id, conversation_id, lock=True)
    except NotFound:
        return None
    if conv.status != "snoozed" or conv.snoozed_until is None:
        return None  # woken already (customer message, reopen) or resolved
    until: datetime = conv.snoozed_until
    if until > m.utcnow():
        return until
    await wake(uow, conv, Text("conversation.snooze_ended"))
    return None
