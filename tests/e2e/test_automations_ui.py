"""Templates and automations in a real Chromium: a template written with a variable from the menu and
previewed for a real contact; the server's word on an unknown variable and on deleting a template in
use; the ready-made automations installed and one switched on for good; an automation made with the
form; a run's reason in the runs panel; what supervisors see; the CSAT card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from babel.dates import format_date
from playwright.async_api import expect

from inbox import templates
from tests.e2e.support import E2E
from tests.inbox.automations.automation_support import automation, fire, runs, scan, template
from tests.inbox.workers.outbox_support import conversation
from tests.support import notificame_message

expect.set_options(timeout=10_000)


async def test_a_template_with_a_variable_is_previewed_for_a_real_contact(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    r = await e2e.app.post_webhook(ch, notificame_message(ch, text="Oi", name="Maria Silva"))
    assert r.status_code == 200, r.text
    page = await e2e.open(tenant.admin, "/#/admin/templates")
    form = page.locator("#tpl-form")
    await form.get_by_label("Name", exact=True).fill("Boas-vindas da clínica")
    body = form.get_by_label("Text", exact=True)
    await body.fill("Olá, ")
    menu = form.get_by_label("Insert a variable")
    # The menu is the server's list (GET /api/templates/variables), described in the page's language.
    await expect(menu.locator("option[value='contact.first_name']")).to_have_text(
        "Contact's first name · {{contact.first_name}}"
    )
    await expect(menu.locator("option[value]:not([value=''])")).to_have_count(len(templates.VARIABLES))
    await menu.select_option("contact.first_name")
    await body.press("End")
    await body.press_sequentially("!")
    await expect(body).to_have_value("Olá, {{contact.first_name}}!")
    await form.get_by_label("Template name").fill("boas_vindas")
    await form.get_by_label("Language (e.g. pt_BR)").fill("pt_BR")
    await page.locator("#tpl-save").click()
    row = page.locator("#templates-table tbody tr", has_text="Boas-vindas da clínica")
    await expect(row).to_contain_text("boas_vindas · pt_BR")
    await expect(page.locator("#tpl-form [role=status]")).to_have_text("Template saved.")
    (saved,) = (await tenant.admin.http.get("/api/templates")).json()["items"]
    assert saved["variables"] == ["contact.first_name"]
    assert saved["provider_template"] == {"name": "boas_vindas", "language": "pt_BR"}
    # The preview: the contact found by search, the text rendered by the server.
    await page.locator("#tpl-preview-q").fill("Maria")
    await page.locator("#tpl-preview-q").press("Enter")
    await page.locator("#tpl-contacts button", has_text="Maria Silva").click()
    await expect(page.locator("#tpl-preview")).to_have_text("Olá, Maria!")

    # An unknown variable: the server's 422, next to the text, and nothing stored.
    await body.fill("Oi {{contact.apelido}}")
    await page.locator("#tpl-save").click()
    error = page.locator("#tpl-body-error")
    await expect(error).to_contain_text("unknown variable: {{contact.apelido}}")  # the browser's words
    await body.press_sequentially(" ")
    await expect(error).to_be_hidden()  # the verdict was on the old text
    (kept,) = (await tenant.admin.http.get("/api/templates")).json()["items"]
    assert kept["body"] == "Olá, {{contact.first_name}}!"

    # A template in use cannot go: the 409 names the automation.
    await automation(tenant, "contact.created", saved["id"], name="Welcome", enabled=False)
    page.once("dialog", lambda d: d.accept())
    await row.get_by_role("button", name="Delete").click()
    await expect(page.locator("#admin-templates .form-error").first).to_contain_text("Welcome")
    await expect(row).to_have_count(1)

    # A text that needs an appointment is previewed with one of the contact's appointments.
    await template(tenant, "Até {{appointment.weekday}}: {{appointment.title}}", name="Lembrete")
    (maria,) = (await tenant.admin.http.get("/api/search", params={"q": "Maria"})).json()["contacts"]
    starts = datetime.now(UTC).replace(hour=13, minute=0, second=0, microsecond=0) + timedelta(days=10)
    weekday = format_date(starts, "EEEE", locale="pt_BR")  # 13:00 UTC: that day in the tenant's zone
    r = await tenant.admin.http.post(
        f"/api/contacts/{maria['id']}/appointments",
        json={"starts_at": starts.isoformat(), "title": "Limpeza"},
    )
    assert r.status_code == 201, r.text
    await page.reload()
    reminder = page.locator("#templates-table tbody tr", has_text="Lembrete")
    await reminder.get_by_role("button", name="Edit").click()
    await page.locator("#tpl-preview-q").fill("Maria")
    await page.locator("#tpl-preview-q").press("Enter")
    await page.locator("#tpl-contacts button", has_text="Maria Silva").click()
    await expect(page.get_by_label("Appointment", exact=True)).to_contain_text("Limpeza")
    await expect(page.locator("#tpl-preview")).to_have_text(f"Até {weekday}: Limpeza")


async def test_presets_install_and_a_switch_stays_on_after_reload(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    page = await e2e.open(tenant.admin, "/#/admin/automations", lang="pt", theme="dark")
    await page.get_by_role("button", name="Instalar as automações prontas").click()
    rows = page.locator("#automations-table tbody tr[data-automation]")
    await expect(rows).to_have_count(7)
    await expect(page.locator("#auto-presets-note")).to_contain_text("7 automações prontas")
    reminder = rows.filter(has_text="Lembrete 24 h antes")
    await expect(reminder.locator("[data-field=offset]")).to_have_text("1 dia antes do início")
    await expect(reminder).to_contain_text("Antes de um agendamento")
    switch = page.get_by_role("switch", name="Ligar Boas-vindas")
    await expect(switch).not_to_be_checked()
    await switch.check()
    await expect(rows.filter(has_text="Boas-vindas").first).to_have_attribute("data-enabled", "true")
    await page.reload()
    await expect(page.get_by_role("switch", name="Ligar Boas-vindas")).to_be_checked()
    await expect(page.get_by_role("switch", name="Ligar Feliz aniversário")).not_to_be_checked()
    items = (await tenant.admin.http.get("/api/automations")).json()["items"]
    assert sorted(a["name"] for a in items if a["enabled"]) == ["Boas-vindas"]


async def test_an_automation_from_the_form_and_a_run_with_its_reason(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await template(tenant, "Lembrete: {{appointment.date}}", name="Lembrete")
    page = await e2e.open(tenant.admin, "/#/admin/automations")
    await expect(page.locator("#automations-table")).to_be_visible()
    await page.locator("#auto-new").click()
    form = page.locator("#auto-form")
    await form.get_by_label("Name", exact=True).fill("Two days before")
    await form.get_by_label("When").select_option("appointment.reminder")
    await expect(page.locator("#auto-trigger-help")).to_contain_text("before the appointment starts")
    await expect(page.locator("#auto-offset-help")).to_contain_text("BEFORE the start")
    await form.get_by_label("Offset").fill("2")
    await form.get_by_label("Unit").select_option("days")
    await form.get_by_label("Only within business hours").check()
    await form.get_by_label("Sat").check()
    await form.get_by_label("Switched on").check()
    await page.locator("#auto-save").click()
    row = page.locator("#automations-table tbody tr", has_text="Two days before")
    await expect(row.locator("[data-field=offset]")).to_contain_text("2 days before the start")
    (made,) = (await tenant.admin.http.get("/api/automations")).json()["items"]
    assert (made["trigger"], made["offset_seconds"], made["enabled"]) == (
        "appointment.reminder",
        172_800,
        True,
    )
    assert made["business_hours"] == {"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}

    # A welcome due in an hour; an agent answers first: the run is skipped, and says why.
    welcome = await automation(
        tenant, "contact.created", await template(tenant, "Olá!"), offset_seconds=3600, name="Welcome"
    )
    conv_id, _ = await conversation(e2e.app, ch)
    await scan(e2e.app)  # or the watcher did already
    (run,) = await runs(e2e.app, welcome["id"])
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages", json={"text": "Oi, sou a Ana"})
    assert r.status_code == 202, r.text
    assert await fire(e2e.app, run.id) == "skipped"
    await page.reload()
    row = page.locator("#automations-table tbody tr", has_text="Welcome")
    await expect(row.locator("[data-runs=skipped]")).to_have_text("Skipped 1")
    await row.get_by_role("button", name="Runs").click()
    first = page.locator("#runs-table tbody tr").first
    await expect(first.locator("[data-status]")).to_have_text("Skipped")
    await expect(first.locator("[data-field=reason]")).to_have_text(
        "an agent has written to the customer since this was scheduled"
    )
    await expect(first).to_contain_text("Maria Silva")
    await first.get_by_role("link").click()
    await expect(page).to_have_url(f"{e2e.url}/#/c/{conv_id}")


async def test_supervisors_manage_automations_but_see_no_other_admin_page(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    supervisor = await tenant.agent(role="supervisor")
    page = await e2e.open(supervisor, "/#/admin/setup")
    await expect(page).to_have_url(f"{e2e.url}/#/admin/automations")
    await expect(page.locator("a[data-view=admin]")).to_have_count(0)
    await expect(page.locator("a[data-view=automations]")).to_have_attribute("aria-current", "page")
    await expect(page.locator(".adm-tabs a")).to_have_count(2)
    await expect(page.locator("#auto-presets")).to_be_hidden()  # the presets are an admin's
    await page.locator("a[data-section=templates]").click()
    await page.locator("#tpl-form").get_by_label("Name", exact=True).fill("Obrigado")
    await page.locator("#tpl-form").get_by_label("Text", exact=True).fill("Obrigado, {{contact.name}}")
    await page.locator("#tpl-save").click()
    await expect(page.locator("#templates-table tbody tr", has_text="Obrigado")).to_have_count(1)


async def test_the_csat_card_shows_the_average(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    agent = await tenant.agent(name="Ana Souza")
    supervisor = await tenant.agent(role="supervisor")
    feedback = await automation(tenant, "conversation.resolved", await template(tenant, "Nota de 1 a 5?"))
    conv_id, customer = await conversation(e2e.app, ch)
    r = await agent.http.post(f"/api/conversations/{conv_id}/assign", json={"agent_id": agent.id})
    assert r.status_code == 200, r.text
    r = await agent.http.post(f"/api/conversations/{conv_id}/resolve")
    assert r.status_code == 200, r.text
    (run,) = await runs(e2e.app, feedback["id"])
    await fire(e2e.app, run.id)  # or the jobs worker did already
    r = await e2e.app.post_webhook(ch, notificame_message(ch, sender=customer, text="4"))
    assert r.status_code == 200, r.text
    page = await e2e.open(supervisor, "/#/supervisor")
    card = page.locator("#csat")
    await expect(card.locator("[data-csat=average] dd")).to_have_text("4.0")
    await expect(card.locator("[data-csat=responses] dd")).to_have_text("1")
    await expect(card.locator("[data-score='4'] .num")).to_have_text("1")
    await expect(card.locator(f"tr[data-agent='{agent.id}']")).to_contain_text("Ana Souza")
