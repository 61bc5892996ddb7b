"""Deciding a due run: the jobs worker's handler for kind "automation".

In one transaction, with the run locked: a run already decided is left alone (a second claim after a
crash, another process), so a run is decided, and its message written, exactly once. The decision:
`sent` (a system message in the conversation, through the outbox like any reply, as the approved
provider template when the free-form window is closed), `skipped` or `cancelled`, each with a
reason an admin can read. The order of the checks is the order of the reasons: the first that
applies is the one given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.engine import Connection, Row

from channels.base import free_form_refusal
from inbox import models as m
from inbox import templates
from inbox.actions.conversations import found, load_statements
from inbox.actions.replies import announce_outgoing, outgoing_rows
from inbox.actions.templates import context_of, context_tenant
from inbox.automations.schedule import reason_values
from inbox.texts import Text
from inbox.uow import UnitOfWork
from inbox.workers.jobs import settle

if TYPE_CHECKING:
    from inbox.runtime import Runtime

rn, au, cv, ct, ap, msg = (
    m.automation_runs.c, m.automations.c, m.conversations.c, m.contacts.c, m.appointments.c, m.messages.c
)  # fmt: skip
# A run that comes due this much before its time (clock skew between processes) still runs.
EARLY = timedelta(seconds=1)


class Decided(Exception):
    """Not sent: `status` (skipped | cancelled | failed) and why."""

    def __init__(self, status: str, reason: Text) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def automation_job(rt: Runtime, job: Row[Any]) -> bool:
    """Decides the run and settles its job in the same transaction (no second one to delete it)."""
    async with rt.uow() as uow:
        await decide(uow, int(job.payload["run_id"]), job=job)
    return True


@dataclass(frozen=True)
class Draft:
    """A message to send, worked out from what was read; `seen`: what it was decided on (`_SEEN`)."""

    run: Row[Any]
    conv: Row[Any]
    text: str
    template: dict[str, Any] | None
    csat: bool
    template_id: int
    seen: tuple[Any, ...]


@dataclass(frozen=True)
class _Written:
    status: str | None  # None: left alone
    message: Row[Any] | None = None


_LOCK_SQLITE = (
    update(m.automation_runs)
    .where(rn.id == bindparam("run_id"))
    .values(status=rn.status)
    .returning(m.automation_runs)
)


def _due(run: Row[Any] | None) -> bool:
    return run is not None and run.status == "pending" and run.due_at <= m.utcnow() + EARLY


async def decide(uow: UnitOfWork, run_id: int, *, job: Row[Any] | None = None) -> str | None:
    """Decide the run if it is pending and due; returns its new status (None: left alone). `job`:
    its jobs row, settled in the same transaction (`jobs.settle`).

    The decision's statements run synchronously (`UnitOfWork.run_sync`: on SQLite one hop to
    aiosqlite's thread for all of them, not three or four a statement). PostgreSQL locks the run
    and its conversation (FOR UPDATE) before it reads. SQLite has one write lock for the whole
    database, taken by a transaction's first write and held to its commit: there the reads come
    first, then the run is locked and what a send was decided on read again (`_SEEN`, one
    statement); if something moved in between (or the run is not a send), it is decided again
    under the lock. Either way the decision is written only with the run locked and still pending,
    on what is current under that lock: a run is decided once."""
    outcome, written = await uow.run_sync(_decide, uow.runtime, run_id, job)
    status = written.status
    if isinstance(outcome, Draft) and written.message is not None:
        announce_outgoing(uow, outcome.conv, written.message)
    if status is not None:
        uow.after_commit(lambda: uow.runtime.metrics.automation_run(status))
    return status


def _decide(
    conn: Connection, rt: Runtime, run_id: int, job: Row[Any] | None
) -> tuple[Draft | Decided | None, _Written]:
    if conn.dialect.name == "sqlite":
        run = conn.execute(select(m.automation_runs).where(rn.id == run_id)).first()
        outcome = _outcome(conn, rt, run, lock=False) if _due(run) else None
        if outcome is not None:
            run = conn.execute(_LOCK_SQLITE, {"run_id": run_id}).first()  # the write lock, to the commit
            if not _due(run):
                outcome = None
            elif not isinstance(outcome, Draft) or _seen(conn, outcome) != outcome.seen:
                outcome = _outcome(conn, rt, run, lock=False)  # nothing moves now
    else:
        run = conn.execute(select(m.automation_runs).where(rn.id == run_id).with_for_update()).first()
        outcome = _outcome(conn, rt, run, lock=True) if _due(run) else None
    written = _Written(None) if outcome is None else _write(conn, run_id, outcome)
    if job is not None:
        settle(conn, job)
    return outcome, written


def _outcome(conn: Connection, rt: Runtime, run: Any, *, lock: bool) -> Draft | Decided:
    automation = conn.execute(select(m.automations).where(au.id == run.automation_id)).one()
    try:
        return _draft(conn, rt, run, automation, lock=lock)
    except Decided as decided:
        return decided


def _write(conn: Connection, run_id: int, outcome: Draft | Decided) -> _Written:
    values: dict[str, Any] = {"finished_at": m.utcnow()}
    row = None
    if isinstance(outcome, Decided):
        values.update(status=outcome.status, **reason_values(outcome.reason))
    else:
        conv = outcome.conv
        row = outgoing_rows(
            conn,
            conv=conv,
            text=outcome.text,
            sender_type="system",
            sender_id=None,
            template=outcome.template,
        )
        if outcome.csat:
            conn.execute(update(m.conversations).where(cv.id == conv.id).values(csat_requested_at=m.utcnow()))
        values.update(status="sent", conversation_id=conv.id, message_id=row.id)
    conn.execute(update(m.automation_runs).where(rn.id == run_id).values(**values))
    return _Written(str(values["status"]), row)


def _scalar(column: Any, key: Any, name: str) -> Any:
    return select(column).where(key == bindparam(name)).scalar_subquery()


# What a send was decided on, read again under SQLite's write lock: the conversation (the bot, an
# agent's word, the window), the contact's opt-out, the channel, and the automation, template and
# appointment as last changed. Built once.
_SEEN = select(
    cv.status, cv.assignee_id, cv.last_inbound_at, cv.last_message_at,
    _scalar(ct.opted_out_at, ct.id, "contact"),
    _scalar(m.channels.c.disabled_at, m.channels.c.id, "channel"),
    _scalar(au.updated_at, au.id, "automation"),
    _scalar(m.templates.c.updated_at, m.templates.c.id, "template"),
    _scalar(ap.updated_at, ap.id, "appointment"),
).where(cv.id == bindparam("conversation"))  # fmt: skip


def _seen(conn: Connection, draft: Draft) -> tuple[Any, ...]:
    run = draft.run
    params = {
        "conversation": draft.conv.id,
        "contact": run.contact_id,
        "channel": draft.conv.channel_id,
        "automation": run.automation_id,
        "template": draft.template_id,
        "appointment": run.appointment_id,
    }
    row = conn.execute(_SEEN, params).first()
    return () if row is None else tuple(row)


def _draft(conn: Connection, rt: Runtime, run: Any, automation: Row[Any], *, lock: bool) -> Draft:
    if not automation.enabled:
        raise Decided("skipped", Text("automation.disabled"))
    contact = conn.execute(select(m.contacts).where(ct.id == run.contact_id)).one()
    if contact.opted_out_at is not None:
        raise Decided("skipped", Text("automation.opted_out"))
    appointment = _appointment(conn, run, automation)
    conv = _conversation(conn, run, automation, lock=lock)
    channel_row = conn.execute(select(m.channels).where(m.channels.c.id == conv.channel_id)).one()
    if channel_row.disabled_at is not None:
        raise Decided("skipped", Text("automation.channel_disabled"))
    _still_wanted(conn, run, automation, conv)
    template = conn.execute(select(m.templates).where(m.templates.c.id == automation.template_id)).one()
    assignee = _assignee_name(conn, conv)
    tenant = conn.execute(context_tenant(run.tenant_id)).one()
    ctx = context_of(tenant, contact, appointment, agent_name=assignee)
    try:
        text = templates.render(template.body, ctx)
        parameters = [templates.render("{{" + v + "}}", ctx) for v in templates.variables(template.body)]
    except templates.MissingValue as exc:
        raise Decided(
            "failed", Text("automation.missing_value", variable="{{" + exc.variable + "}}")
        ) from exc
    spec = _template_if_needed(rt, conv, channel_row, template, parameters)
    seen = (
        conv.status, conv.assignee_id, conv.last_inbound_at, conv.last_message_at, contact.opted_out_at,
        channel_row.disabled_at, automation.updated_at, template.updated_at,
        appointment.updated_at if appointment is not None else None,
    )  # fmt: skip
    csat = automation.trigger == "conversation.resolved"
    return Draft(run=run, conv=conv, text=text, template=spec, csat=csat, template_id=template.id, seen=seen)


def _appointment(conn: Connection, run: Any, automation: Row[Any]) -> Row[Any] | None:
    if not automation.trigger.startswith("appointment."):
        return None
    row = None
    if run.appointment_id is not None:
        row = conn.execute(select(m.appointments).where(ap.id == run.appointment_id)).first()
    if row is None:
        raise Decided("cancelled", Text("automation.appointment_gone"))
    if row.status == "cancelled":
        raise Decided("cancelled", Text("automation.appointment_cancelled"))
    if automation.trigger == "appointment.reminder":
        if row.status != "scheduled":
            raise Decided("cancelled", Text("automation.appointment_done"))
        if row.starts_at <= m.utcnow():
            raise Decided("skipped", Text("automation.appointment_started"))
    return row


def _conversation(conn: Connection, run: Any, automation: Row[Any], *, lock: bool) -> Row[Any]:
    """Where to write: the run's own conversation, else the contact's latest one (on the
    automation's channel, when it names one). An automation writes where the customer already
    wrote: the provider needs the customer's address on that channel."""
    conversation_id = run.conversation_id
    if conversation_id is None:
        q = select(cv.id).where(cv.tenant_id == run.tenant_id, cv.contact_id == run.contact_id)
        if automation.channel_id is not None:
            q = q.where(cv.channel_id == automation.channel_id)
        conversation_id = conn.execute(q.order_by(cv.last_message_at.desc(), cv.id.desc())).scalar()
    if conversation_id is None:
        on_channel = automation.channel_id is not None
        raise Decided(
            "skipped",
            Text("automation.no_conversation_on_channel" if on_channel else "automation.no_conversation"),
        )
    # Never SQLite's no-op write here: there the run's lock is the database's (`decide`).
    _, q = load_statements(conn.dialect.name, run.tenant_id, conversation_id, lock=lock)
    return found(conn.execute(q).first())


def _still_wanted(conn: Connection, run: Any, automation: Row[Any], conv: Row[Any]) -> None:
    """Never over the bot or a person: the conversation must still be where the trigger left it."""
    trigger = automation.trigger
    if (
        trigger == "lead.no_reply"
        and conv.last_inbound_at is not None
        and conv.last_inbound_at > run.created_at
    ):
        raise Decided("cancelled", Text("automation.answered"))
    if trigger == "conversation.resolved" and conv.status != "resolved":
        raise Decided("skipped", Text("automation.reopened"))
    if conv.status == "bot" and not automation.while_bot:
        raise Decided("skipped", Text("automation.bot_answering"))
    agent_since = exists().where(
        msg.conversation_id == conv.id,
        msg.direction == "out",
        msg.sender_type == "agent",
        msg.created_at > run.created_at,
    )
    if trigger != "lead.no_reply" and conn.execute(select(agent_since)).scalar():
        raise Decided("skipped", Text("automation.agent_wrote"))


def _assignee_name(conn: Connection, conv: Row[Any]) -> str | None:
    if conv.assignee_id is None:
        return None
    return conn.execute(select(m.agents.c.name).where(m.agents.c.id == conv.assignee_id)).scalar()


def _template_if_needed(
    rt: Runtime, conv: Row[Any], channel_row: Row[Any], template: Row[Any], parameters: list[str]
) -> dict[str, Any] | None:
    """None when a free-form message may go now; else the approved provider template it goes as,
    or `Decided("skipped")` with the window's reason when there is none."""
    adapter = rt.adapters.get(conv.channel_provider)
    if adapter is None:
        raise Decided("skipped", Text("automation.provider_missing"))
    channel = rt.directory.config(channel_row, with_secrets=False)
    refusal = free_form_refusal(adapter, channel, conv.last_inbound_at, m.utcnow())
    if refusal is None:
        return None
    approved = template.provider_template
    if not approved or channel.kind not in adapter.template_kinds:
        if not approved:
            raise Decided("skipped", Text("automation.window_no_template", refusal=refusal))
        raise Decided("skipped", Text("automation.window_kind", refusal=refusal, kind=channel.kind))
    return {"name": approved["name"], "language": approved["language"], "parameters": parameters}
