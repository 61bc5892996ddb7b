"""The contact profile agents keep: name, email, phone, birthday, free attributes, the lead's stage in
the tenant's pipeline; and the pipeline's stages themselves.

Owns validation of each field (a clear error naming it) and the tenant's pipeline (settings
`pipeline`, default new, contacted, qualified, customer, lost). A renamed contact's open
conversations are announced again, so every agent's list shows the new name.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update

from inbox import models as m
from inbox.actions.events import updated_event
from inbox.auth import Principal
from inbox.errors import Invalid, NotFound
from inbox.queries import contact_for, conversations_select
from inbox.uow import UnitOfWork
from inbox.validation import validate

ct, cv, tn = m.contacts.c, m.conversations.c, m.tenants.c

DEFAULT_STAGES = ("new", "contacted", "qualified", "customer", "lost")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_STAGE = re.compile(r"^[a-z0-9_-]{1,30}$")
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class ContactChange(BaseModel):
    """PATCH /api/contacts/{id}: any subset; null clears (but a name or stage cannot be cleared)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    birthday: date | None = None
    lead_status: str | None = None
    attributes: dict[str, str | int | float | bool | None] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and value.strip() and not _EMAIL.match(value.strip()):
            raise ValueError("not an email address")
        return value.strip().lower() or None if value is not None else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        digits = re.sub(r"[\s().-]", "", value)
        if not re.fullmatch(r"\+?\d{6,20}", digits):
            raise ValueError("a phone number has 6 to 20 digits (spaces, dots, dashes and brackets allowed)")
        return digits

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if len(value) > 50:
            raise ValueError("at most 50 attributes")
        bad = [k for k in value if not _ATTRIBUTE_KEY.match(k)]
        if bad:
            raise ValueError(f"attribute names are letters, digits and _ (up to 64): {bad[0]!r}")
        if any(isinstance(v, str) and len(v) > 1000 for v in value.values()):
            raise ValueError("an attribute value has at most 1000 characters")
        return value


async def pipeline(uow: UnitOfWork, tenant_id: int) -> list[str]:
    settings = (await uow.conn.execute(select(tn.settings).where(tn.id == tenant_id))).scalar() or {}
    return list(settings.get("pipeline") or DEFAULT_STAGES)


class PipelineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: list[str] = Field(min_length=1, max_length=20)

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if not _STAGE.match(s)]
        if bad:
            raise ValueError(f"a stage is 1-30 lowercase letters, digits, _ or - ({bad[0]!r} is not)")
        if len(set(value)) != len(value):
            raise ValueError("stages must be distinct")
        return value


async def set_pipeline(uow: UnitOfWork, tenant_id: int, raw: Any) -> list[str]:
    """Replace the tenant's stages. Contacts at a stage that goes keep it until an agent moves them."""
    stages = validate(PipelineIn, raw, what="stages").stages
    q = select(tn.settings).where(tn.id == tenant_id)
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    settings = dict((await uow.conn.execute(q)).scalar() or {})
    settings["pipeline"] = stages
    await uow.conn.execute(update(m.tenants).where(tn.id == tenant_id).values(settings=settings))
    return stages


async def update_contact(uow: UnitOfWork, p: Principal, contact_id: int, raw: Any) -> dict[str, Any]:
    row = (await uow.conn.execute(select(m.contacts).where(ct.id == contact_id))).first()
    if row is None or row.tenant_id != p.tenant_id:
        raise NotFound("contact not found")
    change = validate(ContactChange, raw, what="body")
    given = change.model_fields_set
    values: dict[str, Any] = {}
    if "name" in given:
        if not (change.name or "").strip():
            raise Invalid("name: a contact's name cannot be empty")
        values["name"] = change.name.strip()  # type: ignore[union-attr]
    if "lead_status" in given:
        stages = await pipeline(uow, p.tenant_id)
        if change.lead_status not in stages:
            raise Invalid(f"lead_status: must be one of {', '.join(stages)}")
        values["lead_status"] = change.lead_status
    for name in ("email", "phone", "birthday", "attributes"):
        if name in given:
            value = getattr(change, name)
            values[name] = value if name != "attributes" else dict(value or {})
    if values:
        await uow.conn.execute(update(m.contacts).where(ct.id == contact_id).values(**values))
    if "name" in values and values["name"] != row.name:
        # Conversations show the contact's name: every open one is announced again.
        q = conversations_select().where(cv.contact_id == contact_id, cv.status != "resolved")
        for conv in (await uow.conn.execute(q)).all():
            uow.emit(p.tenant_id, updated_event(conv))
    return await contact_for(uow.conn, p, contact_id)
