"""Appointments of a contact: create, reschedule, complete, cancel; list by time range.

Owns the appointment's lifecycle (scheduled -> completed | cancelled, a cancelled one stays
cancelled) and its validation. Reminders key on these rows (the automations issue): a moved or
cancelled appointment is what moves or drops its pending reminder, and every change passes through
`_changed`, the one place for that hook. Agents' changes are audited (ids, status, times; never the
title, which may name the customer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import audit
from inbox import models as m
from inbox.auth import Principal
from inbox.automations import schedule
from inbox.errors import Conflict, Invalid, NotFound
from inbox.serialize import appointment_json
from inbox.uow import UnitOfWork
from inbox.validation import validate

ap, ct = m.appointments.c, m.contacts.c
MAX_RANGE = timedelta(days=366)


class AppointmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: AwareDatetime
    title: str = Field(min_length=1, max_length=300)
    ends_at: AwareDatetime | None = None


class AppointmentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["scheduled", "completed", "cancelled"] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    title: str | None = Field(default=None, min_length=1, max_length=300)


def _check_order(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise Invalid("ends_at: must be after starts_at")


async def create(uow: UnitOfWork, p: Principal, contact_id: int, raw: Any) -> dict[str, Any]:
    contact = (await uow.conn.execute(select(ct.tenant_id).where(ct.id == contact_id))).first()
    if contact is None or contact.tenant_id != p.tenant_id:
        raise NotFound("contact not found")
    data = validate(AppointmentIn, raw, what="body")
    _check_order(data.starts_at, data.ends_at)
    now = m.utcnow()
    row = (
        await uow.conn.execute(
            insert(m.appointments)
            .values(
                tenant_id=p.tenant_id,
                contact_id=contact_id,
                title=data.title.strip(),
                starts_at=data.starts_at,
                ends_at=data.ends_at,
                status="scheduled",
                created_by=p.agent_id,
                created_at=now,
                updated_at=now,
            )
            .returning(m.appointments)
        )
    ).one()
    await _changed(uow, p, None, row)
    return appointment_json(row._mapping)


async def change(uow: UnitOfWork, p: Principal, appointment_id: int, raw: Any) -> dict[str, Any]:
    q = select(m.appointments).where(ap.id == appointment_id)
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    row = (await uow.conn.execute(q)).first()
    if row is None or row.tenant_id != p.tenant_id:
        raise NotFound("appointment not found")
    data = validate(AppointmentChange, raw, what="body")
    given = data.model_fields_set
    if row.status == "cancelled" and (given - {"status"} or data.status not in (None, "cancelled")):
        raise Conflict(
            "a cancelled appointment cannot change; create a new one", code="appointment_cancelled"
        )
    values: dict[str, Any] = {}
    for name in ("status", "starts_at", "ends_at", "title"):
        if name in given:
            value = getattr(data, name)
            if value is None and name != "ends_at":
                raise Invalid(f"{name}: cannot be null")
            values[name] = value.strip() if isinstance(value, str) else value
    starts = values.get("starts_at", row.starts_at)
    _check_order(starts, values.get("ends_at", row.ends_at))
    values["updated_at"] = m.utcnow()
    new = (
        await uow.conn.execute(
            update(m.appointments).where(ap.id == appointment_id).values(**values).returning(m.appointments)
        )
    ).one()
    await _changed(uow, p, row, new)
    return appointment_json(new._mapping)


async def _changed(uow: UnitOfWork, p: Principal, before: Row[Any] | None, after: Row[Any]) -> None:
    """Every appointment change (create: `before` is None; reschedule, complete, cancel) ends here,
    inside its transaction: its automations follow (a reminder scheduled, moved or dropped, so a
    rollback undoes both), and the agent's change is audited."""
    await schedule.appointment_changed(uow, before, after)
    action = "appointment.created" if before is None else "appointment.changed"
    details: dict[str, Any] = {
        "contact_id": after.contact_id,
        "status": after.status,
        "starts_at": after.starts_at,
    }
    if before is not None:
        details.update(previous_status=before.status, previous_starts_at=before.starts_at)
    await audit.record(
        uow, p.tenant_id, action, target_type="appointment", target_id=after.id, details=details
    )


async def between(
    conn: AsyncConnection,
    p: Principal,
    start: datetime,
    end: datetime,
    *,
    contact_id: int | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The tenant's appointments starting in [start, end), soonest first."""
    if end <= start:
        raise Invalid("to: must be after from")
    if end - start > MAX_RANGE:
        raise Invalid("to: a range covers at most a year")
    q = select(m.appointments).where(ap.tenant_id == p.tenant_id, ap.starts_at >= start, ap.starts_at < end)
    if contact_id is not None:
        q = q.where(ap.contact_id == contact_id)
    rows = await conn.execute(q.order_by(ap.starts_at, ap.id).limit(limit))
    return [appointment_json(r._mapping) for r in rows]


def parse_instant(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 query parameter; a date alone is midnight UTC."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(f"{name}: not an ISO 8601 date or time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
