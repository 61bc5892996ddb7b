"""The template renderer: which variables exist, a clear error for an unknown one or an empty body,
and values written in the tenant's time zone and locale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox import templates
from inbox.errors import Invalid
from inbox.templates import Context, MissingValue, check, render, variables

APPOINTMENT = {"title": "Limpeza", "starts_at": datetime(2026, 12, 3, 17, 30, tzinfo=UTC)}
CONTACT = {"name": "Maria  da Silva", "phone": "+5511987650001", "email": None, "attributes": {"plano": "A"}}


def test_variables_in_order_of_first_use() -> None:
    body = "Oi {{contact.first_name}}, {{ appointment.date }} às {{appointment.time}}. {{contact.first_name}}"
    assert variables(body) == ["contact.first_name", "appointment.date", "appointment.time"]
    assert check(body) == variables(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "body: a template needs text"),
        ("   \n", "body: a template needs text"),
        ("Oi {{contact.nome}}", "body: unknown variable {{contact.nome}}"),
        ("{{ }}", "body: unknown variable {{}}"),
        ("{{attributes.tem espaço}}", "body: unknown variable {{attributes.tem espaço}}"),
        ("{{appointment}}", "body: unknown variable {{appointment}}"),
    ],
)
def test_a_bad_template_is_refused_with_the_field(body: str, reason: str) -> None:
    with pytest.raises(Invalid) as exc:
        check(body)
    assert exc.value.message.startswith(reason)


def test_sao_paulo_in_portuguese_and_new_york_in_english() -> None:
    body = "{{contact.first_name}}: {{appointment.title}} {{appointment.weekday}}"
    body += " {{appointment.date}} {{appointment.time}}"
    ctx = Context(contact=CONTACT, appointment=APPOINTMENT, timezone="America/Sao_Paulo", locale="pt-BR")
    assert render(body, ctx) == "Maria: Limpeza quinta-feira 03/12/2026 14:30"
    ctx = Context(contact=CONTACT, appointment=APPOINTMENT, timezone="America/New_York", locale="en")
    assert render(body, ctx).replace("\u202f", " ") == "Maria: Limpeza Thursday 12/3/26 12:30 PM"


def test_other_values_and_what_is_missing() -> None:
    ctx = Context(contact=CONTACT, agent_name="Ana", tenant_name="Clínica Sorriso")
    body = "{{tenant.name}} / {{agent.name}} / {{contact.phone}} / {{attributes.plano}} / [{{contact.email}}]"
    assert render(body, ctx) == "Clínica Sorriso / Ana / +5511987650001 / A / []"
    assert render("Olá {{contact.first_name}}", Context(contact={"name": None})) == "Olá "
    with pytest.raises(MissingValue) as exc:
        render("{{appointment.date}}", ctx)  # no appointment to take it from
    assert exc.value.variable == "appointment.date"
    with pytest.raises(MissingValue):
        render("{{attributes.convenio}}", ctx)
    assert set(templates.VARIABLES) >= {"contact.name", "appointment.time", "tenant.name", "attributes.KEY"}
