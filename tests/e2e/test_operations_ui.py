"""Operations in a real Chromium (issue 19): an admin sees a login lockout on the agents page and lifts
it (PT, dark); exports a contact's data as a JSON download and erases the contact after a confirmation
step, which a supervisor is not offered; sends a signed test ping to a webhook receiver and reads the
outcome, a refusal included (PT, dark). Each is checked through the API and the audit log too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.async_api import expect
from sqlalchemy import delete

from inbox import models as m
from tests.e2e.scene import conversation_of, say
from tests.e2e.support import E2E
from tests.fakes.receiver import receiver_app, verify
from tests.fakes.serve import serve
from tests.support import PASSWORD

expect.set_options(timeout=15_000)
# Two failures lock an email; the address (every test client is 127.0.0.1) stays far below its limit.
APP_SETTINGS = {"login_max_failures_email": 2, "login_max_failures_address": 1000}


async def _actions(admin: Any, prefix: str) -> list[dict[str, Any]]:
    items = (await admin.http.get("/api/audit")).json()["items"]
    return [a for a in items if a["action"].startswith(prefix)]


async def test_a_lockout_is_shown_to_admins_and_lifted(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    agent = await tenant.agent()
    login = {"email": agent.email, "password": "wrong password"}
    try:
        for _ in range(2):
            assert (await e2e.app.http.post("/api/auth/login", json=login)).status_code == 401
        right = {"email": agent.email, "password": PASSWORD}
        assert (await e2e.app.http.post("/api/auth/login", json=right)).status_code == 429

        page = await e2e.open(tenant.admin, "/#/admin/agents", lang="pt", theme="dark")
        row = page.locator(f"#lockouts-table tr[data-scope=email][data-key='{agent.email}']")
        await expect(row).to_contain_text("E-mail")
        await expect(row).to_contain_text("2")
        page.once("dialog", lambda dialog: dialog.accept())
        await row.get_by_role("button", name="Liberar").click()
        await expect(page.locator("#lockouts-none")).to_have_text("Ninguém está bloqueado.")
        assert (await e2e.app.http.post("/api/auth/login", json=right)).status_code == 200
        [cleared] = await _actions(tenant.admin, "lockout.")
        assert cleared["details"]["key"] == agent.email and cleared["actor"]["id"] == tenant.admin.id
    finally:  # the address's rows would count against the next modules' logins from 127.0.0.1
        async with e2e.app.runtime.engine.begin() as conn:
            await conn.execute(delete(m.login_failures).where(m.login_failures.c.tenant_id == tenant.id))


async def test_a_contact_is_exported_and_erased_from_the_panel(e2e: E2E, tmp_path: Path) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await say(e2e, ch, "5511950000001", "Ana Souza", "Meu CPF é 123.456.789-00")
    conv_id = await conversation_of(tenant.admin, "Ana Souza")

    # A supervisor works the conversation but is not offered the admins' data tools.
    supervisor = await tenant.agent(role="supervisor")
    sup = await e2e.open(supervisor, f"/#/c/{conv_id}")
    await expect(sup.locator(".pane-contact .contact-name")).to_have_text("Ana Souza")
    await expect(sup.locator(".pane-contact [data-action=merge-open]")).to_be_visible()
    await expect(sup.locator("[data-action=privacy-export]")).to_have_count(0)

    page = await e2e.open(tenant.admin, f"/#/c/{conv_id}")
    panel = page.locator(".pane-contact")
    await expect(panel.locator(".contact-name")).to_have_text("Ana Souza")
    async with page.expect_download() as info:
        await panel.locator("[data-action=privacy-export]").click()
    download = await info.value
    assert download.suggested_filename.startswith("contact-") and download.suggested_filename.endswith(
        ".json"
    )
    target = tmp_path / download.suggested_filename
    await download.save_as(str(target))
    document = json.loads(target.read_text())
    assert document["contact"]["name"] == "Ana Souza"
    [conv] = document["conversations"]
    assert conv["id"] == conv_id and [msg["text"] for msg in conv["messages"]] == ["Meu CPF é 123.456.789-00"]
    await expect(panel.locator(".contact-privacy [role=status]")).to_contain_text(download.suggested_filename)

    # Erase: a confirmation step first; cancelling erases nothing.
    await panel.locator("[data-action=privacy-erase]").click()
    await expect(panel.locator("#privacy-confirm-text")).to_contain_text("Erase Ana Souza?")
    await expect(panel.locator("[data-action=privacy-erase-go]")).to_be_focused()
    await panel.locator(".contact-privacy").get_by_role("button", name="Cancel").click()
    await expect(panel.locator("#privacy-confirm-text")).to_have_count(0)
    contact_id = document["contact"]["id"]
    assert (await tenant.admin.http.get(f"/api/contacts/{contact_id}")).json()["name"] == "Ana Souza"

    await panel.locator("[data-action=privacy-erase]").click()
    await panel.locator("[data-action=privacy-erase-go]").click()
    await expect(panel.locator(".contact-privacy [role=status]")).to_contain_text(
        "Contact erased: 1 messages cleared."
    )
    await expect(panel.locator(".contact-name")).to_have_text("Contato apagado")
    messages = (await tenant.admin.http.get(f"/api/conversations/{conv_id}/messages")).json()["items"]
    assert all(not msg.get("text") for msg in messages if msg["direction"] == "in"), messages
    audited = [(a["action"], a["target"]["id"]) for a in await _actions(tenant.admin, "contact.")]
    assert audited == [("contact.erased", contact_id), ("contact.exported", contact_id)]


async def test_a_webhook_test_ping_shows_what_the_receiver_answered(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    asgi, rec = receiver_app()
    async with serve(asgi) as url:
        made = await tenant.admin.http.post(
            "/api/admin/webhooks", json={"url": url + "/crm", "events": ["message.created"]}
        )
        hook = made.json()
        page = await e2e.open(tenant.admin, "/#/admin/webhooks", lang="pt", theme="dark")
        row = page.locator(f"#hooks-table tr[data-hook='{hook['id']}']")
        await row.get_by_role("button", name="Enviar teste").click()
        result = row.locator(".hook-test-result")
        await expect(result).to_contain_text("Teste entregue: 200")
        await expect(result).to_have_attribute("data-ok", "true")
        [ping] = rec.requests
        assert ping.headers["x-inbox-event"] == "ping" and verify(hook["secret"], ping)

        rec.script(503)
        await row.get_by_role("button", name="Enviar teste").click()
        await expect(result).to_contain_text("O teste falhou: HTTP 503")
        await expect(result).to_have_attribute("data-ok", "false")
        assert len(rec.requests) == 2
    tested = await _actions(tenant.admin, "webhook.tested")
    assert [a["details"]["ok"] for a in tested] == [False, True]
