"""Deciding a due run: the jobs worker's handler for kind "automation".

In one transaction, with the run locked: a run already decided is left alone (a second claim after a
crash, another process), so a run is decided, and its message written, exactly once. The decision:
`sent` (a system message in the conversation, through the outbox like any reply, as the approved
provider template when the free-form window is closed), `skipped` or `cancelled`, each with a
reason an admin can read. The order of the checks is the order of the reasons: the first that
applies is the one given.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Row

from channels.base import free_form_refusal
from inbox import models as m
from inbox import templates
from inbox.actions.conversations import load
from inbox.actions.replies import write_outgoing
from inbox.actions.templates import context
from inbox.automations.schedule import reason_values
from inbox.texts import Text
from inbox.uow import UnitOfWork

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


async def automation_job(rt: Runtime, job: Row[Any]) -> None:
    async with rt.uow() as uow:
        await decide(uow, int(job.payload["run_id"]))


async def _locked_run(uow: UnitOfWork, run_id: int) -> Row[Any] | None:
    if uow.dialect == "sqlite":  # no row locks: a no-op write takes the database's write lock
        noop = update(m.automation_runs).where(rn.id == run_id).values(status=rn.status)
        return (await uow.conn.execute(noop.returning(m.automation_runs))).first()
    q = select(m.automation_runs).where(rn.id == run_id).with_for_update()
    return (await uow.conn.execute(q)).first()


async def decide(uow: UnitOfWork, run_id: int) -> str | None:
    """Decide the run if it is pending and due; returns its new status (None: left alone)."""
    run = await _locked_run(uow, run_id)
    if run is None or run.status != "pending" or run.due_at > m.utcnow() + EARLY:
        return None
    automation = (await uow.conn.execute(select(m.automations).where(au.id == run.automation_id))).one()
    values: dict[str, Any] = {"finished_at": m.utcnow()}
    try:
        conv_id, message_id = await _send(uow, run, automation)
        values.update(status="sent", conversation_id=conv_id, message_id=message_id)
    except Decided as decided:
        values.update(status=decided.status, **reason_values(decided.reason))
    await uow.conn.execute(update(m.automation_runs).where(rn.id == run.id).values(**values))
    status = str(values["status"])
    uow.after_commit(lambda: uow.runtime.metrics.automation_run(status))
    return status


async def _send(uow: UnitOfWork, run: Row[Any], automation: Row[Any]) -> tuple[int, int]:
    if not automation.enabled:
        raise Decided("skipped", Text("automation.disabled"))
    contact = (await uow.conn.execute(select(m.contacts).where(ct.id == run.contact_id))).one()
    if contact.opted_out_at is not None:
        raise Decided("skipped", Text("automation.opted_out"))
    appointment = await _appointment(uow, run, automation)
    conv = await _conversation(uow, run, automation)
    channel_row = (await uow.conn.execute(select(m.channels).where(m.channels.c.id == conv.channel_id))).one()
    if channel_row.disabled_at is not None:
        raise Decided("skipped", Text("automation.channel_disabled"))
    await _still_wanted(uow, run, automation, conv)
    template = (
        await uow.conn.execute(select(m.templates).where(m.templates.c.id == automation.template_id))
    ).one()
    assignee = await _assignee_name(uow, conv)
    ctx = await context(uow.conn, run.tenant_id, contact, appointment, agent_name=assignee)
    try:
        text = templates.render(template.body, ctx)
        parameters = [templates.render("{{" + v + "}}", ctx) for v in templates.variables(template.body)]
    except templates.MissingValue as exc:
        raise Decided(
            "failed", Text("automation.missing_value", variable="{{" + exc.variable + "}}")
        ) from exc
    spec = _template_if_needed(uow, conv, channel_row, template, parameters)
    row = await write_outgoing(uow, conv, text=text, sender_type="system", sender_id=None, template=spec)
    if automation.trigger == "conversation.resolved":
        await uow.conn.execute(
            update(m.conversations).where(cv.id == conv.id).values(csat_requested_at=m.utcnow())
        )
    return conv.id, row.id


async def _appointment(uow: UnitOfWork, run: Row[Any], automation: Row[Any]) -> Row[Any] | None:
    if not automation.trigger.startswith("appointment."):
        return None
    row = None
    if run.appointment_id is not None:
        row = (await uow.conn.execute(select(m.appointments).where(ap.id == run.appointment_id))).first()
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


async def _conversation(uow: UnitOfWork, run: Row[Any], automation: Row[Any]) -> Row[Any]:
    """Where to write: the run's own conversation, else the contact's latest one (on the
    automation's channel, when it names one). An automation writes where the customer already
    wrote: the provider needs the customer's address on that channel."""
    conversation_id = run.conversation_id
    if conversation_id is None:
        q = select(cv.id).where(cv.tenant_id == run.tenant_id, cv.contact_id == run.contact_id)
        if automation.channel_id is not None:
            q = q.where(cv.channel_id == automation.channel_id)
        conversation_id = (
            await uow.conn.execute(q.order_by(cv.last_message_at.desc(), cv.id.desc()))
        ).scalar()
    if conversation_id is None:
        on_channel = automation.channel_id is not None
        raise Decided(
            "skipped",
            Text("automation.no_conversation_on_channel" if on_channel else "automation.no_conversation"),
        )
    # On SQLite the run's lock is the database's: nothing else writes until this commits.
    return await load(uow, run.tenant_id, conversation_id, lock=uow.dialect != "sqlite")


async def _still_wanted(uow: UnitOfWork, run: Row[Any], automation: Row[Any], conv: Row[Any]) -> None:
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
    if trigger != "lead.no_reply" and (await uow.conn.execute(select(agent_since))).scalar():
        raise Decided("skipped", Text("automation.agent_wrote"))


async def _assignee_name(uow: UnitOfWork, conv: Row[Any]) -> str | None:
    if conv.assignee_id is None:
        return None
    q = select(m.agents.c.name).where(m.agents.c.id == conv.assignee_id)
    return (await uow.conn.execute(q)).scalar()


def _template_if_needed(
    uow: UnitOfWork, conv: Row[Any], channel_row: Row[Any], template: Row[Any], parameters: list[str]
) -> dict[str, Any] | None:
    """None when a free-form message may go now; else the approved provider template it goes as,
    or `Decided("skipped")` with the window's reason when there is none."""
    adapter = uow.runtime.adapters.get(conv.channel_provider)
    if adapter is None:
        raise Decided("skipped", Text("automation.provider_missing"))
    channel = uow.runtime.directory.config(channel_row, with_secrets=False)
    refusal = free_form_refusal(adapter, channel, conv.last_inbound_at, m.utcnow())
    if refusal is None:
        return None
    approved = template.provider_template
    if not approved or channel.kind not in adapter.template_kinds:
        if not approved:
            raise Decided("skipped", Text("automation.window_no_template", refusal=refusal))
        raise Decided("skipped", Text("automation.window_kind", refusal=refusal, kind=channel.kind))
    return {"name": approved["name"], "language": approved["language"], "parameters": parameters}
