"""Message templates per tenant: create, change, delete, list, and a preview filled from a real
contact (and appointment).

Owns the template's validation (a clear 422 for an unknown variable or an empty body, naming the
field) and the context a template is filled from (the tenant's time zone and locale). Rendering is
inbox/templates.py's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.registry import kinds
from inbox import models as m
from inbox import routing_settings, templates
from inbox.auth import Principal
from inbox.errors import Conflict, Invalid, NotFound, Unprocessable
from inbox.serialize import template_json
from inbox.uow import UnitOfWork
from inbox.validation import DbId, validate

tp, ct, ap, tn = m.templates.c, m.contacts.c, m.appointments.c, m.tenants.c


class ProviderTemplate(BaseModel):
    """An approved WhatsApp template: its name and language code (e.g. `pt_BR`)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, max_length=15, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=4096)
    channel_kind: str | None = None
    provider_template: ProviderTemplate | None = None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: DbId
    appointment_id: DbId | None = None


def _checked(data: TemplateIn) -> list[str]:
    if not data.name.strip():
        raise Invalid("name: a template needs a name")
    if data.channel_kind is not None and data.channel_kind not in kinds():
        raise Invalid(f"channel_kind: must be one of {', '.join(kinds())}")
    try:
        return templates.check(data.body, where="body")
    except Invalid as exc:
        raise Unprocessable(exc.message, code=exc.code, params=exc.params) from exc


def _values(data: TemplateIn) -> dict[str, Any]:
    return {
        "name": data.name.strip(),
        "body": data.body,
        "channel_kind": data.channel_kind,
        "provider_template": data.provider_template.model_dump() if data.provider_template else None,
    }


async def create(uow: UnitOfWork, p: Principal, raw: Any) -> dict[str, Any]:
    data = validate(TemplateIn, raw, what="body")
    variables = _checked(data)
    now = m.utcnow()
    try:
        row = (
            await uow.conn.execute(
                insert(m.templates)
                .values(tenant_id=p.tenant_id, created_at=now, updated_at=now, **_values(data))
                .returning(m.templates)
            )
        ).one()
    except IntegrityError as exc:
        raise Conflict(
            f"name: a template named {data.name.strip()!r} already exists",
            code="name_taken",
            params={"field": "name"},
        ) from exc
    return template_json(row._mapping, variables)


async def _own(conn: AsyncConnection, p: Principal, template_id: int) -> Any:
    row = (await conn.execute(select(m.templates).where(tp.id == template_id))).first()
    if row is None or row.tenant_id != p.tenant_id:
        raise NotFound("template not found")
    return row


async def replace(uow: UnitOfWork, p: Principal, template_id: int, raw: Any) -> dict[str, Any]:
    await _own(uow.conn, p, template_id)
    data = validate(TemplateIn, raw, what="body")
    variables = _checked(data)
    try:
        row = (
            await uow.conn.execute(
                update(m.templates)
                .where(tp.id == template_id)
                .values(updated_at=m.utcnow(), **_values(data))
                .returning(m.templates)
            )
        ).one()
    except IntegrityError as exc:
        raise Conflict(
            f"name: a template named {data.name.strip()!r} already exists",
            code="name_taken",
            params={"field": "name"},
        ) from exc
    return template_json(row._mapping, variables)


async def remove(uow: UnitOfWork, p: Principal, template_id: int) -> None:
    await _own(uow.conn, p, template_id)
    users = select(m.automations.c.name).where(m.automations.c.template_id == template_id)
    names = [r.name for r in await uow.conn.execute(users.order_by(m.automations.c.name))]
    if names:
        raise Conflict(
            f"the template is used by automation(s) {', '.join(names)}; change them first",
            code="template_in_use",
            params={"names": ", ".join(names)},
        )
    await uow.conn.execute(delete(m.templates).where(tp.id == template_id))


async def listing(conn: AsyncConnection, p: Principal) -> list[dict[str, Any]]:
    rows = await conn.execute(select(m.templates).where(tp.tenant_id == p.tenant_id).order_by(tp.name, tp.id))
    return [template_json(r._mapping, templates.variables(r.body)) for r in rows]


async def one(conn: AsyncConnection, p: Principal, template_id: int) -> dict[str, Any]:
    row = await _own(conn, p, template_id)
    return template_json(row._mapping, templates.variables(row.body))


async def context(
    conn: AsyncConnection,
    tenant_id: int,
    contact: Any,
    appointment: Any = None,
    agent_name: str | None = None,
) -> templates.Context:
    """What a template is filled from for `contact`: the tenant's name, time zone and locale."""
    tenant = (await conn.execute(context_tenant(tenant_id))).one()
    return context_of(tenant, contact, appointment, agent_name)


def context_tenant(tenant_id: int) -> Any:
    """What `context_of` needs of the tenant."""
    return select(tn.id, tn.name, tn.settings).where(tn.id == tenant_id)


def context_of(
    tenant: Any, contact: Any, appointment: Any = None, agent_name: str | None = None
) -> templates.Context:
    """`context` from the row `context_tenant` reads (for callers that run their statements
    synchronously)."""
    settings = tenant.settings or {}
    zone = routing_settings.parse(settings.get("routing"), where=str(tenant.id)).timezone
    locale: Literal["pt-BR", "en"] = "en" if settings.get("locale") == "en" else "pt-BR"
    return templates.Context(
        contact=dict(contact._mapping),
        appointment=dict(appointment._mapping) if appointment is not None else None,
        agent_name=agent_name,
        tenant_name=tenant.name,
        timezone=zone,
        locale=locale,
    )


async def preview(conn: AsyncConnection, p: Principal, template_id: int, raw: Any) -> dict[str, Any]:
    """The template filled for a real contact (and appointment), as it would be sent now."""
    row = await _own(conn, p, template_id)
    data = validate(PreviewIn, raw, what="body")
    contact = (await conn.execute(select(m.contacts).where(ct.id == data.contact_id))).first()
    if contact is None or contact.tenant_id != p.tenant_id:
        raise Invalid("contact_id: no such contact")
    appointment = None
    if data.appointment_id is not None:
        q = select(m.appointments).where(
            ap.id == data.appointment_id, ap.tenant_id == p.tenant_id, ap.contact_id == contact.id
        )
        appointment = (await conn.execute(q)).first()
        if appointment is None:
            raise Invalid("appointment_id: no such appointment of this contact")
    ctx = await context(conn, p.tenant_id, contact, appointment, agent_name=p.name)
    try:
        text = templates.render(row.body, ctx)
    except templates.MissingValue as exc:
        raise Unprocessable(str(exc)) from exc
    return {"text": text, "variables": templates.variables(row.body)}
