"""Conversation actions, typing, the agent status switch and the 24-hour window warning, in Chromium."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.async_api import expect
from sqlalchemy import update

from inbox import models as m
from tests.e2e.scene import conversation_of, say, set_routing
from tests.e2e.support import E2E
from tests.support import notificame_message, whatsapp_cloud_message

expect.set_options(timeout=10_000)


async def set_conversation(e2e: E2E, conv_id: int, **values: Any) -> None:
    async with e2e.app.runtime.uow() as uow:
        await uow.conn.execute(
            update(m.conversations).where(m.conversations.c.id == conv_id).values(**values)
        )


async def test_assign_resolve_reopen_snooze_and_take_over_from_bot(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    ana = await tenant.agent(name="Ana Lima")
    ch = await tenant.channel()
    await say(e2e, ch, "5511910000001", "Otávio Prado", "Preciso trocar um produto")
    page = await e2e.open(tenant.admin)
    await page.click("#tab-all")
    await page.locator(".conv-item", has_text="Otávio Prado").click()
    status = page.locator(".conv-header [data-conv-status]")
    await expect(status).to_have_text("Queued")

    await page.select_option(".conv-header select[data-action=assign]", label="Ana Lima · Offline")
    await expect(status).to_have_text("Assigned")
    await expect(page.locator(".msg-system")).to_contain_text(["Assigned to Ana Lima"])
    conv_id = await conversation_of(tenant.admin, "Otávio Prado")
    assert (await tenant.admin.http.get(f"/api/conversations/{conv_id}")).json()["assignee_id"] == ana.id

    await page.click("[data-action=resolve]")
    await expect(status).to_have_text("Resolved")
    await page.click("[data-action=reopen]")
    await expect(status).not_to_have_text("Resolved")

    await page.click("summary[data-action=snooze]")
    await page.get_by_role("button", name="1 hour").click()
    await expect(status).to_have_text("Snoozed")
    await expect(page.locator(".notice", has_text="Snoozed until")).to_be_visible()

    # A conversation the bot is answering: one button hands it to the humans' queue.
    await say(e2e, ch, "5511910000002", "Paulo Bento", "Oi robô")
    bot_conv = await conversation_of(tenant.admin, "Paulo Bento")
    await set_conversation(e2e, bot_conv, status="bot", queued_at=None)
    await page.goto(f"{e2e.url}/#/c/{bot_conv}")
    await page.reload()
    await expect(page.locator(".notice", has_text="The bot is answering")).to_be_visible()
    await page.click("[data-action=handoff]")
    await expect(status).to_have_text("Queued")
    await expect(page.locator("[data-action=handoff]")).to_have_count(0)


async def test_typing_is_shown_to_the_other_agent(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    supervisor = await tenant.agent(role="supervisor", name="Sofia Ramos")
    ch = await tenant.channel()
    await say(e2e, ch, "5511910000003", "Rita Souza", "Bom dia")
    conv_id = await conversation_of(tenant.admin, "Rita Souza")
    watcher = await e2e.open(tenant.admin, f"/#/c/{conv_id}")
    writer = await e2e.open(supervisor, f"/#/c/{conv_id}")
    for page in (watcher, writer):
        await page.wait_for_function("window.__inbox && window.__inbox.realtime.state === 'online'")
    await writer.locator(".reply-input").type("Bom dia, Rita")
    await expect(watcher.locator(".typing")).to_have_text("Sofia Ramos is typing…")
    await expect(writer.locator(".typing")).to_have_text("")  # not to oneself


async def test_status_switch(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    agent = await tenant.agent(name="Ana Lima")
    page = await e2e.open(agent)
    status = page.locator("#my-status")
    await expect(status).to_have_value("offline")
    await status.select_option("online")
    await expect(page.locator(".status-switch .dot")).to_have_class("dot dot-online")
    me = (await agent.http.get("/api/agents")).json()["items"]
    assert next(a for a in me if a["id"] == agent.id)["status"] == "online"
    await page.reload()
    await expect(page.locator("#my-status")).to_have_value("online")


async def test_24_hour_window_warning_and_refusal(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    r = await e2e.app.post_webhook(ch, whatsapp_cloud_message(ch, text="Oi", name="Sérgio Luz"))
    assert r.status_code == 200, r.text
    conv_id = await conversation_of(tenant.admin, "Sérgio Luz")
    await set_conversation(e2e, conv_id, last_inbound_at=m.utcnow() - timedelta(hours=23))
    page = await e2e.open(tenant.admin, f"/#/c/{conv_id}")
    await expect(page.locator("[data-window=closing]")).to_contain_text("24-hour reply window closes in")

    await set_conversation(e2e, conv_id, last_inbound_at=m.utcnow() - timedelta(hours=25))
    await page.reload()
    await expect(page.locator("[data-window=closed]")).to_contain_text("The 24-hour window closed")
    # The reply box says why before anything is written (the refusal a reply would get), and
    # takes no public reply (tests/e2e/test_composer.py: private notes still go).
    await expect(page.locator(".window-blocked")).to_contain_text("24-hour customer-service window is closed")
    await expect(page.locator(".reply-input")).to_be_disabled()


async def test_attachments_locations_and_deleted_messages(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    base = "http://127.0.0.1:9/media"  # never fetched successfully: the elements are what count
    contents = [
        {
            "type": "file",
            "fileUrl": f"{base}/foto.jpg",
            "fileMimeType": "image/jpeg",
            "fileCaption": "A foto",
        },
        {"type": "file", "fileUrl": f"{base}/audio.ogg", "fileMimeType": "audio/ogg"},
        {"type": "file", "fileUrl": f"{base}/video.mp4", "fileMimeType": "video/mp4"},
        {
            "type": "file",
            "fileUrl": f"{base}/nota.pdf",
            "fileMimeType": "application/pdf",
            "fileName": "nota.pdf",
        },
        {"type": "location", "latitude": -23.5505, "longitude": -46.6333, "name": "Loja Centro"},
    ]
    for i, content in enumerate(contents):
        payload = notificame_message(ch, sender="5511910000009", name="Vera Lúcia", contents=[content])
        payload["message"]["id"] = f"media-{i}"
        r = await e2e.app.post_webhook(ch, payload)
        assert r.status_code == 200, r.text
    await say(e2e, ch, "5511910000009", "Vera Lúcia", "esta vai ser apagada")
    conv_id = await conversation_of(tenant.admin, "Vera Lúcia")
    async with e2e.app.runtime.uow() as uow:
        msg = m.messages.c
        await uow.conn.execute(
            update(m.messages)
            .where(msg.conversation_id == conv_id, msg.text == "esta vai ser apagada")
            .values(text=None, deleted=True)
        )
    page = await e2e.open(tenant.admin, f"/#/c/{conv_id}")
    await expect(page.locator(".att-image img")).to_have_attribute("src", f"{base}/foto.jpg")
    await expect(page.locator(".msg-in", has=page.locator(".att-image"))).to_contain_text("A foto")
    await expect(page.locator("audio.att-audio")).to_have_attribute("src", f"{base}/audio.ogg")
    await expect(page.locator("video.att-video")).to_have_attribute("src", f"{base}/video.mp4")
    await expect(page.locator("a.att-file")).to_have_text("nota.pdf")
    await expect(page.locator("a.att-location")).to_have_attribute(
        "href", "https://maps.google.com/?q=-23.5505,-46.6333"
    )
    await expect(page.locator(".msg-deleted")).to_have_text("message deleted")


async def test_keyboard_only(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await say(e2e, ch, "5511910000010", "Tiago Melo", "Oi")
    page = await e2e.open(tenant.admin)
    await page.locator("#tab-mine").focus()
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("#tab-all")).to_be_focused()
    await expect(page.locator("#tab-all")).to_have_attribute("aria-selected", "true")
    # The tab loads its list; a user tabs into the list once they see it.
    await expect(page.locator(".conv-item", has_text="Tiago Melo")).to_be_visible()
    await page.keyboard.press("Tab")  # the status filter
    await page.keyboard.press("Tab")  # the label filter
    await page.keyboard.press("Tab")  # the first conversation
    await expect(page.locator(".conv-item", has_text="Tiago Melo")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator(".conv-header .conv-name")).to_have_text("Tiago Melo")
    await page.locator(".reply-input").focus()
    await page.keyboard.type("Olá Tiago")
    await page.keyboard.press("Enter")
    await expect(page.locator(".msg-out", has_text="Olá Tiago")).to_have_count(1)
