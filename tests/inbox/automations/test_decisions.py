"""How a run is decided (workers off: each run is scheduled and decided by the test, as the watcher
and the jobs worker would): once, never over the bot, an agent or an opt-out, never free-form into a
closed WhatsApp window, and following its appointment."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from inbox import models as m
from inbox.automations import execute
from tests.inbox.automations.automation_support import (
    automation,
    fire,
    job_of,
    message_of,
    run_row,
    runs,
    scan,
    template,
)
from tests.inbox.workers.outbox_support import conversation, set_last_inbound
from tests.support import App, notificame_message

cv = m.conversations.c


async def _conv(app: App, conv_id: int) -> object:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(select(m.conversations).where(cv.id == conv_id))).one()


async def test_a_new_lead_is_welcomed_once_and_an_older_contact_never(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    old_conv, old_customer = await conversation(app, ch)  # a contact from before the automation
    welcome = await automation(
        tenant, "contact.created", await template(tenant, "Olá, {{contact.first_name}}!")
    )
    # The old contact writes again; a new lead's first message is delivered five times at once.
    await app.post_webhook(ch, notificame_message(ch, sender=old_customer, text="de novo"))
    first = notificame_message(ch, text="Quero marcar", name="Maria Silva")
    answers = await asyncio.gather(*(app.post_webhook(ch, first) for _ in range(5)))
    assert [r.status_code for r in answers] == [200] * 5
    await scan(app)
    await scan(app)
    made = await runs(app, welcome["id"])
    assert len(made) == 1 and made[0].status == "pending" and made[0].conversation_id != old_conv

    def counted() -> float:
        value = app.runtime.metrics.registry.get_sample_value(
            "inbox_automation_runs_total", {"outcome": "sent"}
        )
        return value or 0.0

    before = counted()
    assert await fire(app, made[0].id) == "sent"
    assert await fire(app, made[0].id) is None  # decided once: a second claim does nothing
    assert counted() == before + 1
    run = await run_row(app, made[0].id)
    sent = await message_of(app, run.message_id)
    assert (sent.sender_type, sent.direction, sent.text, sent.status) == (
        "system",
        "out",
        "Olá, Maria!",
        "queued",
    )
    async with app.runtime.engine.connect() as conn:
        mine = (
            select(func.count())
            .select_from(m.messages)
            .where(m.messages.c.conversation_id == run.conversation_id)
        )
        assert (await conn.execute(mine.where(m.messages.c.sender_type == "system"))).scalar_one() == 1
        queued = select(func.count()).select_from(m.outbox).where(m.outbox.c.message_id == run.message_id)
        assert (await conn.execute(queued)).scalar_one() == 1
    r = await tenant.admin.http.get(f"/api/automations/{welcome['id']}/runs")
    assert [(x["status"], x["contact_name"]) for x in r.json()["items"]] == [("sent", "Maria Silva")]


async def test_no_welcome_while_the_bot_answers_unless_the_automation_says_so(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel(bot=True)
    body = await template(tenant, "Bem-vindo!")
    polite = await automation(tenant, "contact.created", body)
    eager = await automation(tenant, "contact.created", body, while_bot=True, name="eager")
    conv_id, _ = await conversation(app, ch)
    assert (await _conv(app, conv_id)).status == "bot"  # type: ignore[attr-defined]
    await scan(app)
    (skipped,) = await runs(app, polite["id"])
    (sent,) = await runs(app, eager["id"])
    assert await fire(app, skipped.id) == "skipped"
    assert (await run_row(app, skipped.id)).reason == "the bot is answering this conversation"
    assert (await run_row(app, skipped.id)).reason_code == {"code": "automation.bot_answering", "params": {}}
    shown = (await tenant.admin.http.get(f"/api/automations/{polite['id']}/runs")).json()["items"]
    assert [(x["reason"], x["reason_code"]["code"]) for x in shown] == [
        ("the bot is answering this conversation", "automation.bot_answering")
    ]
    assert await fire(app, sent.id) == "sent"


async def test_an_agent_who_wrote_since_keeps_the_automation_quiet(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    welcome = await automation(tenant, "contact.created", await template(tenant, "Olá!"))
    conv_id, _ = await conversation(app, ch)
    await scan(app)
    (run,) = await runs(app, welcome["id"])
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "Oi, sou a Ana"})
    assert r.status_code == 202, r.text
    assert await fire(app, run.id) == "skipped"
    assert "agent has written" in (await run_row(app, run.id)).reason


async def test_reminder_follows_its_appointment_and_goes_when_it_is_cancelled(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(app, ch)
    contact_id = (await _conv(app, conv_id)).contact_id  # type: ignore[attr-defined]
    body = await template(
        tenant, "Lembrete: {{appointment.title}} em {{appointment.date}} às {{appointment.time}}"
    )
    reminder = await automation(tenant, "appointment.reminder", body, offset_seconds=86_400)
    confirmation = await automation(tenant, "appointment.created", body, name="confirm")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    r = await tenant.admin.http.post(
        f"/api/contacts/{contact_id}/appointments", json={"starts_at": starts.isoformat(), "title": "Limpeza"}
    )
    appointment_id = r.json()["id"]
    (pending,) = await runs(app, reminder["id"])
    assert pending.due_at == starts - timedelta(days=1)
    assert (await job_of(app, pending.id)).run_at == starts - timedelta(days=1)
    (confirm,) = await runs(app, confirmation["id"])
    assert await fire(app, confirm.id) == "sent"
    # Moved a day later: the pending reminder moves with it.
    later = starts + timedelta(days=1)
    r = await tenant.admin.http.patch(
        f"/api/appointments/{appointment_id}", json={"starts_at": later.isoformat()}
    )
    assert r.status_code == 200, r.text
    (moved,) = await runs(app, reminder["id"])
    assert moved.id == pending.id and moved.due_at == later - timedelta(days=1)
    assert (await job_of(app, pending.id)).run_at == later - timedelta(days=1)
    # Cancelled: the reminder is cancelled and its job gone.
    r = await tenant.admin.http.patch(f"/api/appointments/{appointment_id}", json={"status": "cancelled"})
    assert r.status_code == 200, r.text
    gone = await run_row(app, pending.id)
    assert (gone.status, gone.reason) == ("cancelled", "the appointment was cancelled")
    assert await job_of(app, pending.id) is None
    assert await fire(app, pending.id) is None


async def test_outside_the_window_a_reminder_goes_as_the_approved_template_or_is_skipped(app: App) -> None:
    tenant = await app.tenant()
    for provider in ("meta", "notificame"):
        ch = await tenant.channel("whatsapp", provider)
        conv_id, _ = await conversation(app, ch)
        await set_last_inbound(app, conv_id, timedelta(hours=30))
        contact_id = (await _conv(app, conv_id)).contact_id  # type: ignore[attr-defined]
        approved = await template(
            tenant, "Oi {{contact.first_name}}, lembrete de {{appointment.title}} às {{appointment.time}}",
            provider={"name": "lembrete_consulta", "language": "pt_BR"}, name=f"approved {provider}",
        )  # fmt: skip
        plain = await template(tenant, "Lembrete de {{appointment.title}}", name=f"plain {provider}")
        with_template = await automation(tenant, "appointment.reminder", approved, channel_id=ch.id)
        without = await automation(
            tenant, "appointment.reminder", plain, channel_id=ch.id, name=f"plain {provider}"
        )
        starts = datetime.now(UTC) + timedelta(days=2)
        await tenant.admin.http.post(
            f"/api/contacts/{contact_id}/appointments",
            json={"starts_at": starts.isoformat(), "title": "Consulta"},
        )
        (good,) = await runs(app, with_template["id"])
        (bad,) = await runs(app, without["id"])
        assert await fire(app, good.id) == "sent", (await run_row(app, good.id)).reason
        sent = await message_of(app, (await run_row(app, good.id)).message_id)
        assert sent.template["name"] == "lembrete_consulta" and sent.template["language"] == "pt_BR"
        assert sent.template["parameters"][1] == "Consulta"
        first_name = sent.template["parameters"][0]
        assert first_name in ("Maria", "João")  # the fakes' customers
        assert sent.text == f"Oi {first_name}, lembrete de Consulta às {sent.template['parameters'][2]}"
        assert await fire(app, bad.id) == "skipped"
        reason = (await run_row(app, bad.id)).reason
        assert reason.startswith("window closed:") and "names no approved provider template" in reason


async def test_no_reply_follow_up_only_when_the_customer_did_not_answer(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    follow = await automation(
        tenant, "lead.no_reply", await template(tenant, "Ainda por aí?"), offset_seconds=3600
    )
    conv_id, customer = await conversation(app, ch)
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "Posso ajudar?"})
    (first,) = await runs(app, follow["id"])
    assert first.due_at > datetime.now(UTC) + timedelta(minutes=59)
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="Sim, quero saber o preço"))
    assert await fire(app, first.id) == "cancelled"
    assert (await run_row(app, first.id)).reason == "the customer answered"
    assert (await run_row(app, first.id)).reason_code == {"code": "automation.answered", "params": {}}
    # We write again and this time nobody answers.
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "O preço é R$ 100"})
    second = (await runs(app, follow["id"]))[-1]
    assert second.id != first.id and await fire(app, second.id) == "sent"


async def test_a_feedback_answer_is_stored_on_the_resolved_conversation(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel(bot=False)
    agent = await tenant.agent(name="Ana Souza")
    feedback = await automation(tenant, "conversation.resolved", await template(tenant, "Nota de 1 a 5?"))
    conv_id, customer = await conversation(app, ch)
    await agent.http.post(f"/api/conversations/{conv_id}/assign", json={"agent_id": agent.id})
    r = await agent.http.post(f"/api/conversations/{conv_id}/resolve")
    assert r.status_code == 200, r.text
    (run,) = await runs(app, feedback["id"])
    assert await fire(app, run.id) == "sent"
    assert (await _conv(app, conv_id)).csat_requested_at is not None  # type: ignore[attr-defined]
    r = await app.post_webhook(ch, notificame_message(ch, sender=customer, text="Ótimo!"))
    assert r.status_code == 200
    conv = await _conv(app, conv_id)
    assert (conv.status, conv.csat_score) == ("resolved", 5)  # type: ignore[attr-defined]
    async with app.runtime.engine.connect() as conn:
        convs = select(func.count()).select_from(m.conversations).where(cv.channel_id == ch.id)
        assert (await conn.execute(convs)).scalar_one() == 1  # the answer opened nothing new
    # A second "5" is a new message, no longer an answer: it opens a conversation as usual.
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="5"))
    async with app.runtime.engine.connect() as conn:
        assert (await conn.execute(convs)).scalar_one() == 2
    r = await tenant.admin.http.get("/api/reports/csat")
    figures = r.json()
    assert (figures["responses"], figures["average"], figures["scores"]["5"]) == (1, 5.0, 1)
    assert figures["agents"] == [{"agent_id": agent.id, "name": "Ana Souza", "responses": 1, "average": 5.0}]


async def test_an_opt_out_cancels_what_is_planned_and_stops_what_comes(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    follow = await automation(tenant, "lead.no_reply", await template(tenant, "Oi?"), offset_seconds=3600)
    conv_id, customer = await conversation(app, ch)
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "Olá"})
    (planned,) = await runs(app, follow["id"])
    await app.post_webhook(ch, notificame_message(ch, sender=customer, text="PARAR"))
    cancelled = await run_row(app, planned.id)
    assert (cancelled.status, cancelled.reason) == (
        "cancelled",
        "the contact asked for no automated messages",
    )
    contact_id = (await _conv(app, conv_id)).contact_id  # type: ignore[attr-defined]
    r = await tenant.admin.http.get(f"/api/contacts/{contact_id}")
    assert r.json()["opted_out"] is True
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "Tudo bem"})
    later = (await runs(app, follow["id"]))[-1]
    assert await fire(app, later.id) == "skipped"
    assert "opt-out" in (await run_row(app, later.id)).reason


async def test_a_merge_keeps_both_contacts_runs(app: App) -> None:
    tenant = await app.tenant()
    whatsapp, instagram = await tenant.channel(), await tenant.channel("instagram")
    welcome = await automation(tenant, "contact.created", await template(tenant, "Olá!"))
    first, _ = await conversation(app, whatsapp)
    second, _ = await conversation(app, instagram)
    await scan(app)
    assert len(await runs(app, welcome["id"])) == 2
    kept = (await _conv(app, first)).contact_id  # type: ignore[attr-defined]
    other = (await _conv(app, second)).contact_id  # type: ignore[attr-defined]
    r = await tenant.admin.http.post(f"/api/contacts/{kept}/merge", json={"other_id": other})
    assert r.status_code == 200, r.text
    after = await runs(app, welcome["id"])
    assert sorted((x.contact_id, x.occurrence) for x in after) == [
        (kept, "lead"),
        (kept, f"lead@merged-{other}"),
    ]


def _before_the_lock(app: App, monkeypatch: pytest.MonkeyPatch, change: str, *params: Any) -> None:
    """Another process commits `change` (SQL) after the decision has read everything and before it
    locks its run: SQLite's path (it reads before it takes the write lock). PostgreSQL locks the run
    and its conversation before it reads: nothing moves in between (the row locks;
    tests/faults/test_two_servers_reminder.py)."""
    if app.runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL reads under the run's row lock")
    first = execute._outcome
    changed: list[bool] = []

    def then_change(conn: Any, rt: Any, run: Any, *, lock: bool) -> Any:
        outcome = first(conn, rt, run, lock=lock)
        if not changed:
            changed.append(True)
            other = sqlite3.connect(str(app.runtime.engine.url.database), timeout=30)
            with other:
                other.execute(change, params)
            other.close()
        return outcome

    monkeypatch.setattr(execute, "_outcome", then_change)


async def test_a_change_before_the_lock_decides(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    welcome = await automation(tenant, "contact.created", await template(tenant, "Olá!"))
    conv_id, _ = await conversation(app, ch)
    await scan(app)
    (run,) = await runs(app, welcome["id"])
    # Another process hands the conversation to the bot.
    _before_the_lock(app, monkeypatch, "UPDATE conversations SET status = 'bot' WHERE id = ?", conv_id)
    assert await fire(app, run.id) == "skipped"
    assert (await run_row(app, run.id)).reason_code == {"code": "automation.bot_answering", "params": {}}
    async with app.runtime.engine.connect() as conn:
        said = select(func.count()).select_from(m.messages).where(m.messages.c.conversation_id == conv_id)
        assert (await conn.execute(said.where(m.messages.c.sender_type == "system"))).scalar_one() == 0


async def test_a_run_cancelled_before_the_lock_stays_so(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(app, ch)
    contact_id = (await _conv(app, conv_id)).contact_id  # type: ignore[attr-defined]
    confirmation = await automation(tenant, "appointment.created", await template(tenant, "Até lá!"))
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    r = await tenant.admin.http.post(
        f"/api/contacts/{contact_id}/appointments", json={"starts_at": starts.isoformat(), "title": "Limpeza"}
    )
    assert r.status_code == 201, r.text
    (run,) = await runs(app, confirmation["id"])
    # Another process cancels it (the appointment was cancelled there).
    cancel = "UPDATE automation_runs SET status = 'cancelled', finished_at = ? WHERE id = ?"
    _before_the_lock(app, monkeypatch, cancel, datetime.now(UTC).replace(tzinfo=None).isoformat(" "), run.id)
    assert await fire(app, run.id) is None  # decided by the cancellation, not twice
    gone = await run_row(app, run.id)
    assert (gone.status, gone.message_id) == ("cancelled", None)
