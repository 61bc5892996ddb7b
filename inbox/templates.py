"""Message templates: `{{variable}}` placeholders, checked when a template is saved and filled when it
is sent (an automation) or previewed.

Owns the variables a template may use and how each is written: dates and times in the tenant's time
zone and locale (Babel's CLDR data: "03/12/2026" and "14:30" in pt-BR, "12/3/26" and "2:30 PM" in
en). One renderer for the whole product (canned responses in the browser mirror it). Pure: no
database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from inbox.errors import Invalid

# `{{ name }}`, `{{ group.name }}`; anything else between braces is reported as unknown.
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


@dataclass(frozen=True)
class Variable:
    """A variable a template may use, described for the people who write templates (the admin page's
    menu shows these texts: this table is the only list of variables in the product)."""

    name: str
    pt: str
    en: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": {"pt-BR": self.pt, "en": self.en}}


CATALOG = (
    Variable("contact.name", "Nome do contato", "Contact's name"),
    Variable("contact.first_name", "Primeiro nome do contato", "Contact's first name"),
    Variable("contact.phone", "Telefone do contato", "Contact's phone"),
    Variable("contact.email", "E-mail do contato", "Contact's email"),
    Variable("appointment.title", "Agendamento: o quê", "Appointment: what"),
    Variable("appointment.date", "Agendamento: data", "Appointment: date"),
    Variable("appointment.time", "Agendamento: horário", "Appointment: time"),
    Variable("appointment.weekday", "Agendamento: dia da semana", "Appointment: weekday"),
    Variable("agent.name", "Nome do atendente", "Agent's name"),
    Variable("tenant.name", "Nome da empresa", "Business name"),
    # KEY stands for the attribute's key: the menu selects it so that typing replaces it.
    Variable(
        "attributes.KEY", "Um atributo do contato (digite a chave)", "A contact attribute (type its key)"
    ),
)
VARIABLES = tuple(v.name for v in CATALOG)
_FIXED = frozenset(v for v in VARIABLES if not v.endswith(".KEY"))
LOCALES = {"pt-BR": "pt_BR", "en": "en"}


def _known(name: str) -> bool:
    if name in _FIXED:
        return True
    group, _, key = name.partition(".")
    return group == "attributes" and bool(_KEY.match(key))


def variables(body: str) -> list[str]:
    """The variables `body` uses, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(body)))


def check(body: str, *, where: str = "body") -> list[str]:
    """The variables of a template being saved; `Invalid` naming the field for an empty body or an
    unknown variable."""
    if not body or not body.strip():
        raise Invalid(f"{where}: a template needs text", code="template_empty", params={"field": where})
    unknown = [v for v in variables(body) if not _known(v)]
    if unknown:
        names = ", ".join("{{" + v + "}}" for v in unknown)
        allowed = ", ".join("{{" + v + "}}" for v in VARIABLES)
        raise Invalid(
            f"{where}: unknown variable {names}; use {allowed}",
            code="template_unknown_variable",
            params={"field": where, "names": names},
        )
    return variables(body)


class MissingValue(Exception):
    """The template needs a value this send does not have (e.g. an appointment's date with none)."""

    def __init__(self, variable: str) -> None:
        super().__init__(f"the template uses {{{{{variable}}}}}, which has no value here")
        self.variable = variable


@dataclass(frozen=True)
class Context:
    """What a template is filled from. Rows are mappings with the contacts / appointments columns."""

    contact: Mapping[str, Any] | None = None
    appointment: Mapping[str, Any] | None = None
    agent_name: str | None = None
    tenant_name: str | None = None
    timezone: str = "UTC"
    locale: str = "pt-BR"
    attributes: Mapping[str, Any] = field(default_factory=dict)


def render(body: str, ctx: Context) -> str:
    """`body` with every variable filled; `MissingValue` when one has none (a contact without a name
    renders as empty: a greeting still makes sense without it)."""
    return _PLACEHOLDER.sub(lambda m: _value(m.group(1), ctx), body)


def _value(name: str, ctx: Context) -> str:
    group, _, key = name.partition(".")
    if group == "contact":
        contact = ctx.contact or {}
        if key == "name":
            return str(contact.get("name") or "")
        if key == "first_name":
            return str(contact.get("name") or "").strip().split(" ")[0]
        if key in ("phone", "email"):
            return str(contact.get(key) or "")
    if group == "appointment" and key in ("title", "date", "time", "weekday"):
        if ctx.appointment is None:
            raise MissingValue(name)
        return _appointment(key, ctx.appointment, ctx)
    if name == "agent.name":
        return ctx.agent_name or ""
    if name == "tenant.name":
        return ctx.tenant_name or ""
    if group == "attributes" and _KEY.match(key):
        attributes = ctx.attributes or (ctx.contact or {}).get("attributes") or {}
        value = attributes.get(key)
        if value is None:
            raise MissingValue(name)
        return str(value)
    raise MissingValue(name)


def _appointment(key: str, appointment: Mapping[str, Any], ctx: Context) -> str:
    if key == "title":
        return str(appointment.get("title") or "")
    starts: datetime = appointment["starts_at"]
    local = starts.astimezone(ZoneInfo(ctx.timezone))
    locale = LOCALES.get(ctx.locale, "pt_BR")
    if key == "date":
        return format_date(local, "short", locale=locale)
    if key == "time":
        return format_time(local, "short", locale=locale)
    return format_date(local, "EEEE", locale=locale)
