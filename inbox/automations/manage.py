"""Automations per tenant: create, change, switch on and off, delete, list; their runs; the seven
ready-made presets.

Owns the automation's validation (a template and channel of the tenant, a known trigger, an offset
within 90 days, business hours that make sense) and what switching one off does to its pending runs
(cancelled: an automation switched off sends nothing it had planned). Changes are audited.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import audit
from inbox import models as m
from inbox import templates as renderer
from inbox.auth import Principal
from inbox.automations import presets, schedule, triggers
from inbox.errors import Conflict, Invalid, NotFound
from inbox.serialize import iso
from inbox.texts import Text
from inbox.uow import UnitOfWork
from inbox.validation import DbId, validate

au, rn, tp, ch, msg, ct = (
    m.automations.c, m.automation_runs.c, m.templates.c, m.channels.c, m.messages.c, m.contacts.c
)  # fmt: skip
RUNS_PAGE = 100


class AutomationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    trigger: triggers.Trigger
    template_id: DbId
    channel_id: DbId | None = None
    offset_seconds: int | None = Field(default=None, ge=0, le=triggers.MAX_OFFSET)
    business_hours: triggers.BusinessHours | None = None
    while_bot: bool = False
    enabled: bool = False


def automation_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "trigger": row.trigger,
        "template_id": row.template_id,
        "channel_id": row.channel_id,
        "offset_seconds": row.offset_seconds,
        "business_hours": row.business_hours,
        "while_bot": row.while_bot,
        "enabled": row.enabled,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def _checked(conn: AsyncConnection, tenant_id: int, raw: Any) -> dict[str, Any]:
    data = validate(AutomationIn, raw, what="body")
    if not data.name.strip():
        raise Invalid("name: an automation needs a name")
    if data.business_hours is not None:
        try:
            data.business_hours.span()
        except ValueError as exc:
            raise Invalid(f"business_hours: {exc}") from exc
    template = (await conn.execute(select(tp.tenant_id).where(tp.id == data.template_id))).first()
    if template is None or template.tenant_id != tenant_id:
        raise Invalid("template_id: no such template")
    if data.channel_id is not None:
        channel = (await conn.execute(select(ch.tenant_id).where(ch.id == data.channel_id))).first()
        if channel is None or channel.tenant_id != tenant_id:
            raise Invalid("channel_id: no such channel")
    values = data.model_dump()
    values["name"] = data.name.strip()
    values["business_hours"] = data.business_hours.model_dump() if data.business_hours else None
    return values


async def _audit(uow: UnitOfWork, tenant_id: int, action: str, row: Any) -> None:
    details = {"name": row.name, "trigger": row.trigger, "enabled": row.enabled}
    await audit.record(uow, tenant_id, action, target_type="automation", target_id=row.id, details=details)


async def _own(conn: AsyncConnection, tenant_id: int, automation_id: int) -> Any:
    row = (await conn.execute(select(m.automations).where(au.id == automation_id))).first()
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("automation not found")
    return row


async def _write(uow: UnitOfWork, stmt: Any, name: str) -> Any:
    try:
        return (await uow.conn.execute(stmt.returning(m.automations))).one()
    except IntegrityError as exc:
        raise Conflict(
            f"name: an automation named {name!r} already exists", code="name_taken", params={"field": "name"}
        ) from exc


async def create(uow: UnitOfWork, p: Principal, raw: Any) -> dict[str, Any]:
    values = await _checked(uow.conn, p.tenant_id, raw)
    now = m.utcnow()
    stmt = insert(m.automations).values(tenant_id=p.tenant_id, created_at=now, updated_at=now, **values)
    row = await _write(uow, stmt, values["name"])
    await _audit(uow, p.tenant_id, "automation.created", row)
    return automation_json(row)


async def replace(uow: UnitOfWork, p: Principal, automation_id: int, raw: Any) -> dict[str, Any]:
    before = await _own(uow.conn, p.tenant_id, automation_id)
    values = await _checked(uow.conn, p.tenant_id, raw)
    stmt = update(m.automations).where(au.id == automation_id).values(updated_at=m.utcnow(), **values)
    row = await _write(uow, stmt, values["name"])
    await _after_change(uow, before, row)
    await _audit(uow, p.tenant_id, "automation.changed", row)
    return automation_json(row)


async def set_enabled(uow: UnitOfWork, tenant_id: int, automation_id: int, enabled: bool) -> dict[str, Any]:
    """Switch an automation on or off (the CLI's enable/disable)."""
    before = await _own(uow.conn, tenant_id, automation_id)
    stmt = update(m.automations).where(au.id == automation_id).values(enabled=enabled, updated_at=m.utcnow())
    row = (await uow.conn.execute(stmt.returning(m.automations))).one()
    await _after_change(uow, before, row)
    action = "automation.enabled" if enabled else "automation.disabled"
    await audit.record(
        uow, tenant_id, action, target_type="automation", target_id=row.id, details={"name": row.name}
    )
    return automation_json(row)


async def _after_change(uow: UnitOfWork, before: Any, after: Any) -> None:
    """Switched off, or on another trigger: what it had planned is cancelled."""
    if before.enabled and not after.enabled:
        await schedule.cancel(uow, rn.automation_id == after.id, Text("automation.switched_off"))
    elif before.trigger != after.trigger:
        await schedule.cancel(uow, rn.automation_id == after.id, Text("automation.trigger_changed"))


async def remove(uow: UnitOfWork, p: Principal, automation_id: int) -> None:
    row = await _own(uow.conn, p.tenant_id, automation_id)
    await schedule.cancel(uow, rn.automation_id == automation_id, Text("automation.deleted"))
    await uow.conn.execute(delete(m.automations).where(au.id == automation_id))
    await _audit(uow, p.tenant_id, "automation.deleted", row)


async def listing(conn: AsyncConnection, tenant_id: int) -> list[dict[str, Any]]:
    """The tenant's automations, each with its runs counted by status."""
    rows = (await conn.execute(select(m.automations).where(au.tenant_id == tenant_id).order_by(au.id))).all()
    counts: dict[int, dict[str, int]] = {}
    q = (
        select(rn.automation_id, rn.status, func.count())
        .where(rn.tenant_id == tenant_id)
        .group_by(rn.automation_id, rn.status)
    )
    for automation_id, status, n in await conn.execute(q):
        counts.setdefault(automation_id, {})[status] = n
    return [{**automation_json(r), "runs": counts.get(r.id, {})} for r in rows]


async def one(conn: AsyncConnection, tenant_id: int, automation_id: int) -> dict[str, Any]:
    return automation_json(await _own(conn, tenant_id, automation_id))


def run_json(row: Any) -> dict[str, Any]:
    """A run as an admin reads it: a sent message that failed later is `failed` with the provider's
    reason. `reason_code`: the reason as {code, params} (inbox/texts.py) for the browser to show in
    the reader's language; None for a provider's reason and for runs decided before codes."""
    status, reason, reason_code = row.status, row.reason, row.reason_code
    if status == "sent" and row.message_status == "failed":
        status, reason, reason_code = "failed", row.message_error, None
    return {
        "id": row.id,
        "automation_id": row.automation_id,
        "contact_id": row.contact_id,
        "contact_name": row.contact_name,
        "occurrence": row.occurrence,
        "due_at": iso(row.due_at),
        "status": status,
        "reason": reason,
        "reason_code": reason_code,
        "conversation_id": row.conversation_id,
        "appointment_id": row.appointment_id,
        "message_id": row.message_id,
        "message_status": row.message_status,
        "created_at": iso(row.created_at),
        "finished_at": iso(row.finished_at),
    }


async def runs(
    conn: AsyncConnection,
    tenant_id: int,
    automation_id: int,
    *,
    before: int | None = None,
    limit: int = RUNS_PAGE,
) -> dict[str, Any]:
    """The automation's runs, newest first; `before`: a run id to continue after (the cursor)."""
    await _own(conn, tenant_id, automation_id)
    q = (
        select(
            m.automation_runs,
            ct.name.label("contact_name"),
            msg.status.label("message_status"),
            msg.error.label("message_error"),
        )
        .join(m.contacts, ct.id == rn.contact_id)
        .outerjoin(m.messages, msg.id == rn.message_id)
        .where(rn.automation_id == automation_id)
    )
    if before is not None:
        q = q.where(rn.id < before)
    rows = (await conn.execute(q.order_by(rn.id.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [run_json(r) for r in rows], "next_cursor": str(rows[-1].id) if more else None}


async def install_presets(uow: UnitOfWork, tenant_id: int) -> list[dict[str, Any]]:
    """The seven ready-made automations and their templates, disabled; those already there (by
    name) are left as they are. Returns every preset's automation."""
    now = m.utcnow()
    out: list[dict[str, Any]] = []
    for preset in presets.PRESETS:
        renderer.check(preset.body)
        template_id = (
            await uow.conn.execute(select(tp.id).where(tp.tenant_id == tenant_id, tp.name == preset.name))
        ).scalar()
        if template_id is None:
            template_id = (
                await uow.conn.execute(
                    insert(m.templates)
                    .values(
                        tenant_id=tenant_id,
                        name=preset.name,
                        body=preset.body,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(tp.id)
                )
            ).scalar_one()
        row = (
            await uow.conn.execute(
                select(m.automations).where(au.tenant_id == tenant_id, au.name == preset.name)
            )
        ).first()
        if row is None:
            stmt = insert(m.automations).values(
                tenant_id=tenant_id, name=preset.name, trigger=preset.trigger, template_id=template_id,
                offset_seconds=preset.offset_seconds, enabled=False, while_bot=False,
                created_at=now, updated_at=now,
            )  # fmt: skip
            row = (await uow.conn.execute(stmt.returning(m.automations))).one()
            await _audit(uow, tenant_id, "automation.created", row)
        out.append(automation_json(row))
    return out
