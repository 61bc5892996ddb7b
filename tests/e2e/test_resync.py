"""When the server can no longer replay what a page missed (past the event log's retention), it
answers `resync`: the page reloads what it shows, and nothing the customer wrote is missing."""

from __future__ import annotations

from playwright.async_api import expect
from sqlalchemy import func, select

from inbox import models as m
from tests.e2e.support import E2E
from tests.support import notificame_message

expect.set_options(timeout=10_000)

# Keep one event per tenant: anything a page misses is gone from the log.
APP_SETTINGS = {"event_retention": 1}


async def test_resync_reloads_the_list_and_the_open_conversation(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()

    async def customer(text: str, sender: str, name: str) -> None:
        r = await e2e.app.post_webhook(ch, notificame_message(ch, text=text, sender=sender, name=name))
        assert r.status_code == 200, r.text

    await customer("Olá!", "5511988880008", "Gustavo Reis")
    page = await e2e.open(tenant.admin)
    await page.click("#tab-all")
    await page.locator(".conv-item", has_text="Gustavo Reis").click()
    await expect(page.locator(".msg-in .msg-text")).to_have_text(["Olá!"])
    await page.wait_for_function("window.__inbox && window.__inbox.realtime.state === 'online'")
    seen = await page.evaluate("window.__inbox.realtime.lastSeq")

    await e2e.proxy.cut()
    await customer("Vocês ainda estão aí?", "5511988880008", "Gustavo Reis")
    await customer("Quero fazer um pedido", "5511999990009", "Helena Dias")
    # Prune the log now, then make sure what the page missed is really gone before it comes back.
    e2e.app.runtime.wake("events-retention")
    ev = m.events.c
    for _ in range(100):
        async with e2e.app.runtime.engine.connect() as conn:
            first = (await conn.execute(select(func.min(ev.seq)).where(ev.tenant_id == tenant.id))).scalar()
        if first is not None and first > seen + 1:
            break
        await page.wait_for_timeout(50)
    assert first is not None and first > seen + 1
    await e2e.proxy.restore()

    await expect(page.locator(".msg-in .msg-text")).to_have_text(["Olá!", "Vocês ainda estão aí?"])
    await expect(page.locator(".conv-item", has_text="Helena Dias")).to_be_visible()
    await expect(page.locator(".banner")).to_be_hidden()
    assert await page.evaluate("window.__inbox.realtime.resyncs") == 1  # a reload, not a replay
