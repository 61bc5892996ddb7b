"""Automations as admins manage them: validation with clear errors, roles, switching off (what was
planned is cancelled), the seven presets over the API and the CLI, and the timing rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from inbox import models as m
from inbox.automations import triggers, watch
from tests.cli_support import fails, ok_json, run
from tests.inbox.automations.automation_support import automation, run_row, runs, template
from tests.inbox.workers.outbox_support import conversation
from tests.support import App

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


async def test_bad_automations_are_refused_with_the_field_named(app: App) -> None:
    tenant, other = await app.tenant(), await app.tenant("Other")
    mine = await template(tenant, "Oi!")
    theirs = await template(other, "Oi!")
    cases = [
        ({"trigger": "contact.deleted", "template_id": mine}, 400, "trigger"),
        ({"trigger": "contact.created", "template_id": theirs}, 400, "template_id: no such template"),
        ({"trigger": "contact.created", "template_id": mine, "offset_seconds": -5}, 400, "offset_seconds"),
        ({"trigger": "contact.created", "template_id": mine, "channel_id": 987654}, 400, "channel_id"),
        (
            {
                "trigger": "contact.created",
                "template_id": mine,
                "business_hours": {"start": "18:00", "end": "08:00"},
            },
            400,
            "business_hours: end must be after start",
        ),
    ]
    for body, status, fragment in cases:
        r = await tenant.admin.http.post("/api/automations", json={"name": "x", **body})
        assert r.status_code == status and fragment in r.json()["error"], (body, r.status_code, r.text)
    ok = {"name": "Boas-vindas", "trigger": "contact.created", "template_id": mine}
    assert (await tenant.admin.http.post("/api/automations", json=ok)).status_code == 201
    r = await tenant.admin.http.post("/api/automations", json=ok)
    assert r.status_code == 409 and "already exists" in r.json()["error"]
    agent = await tenant.agent()
    assert (await agent.http.get("/api/automations")).status_code == 403
    r = await tenant.admin.http.delete(f"/api/templates/{mine}")
    assert r.status_code == 409 and "Boas-vindas" in r.json()["error"]
    async with app.runtime.engine.connect() as conn:
        assert (
            await conn.execute(m.automations.select().where(m.automations.c.tenant_id == tenant.id))
        ).all()


async def test_switching_off_cancels_what_was_planned(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    follow = await automation(tenant, "lead.no_reply", await template(tenant, "E aí?"), offset_seconds=600)
    conv_id, _ = await conversation(app, ch)
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "Oi"})
    (planned,) = await runs(app, follow["id"])
    body = {k: follow[k] for k in ("name", "trigger", "template_id", "offset_seconds")} | {"enabled": False}
    r = await tenant.admin.http.put(f"/api/automations/{follow['id']}", json=body)
    assert r.status_code == 200 and r.json()["enabled"] is False
    row = await run_row(app, planned.id)
    assert (row.status, row.reason) == ("cancelled", "the automation was switched off")
    r = await tenant.admin.http.get("/api/audit")
    assert "automation.changed" in [e["action"] for e in r.json()["items"]]


async def test_presets_install_seven_disabled_once_over_the_api_and_the_cli(
    app: App, database_url: str, data_dir: Path
) -> None:
    tenant = await app.tenant()
    first = await tenant.admin.http.post("/api/automations/presets")
    again = await tenant.admin.http.post("/api/automations/presets")
    assert first.status_code == 200 and first.json() == again.json()
    items = first.json()["items"]
    assert sorted(i["trigger"] for i in items) == sorted(triggers.TRIGGERS)
    assert not any(i["enabled"] for i in items)
    templates = (await tenant.admin.http.get("/api/templates")).json()["items"]
    assert {t["name"] for t in templates} == {i["name"] for i in items}
    reminder = next(i for i in items if i["trigger"] == "appointment.reminder")
    assert reminder["offset_seconds"] == 86_400

    def cli(*args: str) -> object:
        return run(list(args), database_url, data_dir)

    other = await app.tenant("CLI")
    listed = ok_json(
        await asyncio.to_thread(cli, "automation", "presets", "--tenant", str(other.id), "--json")
    )
    assert len(listed["items"]) == 7
    enabled = ok_json(
        await asyncio.to_thread(
            cli,
            "automation",
            "enable",
            "--tenant",
            str(other.id),
            "--id",
            str(listed["items"][0]["id"]),
            "--json",
        )
    )
    assert enabled["enabled"] is True
    again_listed = ok_json(
        await asyncio.to_thread(cli, "automation", "list", "--tenant", str(other.id), "--json")
    )
    assert [i["enabled"] for i in again_listed["items"]].count(True) == 1
    fails(
        await asyncio.to_thread(cli, "automation", "enable", "--tenant", str(tenant.id), "--id", "987654"),
        "automation not found",
    )


def test_business_hours_move_a_due_time_to_the_next_opening() -> None:
    hours = triggers.BusinessHours(days=(0, 1, 2, 3, 4), start="08:00", end="18:00")
    friday_evening = datetime(2026, 12, 4, 19, 30, tzinfo=SAO_PAULO)
    assert triggers.next_opening(friday_evening, hours, SAO_PAULO) == datetime(
        2026, 12, 7, 8, 0, tzinfo=SAO_PAULO
    )
    tuesday_noon = datetime(2026, 12, 1, 12, 0, tzinfo=SAO_PAULO)
    assert triggers.next_opening(tuesday_noon, hours, SAO_PAULO) == tuesday_noon
    early = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 07:00 in São Paulo
    assert triggers.next_opening(early, hours, SAO_PAULO) == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    start = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    assert triggers.due("appointment.reminder", start, None) == start - timedelta(days=1)
    assert triggers.due("appointment.completed", start, 600) == start + timedelta(minutes=10)
    assert triggers.birthday_anchor(date(1992, 2, 29), 2027, SAO_PAULO) == datetime(
        2027, 2, 28, 9, 0, tzinfo=SAO_PAULO
    )


@pytest.mark.parametrize(
    ("text", "score"),
    [("5", 5), ("nota 4", 4), ("3/5", 3), ("Ótimo!", 5), ("ruim", 2), ("⭐⭐⭐⭐", 4), ("péssimo", 1),
     ("bom dia", None), ("5 reais", None), ("quero remarcar para dia 5", None), ("", None)],
)  # fmt: skip
def test_feedback_answers_are_read_from_digits_stars_and_words(text: str, score: int | None) -> None:
    assert triggers.feedback_score(text) == score


def test_opt_out_words() -> None:
    assert all(triggers.opts_out(t) for t in ("PARAR", "sair", "Stop.", "descadastrar"))
    assert not any(triggers.opts_out(t) for t in ("não quero parar de vir", "sair às 18h", None))


async def test_birthdays_are_planned_for_nine_in_the_tenants_zone(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    greet = await automation(
        tenant, "contact.birthday", await template(tenant, "Parabéns, {{contact.first_name}}!")
    )
    conv_id, _ = await conversation(app, ch)
    async with app.runtime.engine.begin() as conn:
        contact_id = (
            (await conn.execute(m.conversations.select().where(m.conversations.c.id == conv_id)))
            .one()
            .contact_id
        )
        today = datetime.now(UTC).date()
        await conn.execute(
            update(m.contacts).where(m.contacts.c.id == contact_id).values(birthday=today.replace(year=1990))
        )
    await watch.birthdays(app.runtime)
    await watch.birthdays(app.runtime)
    (run,) = await runs(app, greet["id"])
    assert run.occurrence == f"birthday:{today.year}"
    nine = datetime.combine(today, triggers.BIRTHDAY_AT, UTC)  # the tenant's zone is UTC here
    if run.created_at < nine:
        assert run.due_at == nine
    else:  # past 09:00 already: due at once, still today
        assert abs(run.due_at - run.created_at) < timedelta(seconds=1)
