"""Writing runs: one per (automation, contact, occurrence), whatever repeats, each woken at its due
time by a `jobs` row (kind "automation", key the run's id) that the jobs worker claims with a lease.

Called inside the transaction of what triggers it (an appointment created, moved, completed or
cancelled; a conversation resolved; our reply that waits for an answer) or by the watcher (new
leads, birthdays). An occurrence names what the run is about ("appointment:42", "conversation:7",
"birthday:2026", ...): the unique key turns a repeat into nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Row

from inbox import models as m
from inbox import routing_settings
from inbox.automations import triggers
from inbox.db import insert as dialect_insert
from inbox.texts import Text
from inbox.uow import UnitOfWork

au, rn, jb = m.automations.c, m.automation_runs.c, m.jobs.c
JOB_KIND = "automation"


async def enabled(uow: UnitOfWork, tenant_id: int, trigger: str) -> list[Row[Any]]:
    q = select(m.automations).where(au.tenant_id == tenant_id, au.trigger == trigger, au.enabled.is_(True))
    return list((await uow.conn.execute(q.order_by(au.id))).all())


def due_at(automation: Any, anchor: datetime, zone: Any) -> datetime:
    """When `automation`'s run anchored at `anchor` is due: its offset, then its business hours."""
    when = triggers.due(automation.trigger, anchor, automation.offset_seconds)
    hours = triggers.hours_of(automation.business_hours)
    return triggers.next_opening(when, hours, zone) if hours is not None else when


async def _arm(uow: UnitOfWork, tenant_id: int, run_id: int, when: datetime) -> None:
    stmt = dialect_insert(uow.dialect, m.jobs).values(
        tenant_id=tenant_id,
        kind=JOB_KIND,
        key=str(run_id),
        run_at=when,
        attempts=0,
        payload={"run_id": run_id},
        created_at=m.utcnow(),
    )
    await uow.conn.execute(
        stmt.on_conflict_do_update(index_elements=["kind", "key"], set_={"run_at": stmt.excluded.run_at})
    )
    uow.after_commit(lambda: uow.runtime.wake("jobs"))


async def schedule(
    uow: UnitOfWork,
    tenant_id: int,
    trigger: str,
    *,
    contact_id: int,
    occurrence: str,
    anchor: datetime,
    conversation_id: int | None = None,
    appointment_id: int | None = None,
    automations: list[Row[Any]] | None = None,
) -> list[int]:
    """A pending run of every enabled automation on `trigger` (or of `automations`) that has none for
    this contact and occurrence yet; returns the new runs' ids. A run whose due time passed while its
    anchor did not (a reminder for an appointment booked at short notice) is due now; one whose
    anchor has passed too is not made."""
    chosen = automations if automations is not None else await enabled(uow, tenant_id, trigger)
    if not chosen:
        return []
    zone = (await routing_settings.load(uow.conn, tenant_id)).tz
    now = m.utcnow()
    made: list[int] = []
    for automation in chosen:
        when = due_at(automation, anchor, zone)
        if when < now:
            if triggers.TRIGGERS[trigger].before and anchor <= now:
                continue
            when = now
        stmt = (
            dialect_insert(uow.dialect, m.automation_runs)
            .values(
                tenant_id=tenant_id,
                automation_id=automation.id,
                contact_id=contact_id,
                occurrence=occurrence,
                due_at=when,
                status="pending",
                conversation_id=conversation_id,
                appointment_id=appointment_id,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["automation_id", "contact_id", "occurrence"])
            .returning(rn.id)
        )
        run_id = (await uow.conn.execute(stmt)).scalar()
        if run_id is not None:
            await _arm(uow, tenant_id, run_id, when)
            made.append(run_id)
    return made


def reason_values(reason: Text) -> dict[str, Any]:
    """A run's reason: its English text and its {code, params}, shown in the reader's language."""
    return {"reason": str(reason), "reason_code": reason.as_json()}


async def cancel(uow: UnitOfWork, runs: Any, reason: Text) -> int:
    """Cancel the pending runs `runs` (a WHERE clause) selects, and drop their jobs."""
    ids = [r.id for r in await uow.conn.execute(select(rn.id).where(runs, rn.status == "pending"))]
    if not ids:
        return 0
    await uow.conn.execute(
        update(m.automation_runs)
        .where(rn.id.in_(ids), rn.status == "pending")
        .values(status="cancelled", finished_at=m.utcnow(), **reason_values(reason))
    )
    await uow.conn.execute(delete(m.jobs).where(jb.kind == JOB_KIND, jb.key.in_([str(i) for i in ids])))
    return len(ids)


