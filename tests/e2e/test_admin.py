"""The admin pages in a real Chromium: a Notifica.me account imported with one token and a test message
sent; a Meta channel created from the form whose webhook arrival shows up live; an agent invited with
a password shown once; the audit log; agents kept out; the channel health card on the supervisor view."""

from __future__ import annotations

import hashlib
import hmac
import json

from playwright.async_api import expect

from tests.e2e.support import E2E
from tests.fakes.notificame import Reply, hub_channel

expect.set_options(timeout=10_000)
TOKEN = "e2e-hub-token-42"
# A Hub call gives up after this long (the e2e module's app setting).
APP_SETTINGS = {"setup_timeout_seconds": 4.0}


async def test_import_an_account_and_send_a_test(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    e2e.fake.channels = [
        hub_channel("whatsapp", name="WhatsApp Clínica"),
        hub_channel("instagram", name="Insta Clínica"),
    ]
    e2e.fake.token = TOKEN
    try:
        page = await e2e.open(tenant.admin, "/#/admin/setup")
        token = page.get_by_label("API token")
        await token.fill("wrong-token")
        await token.press("Enter")  # the keyboard submits the form
        await expect(page.locator("#admin-setup .form-error").first).to_contain_text("refused the token")
        await token.fill(TOKEN)
        await page.locator("#hub-check").click()
        rows = page.locator("#hub-channels tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.first).to_contain_text("not imported yet")
        await page.locator("#hub-import").click()
        await expect(page.locator("#hub-imported li")).to_have_count(2)
        await expect(page.locator("#hub-note")).to_contain_text("INBOX_PUBLIC_URL")
        await expect(page.locator("#hub-imported")).to_contain_text("/webhooks/notificame/")
        assert await token.input_value() == ""  # sent once, not kept in the page
        assert TOKEN not in await page.content()
        # Checking again: both are here now.
        await token.fill(TOKEN)
        await page.locator("#hub-check").click()
        await expect(page.locator("#hub-channels tbody tr", has_text="already here")).to_have_count(2)
        # The test form lists the new channels; a send reaches the Hub and its answer is shown.
        channel = page.get_by_label("Channel", exact=True)
        await expect(channel.locator("option")).to_have_count(2)
        await channel.select_option(label="WhatsApp Clínica · whatsapp")
        await page.get_by_label("To (phone or user id)").fill("5511966665555")
        await page.locator("#test-send").click()
        await expect(page.locator("#test-result")).to_contain_text("Sent. Provider message id: nm-msg-")
        sent = [r for r in e2e.fake.requests if r.path.endswith("/messages")]
        assert (
            len(sent) == 1
            and sent[0].json["to"] == "5511966665555"
            and sent[0].headers["x-api-token"] == TOKEN
        )
        e2e.fake.script(400)
        await page.locator("#test-send").click()
        await expect(page.locator("#test-result")).to_contain_text("Not sent: Notifica.me: fake error 400")
    finally:
        e2e.fake.channels, e2e.fake.token = [], None


async def test_meta_channel_from_the_page_shows_its_webhook_arriving(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    supervisor = await tenant.agent(role="supervisor")
    page = await e2e.open(tenant.admin, "/#/admin/setup", lang="pt", theme="dark")
    await page.get_by_label("Rede", exact=True).select_option("messenger")
    await page.get_by_label("Nome", exact=True).fill("Página da Clínica")
    await page.get_by_label("Id da página, do Instagram ou do número").fill("1029384756")
    await page.get_by_label("Chave secreta do app").fill("app-secret-e2e-77")
    await page.get_by_label("Token de verificação").fill("verifica-e2e")
    await page.get_by_label("Token de acesso").fill("EAAe2eaccess")
    await page.locator("#meta-create").click()
    callback = page.locator("#meta-callback")
    await expect(callback).to_contain_text("/webhooks/meta/")
    await expect(page.locator("#meta-verify")).to_have_text("verifica-e2e")
    html = await page.content()
    assert "app-secret-e2e-77" not in html and "EAAe2eaccess" not in html
    health = page.locator("#meta-health")
    await expect(health.locator("[data-health=handshake] dd")).to_have_text("nunca")
    # Meta verifies the URL, then sends one event with a bad signature and one signed.
    path = "/webhooks/meta/" + (await callback.inner_text()).rsplit("/webhooks/meta/", 1)[1]
    q = {"hub.mode": "subscribe", "hub.verify_token": "verifica-e2e", "hub.challenge": "123"}
    assert (await e2e.app.http.get(path, params=q)).text == "123"
    body = json.dumps({"object": "page", "entry": []}).encode()
    bad = await e2e.app.http.post(path, content=body, headers={"X-Hub-Signature-256": "sha256=00"})
    assert bad.status_code == 401
    good = "sha256=" + hmac.new(b"app-secret-e2e-77", body, hashlib.sha256).hexdigest()
    assert (
        await e2e.app.http.post(path, content=body, headers={"X-Hub-Signature-256": good})
    ).status_code == 200
    await expect(health.locator("[data-health=handshake] dd")).not_to_have_text("nunca")
    await expect(health.locator("[data-health=event] dd")).not_to_have_text("nunca")
    await expect(health.locator("[data-health=signature_failures] dd")).to_have_text("1")
    # The channels tab never shows the secrets again.
    await page.locator("a[data-section=channels]").click()
    row = page.locator("#channels-table tr", has_text="meta")
    await expect(row).to_have_count(1)
    html = await page.content()
    assert "app-secret-e2e-77" not in html and "verifica-e2e" not in html and "EAAe2eaccess" not in html
    # The supervisor view's health card shows the channel with its signature failure.
    sup = await e2e.open(supervisor, "/#/supervisor")
    card = sup.locator("#channel-health tbody tr", has_text="Página da Clínica")
    await expect(card.locator("[data-field=signature_failures]")).to_have_text("1")
    await expect(sup.locator("a[data-view=admin]")).to_have_count(0)


async def test_invite_an_agent_manage_a_channel_and_read_the_audit_log(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    page = await e2e.open(tenant.admin, "/#/admin/agents")
    admin = page.locator("#admin")
    await admin.get_by_label("Email", exact=True).fill(f"carla-{tenant.id}@example.com")
    await admin.get_by_label("Name", exact=True).fill("Carla Dias")
    await page.locator("#invite").click()
    password = page.locator("#invite-password")
    await expect(password).not_to_be_empty()
    secret = await password.inner_text()
    r = await e2e.app.http.post(
        "/api/auth/login", json={"email": f"carla-{tenant.id}@example.com", "password": secret}
    )
    assert r.status_code == 200  # the password shown works
    await expect(page.locator("#agents-admin tbody tr", has_text="Carla Dias")).to_have_count(1)
    # Channels: rename, disable, new webhook key.
    await page.locator("a[data-section=channels]").click()
    row = page.locator(f"#channels-table tr[data-channel='{ch.id}']")
    await row.get_by_label("Name").fill("Recepção")
    await row.get_by_role("button", name="Save").click()
    await expect(row.get_by_label("Name")).to_have_value("Recepção")
    page.once("dialog", lambda d: d.accept())
    await row.get_by_role("button", name="New webhook key").click()
    await expect(row).not_to_contain_text(ch.webhook_path)
    assert (await e2e.app.http.post(ch.webhook_path, json={"type": "MESSAGE"})).status_code == 404
    await row.get_by_role("button", name="Disable").click()
    await expect(row.get_by_role("button", name="Enable")).to_be_visible()
    # The audit log has each change, by the admin, newest first.
    await page.locator("a[data-section=audit]").click()
    actions = page.locator("#audit-table tbody tr")
    await expect(actions.first).to_have_attribute("data-action", "channel.updated")
    for action in ("channel.webhook_key_rotated", "agent.created", "auth.login"):
        await expect(page.locator(f"#audit-table tr[data-action='{action}']").first).to_be_visible()


async def test_agents_never_see_the_admin_pages(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    agent = await tenant.agent()
    page = await e2e.open(agent, "/#/admin/setup")
    await expect(page).to_have_url(e2e.url + "/#/")
    await expect(page.locator("a[data-view=admin]")).to_have_count(0)
    await expect(page.locator("#admin")).to_have_count(0)


async def test_queues_and_settings_pages_save(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ana = await tenant.agent(name="Ana Queue")
    page = await e2e.open(tenant.admin, "/#/admin/queues")
    admin = page.locator("#admin")
    await admin.get_by_label("Queue name").fill("Agendamentos")
    await page.locator("#queue-create").click()
    queue = page.locator("fieldset", has_text="Agendamentos")
    await queue.get_by_label("Ana Queue").check()
    await queue.get_by_role("button", name="Save").click()
    await expect(queue.get_by_role("status")).to_have_text("Saved.")
    queues = (await tenant.admin.http.get("/api/admin/queues")).json()["items"]
    assert [(q["name"], q["agent_ids"]) for q in queues] == [("Agendamentos", [ana.id])]
    await page.locator("a[data-section=settings]").click()
    await admin.get_by_label("Assign conversations automatically").uncheck()
    await admin.get_by_label("Time zone").fill("America/Sao_Paulo")
    await page.locator("#routing-save").click()
    await expect(page.locator("#routing-save + [role=status]")).to_have_text("Saved.")
    routing = (await tenant.admin.http.get("/api/admin/routing")).json()
    assert routing["auto_assign"] is False and routing["timezone"] == "America/Sao_Paulo"
    await admin.get_by_label("Time zone").fill("Mars/Olympus")
    await page.locator("#routing-save").click()
    await expect(admin.locator(".form-error").first).to_contain_text("timezone")
    bot = admin.locator("section", has_text="Bot (all channels)")
    await bot.get_by_label("Most answers before a human takes over").fill("3")
    await bot.get_by_role("button", name="Save").click()
    await expect(bot.get_by_role("status")).to_have_text("Saved.")
    assert (await tenant.admin.http.get("/api/settings/bot")).json()["settings"]["max_turns"] == 3


async def test_a_slow_hub_blocks_neither_the_page_nor_the_server(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await tenant.channel()
    page = await e2e.open(tenant.admin, "/#/admin/setup")
    e2e.fake.script(Reply(delay=6.0))  # the token check hangs at the Hub
    await page.get_by_label("API token").fill(TOKEN)
    await page.locator("#hub-check").click()
    await expect(page.locator("#hub-check")).to_be_disabled()
    # Meanwhile the same page sends a test message through the same Hub and shows its answer.
    await page.get_by_label("To (phone or user id)").fill("5511944443333")
    await page.locator("#test-send").click()
    await expect(page.locator("#test-result")).to_contain_text("Sent. Provider message id: nm-msg-")
    await expect(page.locator("#hub-check")).to_be_disabled()  # the check is still out
    # Then the check gives up with its reason, and the button is usable again.
    await expect(page.locator("#admin-setup .form-error").first).to_contain_text("did not answer within 4 s")
    await expect(page.locator("#hub-check")).to_be_enabled()
