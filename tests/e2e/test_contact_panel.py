"""The contact panel in Chromium: a profile edited in place (kept after a reload, a refused value shown
with its reason), an appointment scheduled and completed from the panel, and two contacts merged
(search, confirm) after which the panel lists the conversations of both channels, also on another
agent's open page, live."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from playwright.async_api import expect

from tests.e2e.scene import conversation_of, say, set_routing
from tests.e2e.support import E2E

expect.set_options(timeout=10_000)


async def _online(page: Any) -> None:
    await page.wait_for_function("window.__inbox && window.__inbox.realtime.state === 'online'")


async def _contact(e2e: E2E, agent: Any, conv_id: int) -> dict[str, Any]:
    conv = (await agent.http.get(f"/api/conversations/{conv_id}")).json()
    data: dict[str, Any] = (await agent.http.get(f"/api/contacts/{conv['contact']['id']}")).json()
    return data


async def test_a_profile_edited_in_the_panel_is_kept_after_a_reload(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await say(e2e, ch, "5511940000001", "Rita Moura", "Oi, quero um orçamento")
    conv_id = await conversation_of(tenant.admin, "Rita Moura")
    page = await e2e.open(tenant.admin, f"/#/c/{conv_id}")
    panel = page.locator(".pane-contact")
    await expect(panel.locator(".contact-name")).to_have_text("Rita Moura")

    # Email: click, type, Enter.
    await panel.locator("[data-edit=email]").click()
    editor = panel.locator(".inline-edit input")
    await expect(editor).to_be_focused()
    await editor.fill("rita@exemplo")
    await editor.press("Enter")
    await expect(panel.locator(".inline-edit [role=alert]")).to_contain_text("not an email address")
    await editor.fill("Rita@Exemplo.com.br")
    await editor.press("Enter")
    await expect(panel.locator("[data-edit=email]")).to_contain_text("rita@exemplo.com.br")
    await expect(panel.locator("[data-edit=email]")).to_be_focused()

    # Phone, by keyboard alone: Tab to it, Enter, type, Enter. Escape leaves an edit unsaved.
    await page.keyboard.press("Tab")
    await expect(panel.locator("[data-edit=phone]")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.keyboard.type("+55 11 94000-0001")
    await page.keyboard.press("Enter")
    await expect(panel.locator("[data-edit=phone]")).to_contain_text("+5511940000001")
    await page.keyboard.press("Enter")
    await page.keyboard.type("999")
    await page.keyboard.press("Escape")
    await expect(panel.locator("[data-edit=phone]")).to_contain_text("+5511940000001")

    # The name (the card and the conversation's header follow), the lead's stage, an attribute.
    await panel.locator("[data-edit=name]").click()
    await panel.locator(".inline-edit input").fill("Rita Moura Lima")
    await panel.locator(".inline-edit input").press("Enter")
    await expect(panel.locator(".contact-name")).to_have_text("Rita Moura Lima")
    await expect(page.locator(".conv-header .conv-name")).to_have_text("Rita Moura Lima")
    await panel.locator("#contact-lead-status").select_option("qualified")
    await panel.locator("#contact-attr-key").fill("plano")
    await panel.locator("#contact-attr-value").fill("ouro")
    await panel.locator("#contact-attr-value").press("Enter")
    await expect(panel.locator(".attr[data-key=plano]")).to_contain_text("ouro")

    await page.reload()
    await expect(panel.locator(".contact-name")).to_have_text("Rita Moura Lima")
    await expect(panel.locator("[data-edit=email]")).to_contain_text("rita@exemplo.com.br")
    await expect(panel.locator("[data-edit=phone]")).to_contain_text("+5511940000001")
    await expect(panel.locator("#contact-lead-status")).to_have_value("qualified")
    await expect(panel.locator(".attr[data-key=plano]")).to_contain_text("ouro")
    contact = await _contact(e2e, tenant.admin, conv_id)
    assert (contact["name"], contact["email"], contact["phone"], contact["lead_status"]) == (
        "Rita Moura Lima",
        "rita@exemplo.com.br",
        "+5511940000001",
        "qualified",
    )
    assert contact["attributes"] == {"plano": "ouro"}


async def test_an_appointment_is_scheduled_and_completed_from_the_panel(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await say(e2e, ch, "5511940000002", "Sérgio Dias", "Tem horário na semana que vem?")
    conv_id = await conversation_of(tenant.admin, "Sérgio Dias")
    page = await e2e.open(tenant.admin, f"/#/c/{conv_id}", lang="pt", theme="dark")
    panel = page.locator(".pane-contact")
    await expect(panel.locator(".contact-appointments")).to_contain_text("Nenhum agendamento.")

    when = (datetime.now() + timedelta(days=10)).replace(hour=14, minute=30).strftime("%Y-%m-%dT%H:%M")
    await panel.locator(".appt-new-box summary").click()
    await panel.get_by_label("O quê").fill("Avaliação")
    await panel.get_by_label("Quando").fill(when)
    await panel.get_by_role("button", name="Agendar").click()
    item = panel.locator(".appt", has_text="Avaliação")
    await expect(item).to_contain_text("Agendado")

    contact = await _contact(e2e, tenant.admin, conv_id)
    items = (await tenant.admin.http.get(f"/api/contacts/{contact['id']}/appointments")).json()["items"]
    expected = await page.evaluate("(v) => new Date(v).toISOString()", when)
    assert [(a["title"], a["status"]) for a in items] == [("Avaliação", "scheduled")]
    assert datetime.fromisoformat(items[0]["starts_at"]) == datetime.fromisoformat(expected)

    await item.get_by_role("button", name="Concluir").click()
    await expect(item).to_contain_text("Concluído")
    await page.reload()
    await expect(panel.locator(".appt", has_text="Avaliação")).to_contain_text("Concluído")
    items = (await tenant.admin.http.get(f"/api/contacts/{contact['id']}/appointments")).json()["items"]
    assert items[0]["status"] == "completed"


async def test_two_contacts_merged_in_the_panel_show_both_conversations(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    colleague = await tenant.agent(role="supervisor", name="Sofia Ramos")
    wa, ig = await tenant.channel("whatsapp"), await tenant.channel("instagram")
    await say(e2e, ig, "ig-55001", "maria.insta", "Vocês fazem clareamento?")
    old = await conversation_of(tenant.admin, "maria.insta")
    assert (await tenant.admin.http.post(f"/api/conversations/{old}/resolve")).status_code == 200
    await say(e2e, wa, "5511940000003", "Maria Souza", "Oi, falei com vocês pelo Instagram")
    new = await conversation_of(tenant.admin, "Maria Souza")

    other_page = await e2e.open(colleague, f"/#/c/{old}")  # the old one, open elsewhere
    await expect(other_page.locator(".pane-contact .contact-name")).to_have_text("maria.insta")
    await _online(other_page)

    page = await e2e.open(tenant.admin, f"/#/c/{new}")
    panel = page.locator(".pane-contact")
    history = panel.locator(".contact-history .history-item")
    await expect(history).to_have_count(1)
    await panel.locator("[data-action=merge-open]").click()
    await expect(panel.locator("#merge-search")).to_be_focused()
    await expect(panel.locator(".merge-results")).to_contain_text("No other contact found.")
    await page.keyboard.type("insta")
    candidate = panel.locator(".merge-candidate")
    await expect(candidate).to_have_count(1)
    await expect(candidate).to_contain_text("ig-55001")
    await candidate.click()
    await expect(panel.locator(".merge-confirm")).to_contain_text("“maria.insta”")
    await expect(panel.locator("[data-action=merge-go]")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(panel.locator(".contact-merge [role=status]")).to_contain_text("Merged")

    # Both conversations, across channels, newest first; both accounts.
    await expect(history).to_have_count(2)
    await expect(history.nth(0).locator("svg[aria-label]")).to_have_attribute("aria-label", "WhatsApp")
    await expect(history.nth(1).locator("svg[aria-label]")).to_have_attribute("aria-label", "Instagram")
    await expect(panel.locator(".identities li")).to_have_count(2)
    contact = await _contact(e2e, tenant.admin, new)
    assert sorted(i["external_id"] for i in contact["identities"]) == ["5511940000003", "ig-55001"]

    # The other agent's panel follows live: its conversation now belongs to Maria Souza.
    await expect(other_page.locator(".pane-contact .contact-name")).to_have_text("Maria Souza")
    await expect(other_page.locator(".pane-contact .history-item")).to_have_count(2)

    # The old conversation opens from the list, with its messages.
    await history.nth(1).click()
    await expect(page.locator(".msg-in", has_text="clareamento")).to_be_visible()
    await expect(history.nth(1)).to_have_attribute("aria-current", "page")