# -- what actions announce ---------------------------------------------------------------------------


async def appointment_changed(uow: UnitOfWork, before: Any | None, after: Any) -> None:
    """An appointment was created or changed (rows of `appointments`): its runs follow it. Created:
    confirmation and reminder. Moved: the pending reminder moves. Completed: the follow-up (documents
    after a procedure). Cancelled: whatever is pending is cancelled."""
    tenant_id, contact_id = after.tenant_id, after.contact_id
    occurrence = f"appointment:{after.id}"
    of_it = rn.appointment_id == after.id
    if after.status == "cancelled":
        await cancel(uow, of_it, Text("automation.appointment_cancelled"))
        return
    if before is None:
        for trigger, anchor in (
            ("appointment.created", m.utcnow()),
            ("appointment.reminder", after.starts_at),
        ):
            await schedule(
                uow, tenant_id, trigger, contact_id=contact_id, occurrence=occurrence,
                anchor=anchor, appointment_id=after.id,
            )  # fmt: skip
        return
    if after.status == "completed" and before.status != "completed":
        await cancel(
            uow, and_(of_it, _of_trigger("appointment.reminder")), Text("automation.appointment_done")
        )
        await schedule(
            uow, tenant_id, "appointment.completed", contact_id=contact_id, occurrence=occurrence,
            anchor=m.utcnow(), appointment_id=after.id,
        )  # fmt: skip
        return
    if after.starts_at != before.starts_at and after.status == "scheduled":
        await _move_reminders(uow, after)


def _of_trigger(trigger: str) -> Any:
    return rn.automation_id.in_(select(au.id).where(au.trigger == trigger))


async def _move_reminders(uow: UnitOfWork, appointment: Any) -> None:
    """The appointment moved: each pending reminder moves with it; an automation whose reminder was
    already decided (sent or skipped) reminds again for the new time."""
    tenant_id = appointment.tenant_id
    zone = (await routing_settings.load(uow.conn, tenant_id)).tz
    now = m.utcnow()
    reminders = await enabled(uow, tenant_id, "appointment.reminder")
    for automation in reminders:
        q = select(m.automation_runs).where(
            rn.automation_id == automation.id, rn.appointment_id == appointment.id, rn.status == "pending"
        )
        for run in await uow.conn.execute(q):
            when = max(due_at(automation, appointment.starts_at, zone), now)
            if appointment.starts_at <= now:
                await cancel(uow, rn.id == run.id, Text("automation.appointment_past"))
                continue
            await uow.conn.execute(update(m.automation_runs).where(rn.id == run.id).values(due_at=when))
            await _arm(uow, tenant_id, run.id, when)
    # Decided reminders of the old time: a new occurrence for the new time.
    stamp = appointment.starts_at.strftime("%Y%m%dT%H%M")
    decided = [
        a for a in reminders
        if (await uow.conn.execute(select(rn.id).where(
            rn.automation_id == a.id, rn.appointment_id == appointment.id, rn.status == "pending"
        ))).first() is None
    ]  # fmt: skip
    if decided:
        await schedule(
            uow, tenant_id, "appointment.reminder", contact_id=appointment.contact_id,
            occurrence=f"appointment:{appointment.id}@{stamp}", anchor=appointment.starts_at,
            appointment_id=appointment.id, automations=decided,
        )  # fmt: skip


async def conversation_resolved(uow: UnitOfWork, conv: Any) -> None:
    """A feedback request after the conversation is resolved (once per conversation)."""
    await schedule(
        uow, conv.tenant_id, "conversation.resolved", contact_id=conv.contact_id,
        occurrence=f"conversation:{conv.id}", anchor=m.utcnow(), conversation_id=conv.id,
    )  # fmt: skip


async def awaiting_answer(uow: UnitOfWork, conv: Any, message_id: int) -> None:
    """We wrote and wait for the customer: a follow-up if they do not answer (each of our messages
    starts its own wait; the earlier waits of the conversation are cancelled, the latest counts)."""
    automations = await enabled(uow, conv.tenant_id, "lead.no_reply")
    if not automations:
        return
    waiting = and_(rn.conversation_id == conv.id, _of_trigger("lead.no_reply"))
    await cancel(uow, waiting, Text("automation.later_message"))
    await schedule(
        uow, conv.tenant_id, "lead.no_reply", contact_id=conv.contact_id,
        occurrence=f"message:{message_id}", anchor=m.utcnow(), conversation_id=conv.id,
        automations=automations,
    )  # fmt: skip


STALE_LEAD = timedelta(minutes=10)
