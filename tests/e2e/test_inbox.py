"""The agent inbox in a real Chromium: login, live messages, replies through a fake Notifica.me,
failed delivery and retry, private notes, hostile text. Every wait is bounded polling (Playwright's
`expect`), never a sleep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.e2e.scene import build
from tests.e2e.support import E2E
from tests.fakes.notificame import zenvia_error
from tests.support import PASSWORD, Channel, Tenant, notificame_message, notificame_status

expect.set_options(timeout=10_000)


async def customer_writes(
    e2e: E2E, ch: Channel, text: str, *, sender: str, name: str = "Maria Silva"
) -> None:
    r = await e2e.app.post_webhook(ch, notificame_message(ch, text=text, sender=sender, name=name))
    assert r.status_code == 200, r.text


async def open_all(page: Any) -> None:
    """Supervisors and admins: the All tab shows every open conversation, whoever routing picked."""
    await page.click("#tab-all")
    await expect(page.locator("#tab-all")).to_have_attribute("aria-selected", "true")


async def open_conversation(e2e: E2E, tenant: Tenant, name: str) -> Any:
    page = await e2e.open(tenant.admin)
    await open_all(page)
    await page.locator(".conv-item", has_text=name).click()
    await expect(page.locator(".conv-header .conv-name")).to_have_text(name)
    return page


async def test_login_and_logout(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    agent = await tenant.agent(name="Ana Lima")
    page = await e2e.open(None)
    email = page.locator("input[type=email]")
    await expect(email).to_be_visible()
    await email.fill(agent.email)
    await page.fill("input[type=password]", "not the password")
    await page.press("input[type=password]", "Enter")
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")

    await page.fill("input[type=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator(".me-name")).to_have_text("Ana Lima")
    await expect(page.locator("#tab-mine")).to_be_visible()
    # An agent has no All tab and no supervisor view.
    await expect(page.locator("#tab-all")).to_have_count(0)
    await expect(page.locator(".nav-link[data-view=supervisor]")).to_have_count(0)

    await page.reload()  # the token is kept
    await expect(page.locator(".me-name")).to_have_text("Ana Lima")
    await page.click("button[aria-label='Sign out']")
    await expect(email).to_be_visible()
    r = await e2e.app.client(agent.token).get("/api/auth/me")
    assert r.status_code == 200  # the test's own token; the page's token was the one revoked


async def test_webhook_message_appears_live(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    page = await e2e.open(tenant.admin)
    await open_all(page)
    await page.evaluate("window.__sameDocument = true")

    await customer_writes(e2e, ch, "Bom dia! Meu pedido 4312 não chegou", sender="5511911110001")
    row = page.locator(".conv-item", has_text="Maria Silva")
    await expect(row.locator(".conv-preview")).to_have_text("Bom dia! Meu pedido 4312 não chegou")
    await expect(row.locator(".badge-unread")).to_have_text("1")
    await expect(row.locator(".channel-icon")).to_have_attribute("aria-label", "WhatsApp")

    await row.click()
    await expect(page.locator(".msg-in .msg-text")).to_have_text(["Bom dia! Meu pedido 4312 não chegou"])
    await expect(row.locator(".badge-unread")).to_have_count(0)
    await customer_writes(e2e, ch, "Alguém pode me ajudar?", sender="5511911110001")
    await expect(page.locator(".msg-in .msg-text")).to_have_text(
        ["Bom dia! Meu pedido 4312 não chegou", "Alguém pode me ajudar?"]
    )
    assert await page.evaluate("window.__sameDocument") is True  # live, no reload
    # Seen while open: the server's unread count went back to zero for the team.
    conv_id = int(await row.get_attribute("data-id") or 0)
    for _ in range(50):
        r = await tenant.admin.http.get(f"/api/conversations/{conv_id}")
        if r.json()["unread_count"] == 0:
            break
        await page.wait_for_timeout(100)
    assert r.json()["unread_count"] == 0


async def test_reply_reaches_notificame_with_ticks(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await customer_writes(e2e, ch, "Vocês entregam no sábado?", sender="5511922220002", name="João Souza")
    page = await open_conversation(e2e, tenant, "João Souza")

    box = page.locator(".reply-input")
    await box.fill("Entregamos sim,")
    await box.press("Shift+Enter")  # a new line, not a send
    await box.type("das 8h às 14h.")
    await box.press("Enter")
    (sent,) = await e2e.fake.wait_for(1)
    assert sent.json["to"] == "5511922220002"
    assert sent.json["contents"] == [{"type": "text", "text": "Entregamos sim,\ndas 8h às 14h."}]
    bubble = page.locator(".msg-out", has_text="das 8h às 14h.")
    await expect(bubble).to_have_attribute("data-status", "sent")
    await expect(box).to_have_value("")

    for code, status in (("DELIVERED", "delivered"), ("READ", "read")):
        r = await e2e.app.post_webhook(ch, notificame_status(e2e.fake.sent_ids[-1], code))
        assert r.status_code == 200
        await expect(bubble).to_have_attribute("data-status", status)
    await expect(bubble.locator(".tick")).to_have_attribute("title", "Read")

    # A double click on Send is one message (the client_id makes the second POST a replay).
    await box.fill("Posso ajudar em algo mais?")
    await page.locator(".btn-send").dblclick()
    await e2e.fake.wait_for(2)
    await expect(page.locator(".msg-out", has_text="Posso ajudar em algo mais?")).to_have_count(1)
    conv_id = await page.locator(".conv-item.active").get_attribute("data-id")
    items = (await tenant.admin.http.get(f"/api/conversations/{conv_id}/messages")).json()["items"]
    assert [m["text"] for m in items].count("Posso ajudar em algo mais?") == 1


async def test_failed_delivery_shows_reason_and_retry(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await customer_writes(e2e, ch, "Oi", sender="5511933330003", name="Carla Dias")
    page = await open_conversation(e2e, tenant, "Carla Dias")

    e2e.fake.script(zenvia_error("Invalid recipient number"))  # 400: permanent, not retried
    await page.fill(".reply-input", "Olá Carla, tudo bem?")
    await page.press(".reply-input", "Enter")
    bubble = page.locator(".msg-out", has_text="Olá Carla, tudo bem?")
    await expect(bubble).to_have_attribute("data-status", "failed")
    await expect(bubble.locator(".msg-error-text")).to_contain_text("Invalid recipient number")

    await bubble.get_by_role("button", name="Retry").click()  # the fake now answers 200
    await expect(bubble).to_have_attribute("data-status", "sent")
    await expect(bubble.locator(".msg-error")).to_have_count(0)
    requests = await e2e.fake.wait_for(2)
    assert [r.json["contents"][0]["text"] for r in requests] == ["Olá Carla, tudo bem?"] * 2


async def test_private_note_is_styled_apart_and_never_sent(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await customer_writes(e2e, ch, "Quero cancelar", sender="5511944440004", name="Davi Rocha")
    page = await open_conversation(e2e, tenant, "Davi Rocha")

    toggle = page.locator("[data-action=note]")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await page.fill(".reply-input", "Cliente antigo: oferecer 10% de desconto")
    await page.press(".reply-input", "Enter")
    note = page.locator(".msg-note", has_text="oferecer 10% de desconto")
    await expect(note.locator(".note-label")).to_have_text("Private note")
    await expect(note).to_have_attribute("data-status", "note")

    await toggle.click()
    await page.fill(".reply-input", "Posso te oferecer um desconto?")
    await page.press(".reply-input", "Enter")
    await expect(page.locator(".msg-out:not(.msg-note)", has_text="desconto?")).to_have_attribute(
        "data-status", "sent"
    )
    # The outbox sends in order; the note never left: the one request is the reply.
    assert [r.json["contents"][0]["text"] for r in e2e.fake.requests] == ["Posso te oferecer um desconto?"]


async def test_network_cut_and_restored_shows_missed_messages(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await customer_writes(e2e, ch, "Oi, tudo bem?", sender="5511966660006", name="Elisa Prado")
    page = await open_conversation(e2e, tenant, "Elisa Prado")
    await expect(page.locator(".msg-in .msg-text")).to_have_text(["Oi, tudo bem?"])
    await page.wait_for_function("window.__inbox && window.__inbox.realtime.state === 'online'")
    await page.evaluate("window.__sameDocument = true")
    banner = page.locator(".banner")
    await expect(banner).to_be_hidden()

    await e2e.proxy.cut()  # every connection reset, new ones refused: the network is gone
    await expect(banner).to_contain_text("Offline: reconnecting")
    await customer_writes(
        e2e, ch, "Escrevi enquanto você estava sem rede", sender="5511966660006", name="Elisa Prado"
    )
    await customer_writes(e2e, ch, "Alguém aí?", sender="5511977770007", name="Fábio Lima")
    await e2e.proxy.restore()

    # Reconnected by itself with `since`: the missed events are replayed, no reload.
    await expect(banner).to_be_hidden()
    await expect(page.locator(".msg-in .msg-text")).to_have_text(
        ["Oi, tudo bem?", "Escrevi enquanto você estava sem rede"]
    )
    fabio = page.locator(".conv-item", has_text="Fábio Lima")
    await expect(fabio.locator(".conv-preview")).to_have_text("Alguém aí?")
    assert await page.evaluate("window.__inbox.realtime.resyncs") is None  # replayed, not reloaded

    # Opening a conversation while offline fails; it is loaded once the link is back.
    await e2e.proxy.cut()
    await expect(banner).to_be_visible()
    await fabio.click()
    await expect(page.locator(".messages-loading")).to_have_text("No connection")
    await customer_writes(e2e, ch, "Oi? Preciso de ajuda", sender="5511977770007", name="Fábio Lima")
    await e2e.proxy.restore()
    await expect(page.locator(".msg-in .msg-text")).to_have_text(["Alguém aí?", "Oi? Preciso de ajuda"])
    assert await page.evaluate("window.__sameDocument") is True


async def test_hostile_message_is_shown_as_text(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    hostile = "<img src=x onerror=window.__pwned=1>"
    page = await e2e.open(tenant.admin)
    await open_all(page)
    await customer_writes(e2e, ch, hostile, sender="5511955550005", name="<b>Mallory</b>")

    row = page.locator(".conv-item", has_text="<b>Mallory</b>")
    await expect(row.locator(".conv-preview")).to_have_text(hostile)
    await row.click()
    await expect(page.locator(".msg-in .msg-text")).to_have_text([hostile])
    await expect(page.locator(".conv-header .conv-name")).to_have_text("<b>Mallory</b>")
    assert await page.locator("#app img").count() == 0
    assert await page.locator("#app b").count() == 0
    assert await page.evaluate("typeof window.__pwned") == "undefined"

    # Only web links become links.
    await customer_writes(
        e2e, ch, "veja javascript:alert(1) e https://exemplo.com.br/pedido?id=7.", sender="5511955550005"
    )
    links = page.locator(".msg-in .msg-text a")
    await expect(links).to_have_count(1)
    await expect(links).to_have_attribute("href", "https://exemplo.com.br/pedido?id=7")
    await expect(links).to_have_attribute("rel", "noopener noreferrer")


async def test_inbox_screenshot(e2e: E2E, tmp_path: Path) -> None:
    scene = await build(e2e)
    for agent in (scene.lead, scene.agents[0]):
        r = await agent.http.put("/api/agents/me/status", json={"status": "online"})
        assert r.status_code == 200, r.text
    page = await e2e.open(scene.lead, f"/#/c/{scene.conversations['Maria Silva']}")
    await open_all(page)
    await expect(page.locator(".msg-in .msg-text").last).to_have_text("Ótimo, muito obrigada pela ajuda!")
    await expect(page.locator(".conv-item")).to_have_count(5)
    await expect(page.locator(".contact-card .contact-name")).to_have_text("Maria Silva")
    await expect(page.locator(".identities")).to_be_visible()
    await page.locator(".reply-input").fill("Imagina, Maria! Qualquer coisa é só chamar.")
    shot = await e2e.screenshot(page, "inbox.png", tmp_path)
    assert shot.stat().st_size > 10_000
