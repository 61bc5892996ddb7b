"""The composer, keyboard and notifications in Chromium (issue 15 items 5, 7, 9): files dropped,
pasted or picked are uploaded and shown in the timeline as the app serves them back (and reach the
provider as a signed address); an emoji picked goes in at the caret and out to the customer; an
over-size file or a type not taken is refused with the server's reason; the messaging window
counts down and, closed, blocks public replies saying why; j / k move through the list, `?` shows
the shortcuts; the tab title counts my unread conversations; a conversation assigned to me while
the tab is hidden raises a browser notification."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

from playwright.async_api import expect
from sqlalchemy import update

from inbox import models as m
from tests.e2e.scene import conversation_of, say, set_routing
from tests.e2e.support import E2E
from tests.support import whatsapp_cloud_message

expect.set_options(timeout=10_000)

PUBLIC = "https://inbox.example.test"
APP_SETTINGS = {"public_url": PUBLIC, "upload_max_bytes": 64 * 1024}
# A real 2x2 PNG, so the timeline's <img> decodes it once served back.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="  # noqa: E501


async def _online(page: Any) -> None:
    await page.wait_for_function("window.__inbox && window.__inbox.realtime.state === 'online'")


async def _drop(page: Any, selector: str, name: str, mime: str, b64: str, *, event: str = "drop") -> None:
    """Drop (or paste) a file built in the page, as the browser does for a real one."""
    await page.evaluate(
        """([selector, name, mime, b64, event]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, { type: mime }));
          const target = document.querySelector(selector);
          const how = { bubbles: true, cancelable: true };
          if (event === "paste") {
            target.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, ...how }));
          } else {
            target.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, ...how }));
            target.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, ...how }));
          }
        }""",
        [selector, name, mime, b64, event],
    )


async def _mine(e2e: E2E, name: str, phone: str, text: str = "Oi") -> tuple[Any, Any, int]:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    agent = await tenant.agent(name="Ana Lima")
    ch = await tenant.channel()
    await say(e2e, ch, phone, name, text)
    conv_id = await conversation_of(tenant.admin, name)
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/assign", json={"agent_id": agent.id})
    assert r.status_code == 200, r.text
    return tenant, agent, conv_id


async def test_drop_and_paste_files_into_a_reply(e2e: E2E) -> None:
    _, agent, conv_id = await _mine(e2e, "Bruna Reis", "5511940000001", "Pode mandar a foto?")
    page = await e2e.open(agent, f"/#/c/{conv_id}")
    await _online(page)
    await expect(page.locator(".msg-in", has_text="Pode mandar a foto?")).to_be_visible()

    await _drop(page, ".composer", "sorriso.png", "image/png", PNG_B64)
    await expect(page.locator(".composer-file[data-file-status=ready]")).to_have_count(1)
    pdf = base64.b64encode(b"%PDF-1.4 orcamento").decode()
    await _drop(page, ".reply-input", "Orçamento.pdf", "application/pdf", pdf, event="paste")
    await expect(page.locator(".composer-file[data-file-status=ready]")).to_have_count(2)
    await page.fill(".reply-input", "Segue a foto e o orçamento")
    await page.press(".reply-input", "Enter")

    bubble = page.locator(".msg-out", has_text="Segue a foto e o orçamento")
    await expect(bubble).to_be_visible()
    await expect(page.locator(".composer-file")).to_have_count(0)
    # Served back through the app with the agent's token, decoded by the browser.
    img = bubble.locator(".att-image img")
    await page.wait_for_function(
        "() => { const i = document.querySelector('.msg-out .att-image img');"
        " return !!i && i.src.startsWith('blob:') && i.naturalWidth === 2; }"
    )
    await expect(bubble.locator(".att-file")).to_contain_text("Orçamento.pdf")
    assert await bubble.locator(".att-file").get_attribute("download") == "Orçamento.pdf"
    assert (await img.get_attribute("alt")) == "sorriso.png"

    # The provider got signed addresses on INBOX_PUBLIC_URL, and can fetch them without a login.
    sent = (await e2e.fake.wait_for(1, within=10))[-1].json
    urls = [c["fileUrl"] for c in sent["contents"] if c["type"] == "file"]
    assert len(urls) == 2 and all(u.startswith(f"{PUBLIC}/media/") for u in urls)
    got = await e2e.app.http.get(urls[1].removeprefix(PUBLIC))
    assert got.status_code == 200 and got.content == b"%PDF-1.4 orcamento"


async def test_an_emoji_goes_in_at_the_caret_and_out_to_the_customer(e2e: E2E) -> None:
    _, agent, conv_id = await _mine(e2e, "Davi Rocha", "5511940000003", "Chegou o pedido!")
    page = await e2e.open(agent, f"/#/c/{conv_id}")
    await _online(page)
    box = page.locator(".reply-input")
    await box.fill("Que bom, obrigado!")
    await box.press("Home")
    for _ in range(len("Que bom,")):
        await box.press("ArrowRight")
    picker = page.locator(".emoji-picker")
    await page.click("[data-action=emoji]")
    await expect(picker.get_by_role("listbox", name="Emoji")).to_be_visible()
    await picker.get_by_role("option", name="🎉").click()
    await expect(picker.get_by_role("listbox")).to_be_hidden()  # closed after a pick
    await expect(box).to_have_value("Que bom,🎉 obrigado!")
    await expect(box).to_be_focused()
    # Escape closes it without inserting anything.
    await page.click("[data-action=emoji]")
    await page.keyboard.press("Escape")
    await expect(picker.get_by_role("listbox")).to_be_hidden()
    await expect(box).to_have_value("Que bom,🎉 obrigado!")

    await box.press("Enter")
    await expect(page.locator(".msg-out", has_text="Que bom,🎉 obrigado!")).to_be_visible()
    sent = (await e2e.fake.wait_for(1, within=10))[-1].json
    assert sent["contents"] == [{"type": "text", "text": "Que bom,🎉 obrigado!"}]


async def test_too_large_or_wrong_type_is_refused_with_the_reason(e2e: E2E) -> None:
    _, agent, conv_id = await _mine(e2e, "Caio Nunes", "5511940000002")
    page = await e2e.open(agent, f"/#/c/{conv_id}")
    await _online(page)
    big = base64.b64encode(b"\x00" * (100 * 1024)).decode()
    await _drop(page, ".composer", "raio-x.png", "image/png", big)
    error = page.locator(".composer-file.is-error")
    await expect(error).to_contain_text("Not attached: this file is 100 KB; a file may be at most 64 KB")
    await _drop(page, ".composer", "pagina.html", "text/html", base64.b64encode(b"<html>").decode())
    await expect(page.locator(".composer-file.is-error", has_text="pagina.html")).to_contain_text(
        "files of type text/html cannot be attached"
    )
    # A refused file is never sent; removing it clears the list.
    for _ in range(2):
        await page.locator(".composer-file.is-error button").first.click()
    await expect(page.locator(".composer-file")).to_have_count(0)


async def _set_conversation(e2e: E2E, conv_id: int, **values: Any) -> None:
    async with e2e.app.runtime.uow() as uow:
        await uow.conn.execute(
            update(m.conversations).where(m.conversations.c.id == conv_id).values(**values)
        )


async def test_window_countdown_and_blocked_reply(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    r = await e2e.app.post_webhook(ch, whatsapp_cloud_message(ch, text="Oi", name="Diego Alves"))
    assert r.status_code == 200, r.text
    conv_id = await conversation_of(tenant.admin, "Diego Alves")
    await _set_conversation(e2e, conv_id, last_inbound_at=m.utcnow() - timedelta(hours=20, minutes=1))
    page = await e2e.open(tenant.admin, f"/#/c/{conv_id}")
    countdown = page.locator("[data-window-countdown]")
    await expect(countdown).to_have_text(re.compile(r"^Window: 3h 5\dm left$"))
    await expect(page.locator(".window-blocked")).to_be_hidden()

    await _set_conversation(e2e, conv_id, last_inbound_at=m.utcnow() - timedelta(hours=25))
    await page.reload()
    blocked = page.locator(".window-blocked")
    await expect(blocked).to_contain_text("Replies are blocked.")
    await expect(blocked).to_contain_text("WhatsApp's 24-hour customer-service window is closed")
    await expect(countdown).to_be_hidden()
    await expect(page.locator(".reply-input")).to_be_disabled()
    # A private note still goes.
    await page.click("[data-action=note]")
    await page.fill(".reply-input", "Cliente sumiu, tentar amanhã")
    await page.press(".reply-input", "Enter")
    await expect(page.locator(".msg-note", has_text="Cliente sumiu")).to_be_visible()


async def test_keyboard_shortcuts_and_help(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    ch = await tenant.channel()
    for i, name in enumerate(("Elisa Prado", "Fabio Gomes", "Gina Torres")):
        await say(e2e, ch, f"551194000010{i}", name, "Olá")
    page = await e2e.open(tenant.admin)
    await page.click("#tab-all")
    items = page.locator("#conversation-rows .conv-item")
    await expect(items).to_have_count(3)
    names = [await items.nth(i).locator(".conv-name").inner_text() for i in range(3)]
    title = page.locator(".conv-header .conv-name")

    await page.keyboard.press("j")
    await expect(title).to_have_text(names[0])
    await page.keyboard.press("j")
    await expect(title).to_have_text(names[1])
    await page.keyboard.press("k")
    await expect(title).to_have_text(names[0])

    # In the reply box the letters are text; Escape leaves it and j works again.
    await page.keyboard.press("r")
    await expect(page.locator(".reply-input")).to_be_focused()
    await page.keyboard.type("jk")
    await expect(page.locator(".reply-input")).to_have_value("jk")
    await expect(title).to_have_text(names[0])
    await page.keyboard.press("Escape")
    await page.keyboard.press("j")
    await expect(title).to_have_text(names[1])

    # a: assign to me; e: resolve.
    await page.keyboard.press("a")
    await expect(page.locator(".conv-header [data-conv-status]")).to_have_text("Assigned")
    await page.keyboard.press("e")
    await expect(page.locator(".conv-header [data-conv-status]")).to_have_text("Resolved")

    await page.keyboard.press("?")
    help_ = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help_).to_be_visible()
    await expect(help_.locator(".kbd-row")).to_contain_text(["Next conversation", "Previous conversation"])
    await page.keyboard.press("Escape")
    await expect(help_).to_have_count(0)

    pt = await e2e.open(tenant.admin, lang="pt")
    await _online(pt)
    await pt.keyboard.press("?")
    await expect(pt.get_by_role("dialog", name="Atalhos de teclado")).to_contain_text("Próxima conversa")


async def test_title_counts_my_unread_conversations(e2e: E2E) -> None:
    tenant, agent, first = await _mine(e2e, "Hugo Lima", "5511940000201")
    page = await e2e.open(agent, "/#/supervisor")  # any view: not only the list
    await _online(page)
    await expect(page).to_have_title("(1) Inbox")
    ch = await tenant.channel()
    await say(e2e, ch, "5511940000202", "Iris Melo", "Bom dia")
    second = await conversation_of(tenant.admin, "Iris Melo")
    await tenant.admin.http.post(f"/api/conversations/{second}/assign", json={"agent_id": agent.id})
    await say(e2e, ch, "5511940000202", "Iris Melo", "Alguém aí?")
    await expect(page).to_have_title("(2) Inbox")
    await page.goto(f"{e2e.url}/#/c/{first}")  # opened: read
    await expect(page).to_have_title("(1) Inbox")


async def test_assigned_while_hidden_notifies(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    agent = await tenant.agent(name="Joana Dias")
    ch = await tenant.channel()
    page = await e2e.open(agent)
    # The tab is in the background, and the agent allowed notifications (both as the browser says).
    await page.evaluate(
        """() => {
          window.__shown = [];
          window.Notification = class {
            constructor(title, opts) { window.__shown.push({ title, body: opts.body }); }
          };
          window.Notification.permission = "granted";
          Object.defineProperty(document, "visibilityState", { get: () => "hidden", configurable: true });
        }"""
    )
    await _online(page)
    await say(e2e, ch, "5511940000301", "Karla Rios", "Preciso de ajuda")
    conv_id = await conversation_of(tenant.admin, "Karla Rios")
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/assign", json={"agent_id": agent.id})
    await page.wait_for_function("window.__shown.length === 1")
    shown = await page.evaluate("window.__shown")
    body = f"Assigned to you on {ch.data['name']}"
    assert shown == [{"title": "New conversation: Karla Rios", "body": body}]
    # Already mine: a later update of it is no news; the next conversation assigned to me is.
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/labels", json={"labels": []})
    await say(e2e, ch, "5511940000302", "Lia Souto", "Oi")
    other = await conversation_of(tenant.admin, "Lia Souto")
    await tenant.admin.http.post(f"/api/conversations/{other}/assign", json={"agent_id": agent.id})
    await page.wait_for_function("window.__shown.length >= 2")
    assert [n["title"] for n in await page.evaluate("window.__shown")] == [
        "New conversation: Karla Rios",
        "New conversation: Lia Souto",
    ]
