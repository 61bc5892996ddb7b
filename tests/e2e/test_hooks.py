"""The webhooks admin page in a real Chromium: an admin subscribes a local receiver, sees the secret
once, a customer's message reaches the receiver signed with that secret, the page lists the delivery,
and disabling shows on the row."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.support import E2E
from tests.fakes.receiver import receiver_app, verify
from tests.fakes.serve import serve
from tests.support import notificame_message

expect.set_options(timeout=15_000)


async def test_subscribe_a_crm_and_see_its_deliveries(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    asgi, rec = receiver_app()
    async with serve(asgi) as url:
        page = await e2e.open(tenant.admin, "/#/admin/webhooks")
        await page.get_by_label("URL").fill(url + "/crm")
        await expect(page.get_by_label("message.created")).to_be_checked()
        await page.get_by_label("message.updated").check()
        await page.locator("#hook-create").click()
        secret = page.locator("#hook-secret")
        await expect(secret).to_contain_text("whsec_")
        shown = (await secret.text_content() or "").strip()
        row = page.locator("#hooks-table tbody tr[data-hook]")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text(url + "/crm")
        await expect(row).to_contain_text("message.updated")

        r = await e2e.app.post_webhook(ch, notificame_message(ch, text="Quero agendar"))
        assert r.status_code == 200
        got = await rec.wait_for(2, within=20)  # conversation.created, then message.created
        assert [g.json["type"] for g in got[:2]] == ["conversation.created", "message.created"]
        assert all(verify(shown, g) for g in got)

        await page.reload()  # the secret is not shown again
        await expect(page.locator("#hooks-table tbody tr[data-hook]")).to_have_count(1)
        assert shown not in await page.content()
        await page.locator("[data-action=deliveries]").click()
        attempt = page.locator(".hook-attempts tr[data-outcome=delivered]").first
        await expect(attempt).to_contain_text("delivered (200)")
        await page.locator("[data-action=toggle]").click()
        await expect(page.locator("#hooks-table tbody tr[data-hook]")).to_contain_text("disabled by an admin")
