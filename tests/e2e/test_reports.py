"""Reports and the assignment history in a real Chromium (issue 17): the date range, the agents'
credit after a transfer, the heat map, a table's CSV, Portuguese labels, and the conversation's
history panel."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import expect

from tests.e2e.scene import conversation_of, reply, say, set_routing
from tests.e2e.support import E2E

expect.set_options(timeout=10_000)


async def test_reports_after_a_transfer(e2e: E2E, tmp_path: Path) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    lead = await tenant.agent(role="supervisor", name="Sofia Ramos")
    ana, bruno = await tenant.agent(name="Ana Lima"), await tenant.agent(name="Bruno Costa")
    ch = await tenant.channel()
    await say(e2e, ch, "5511900000201", "Paula Nunes", "Oi, preciso de ajuda")
    cid = await conversation_of(lead, "Paula Nunes")
    post = lead.http.post
    assert (await post(f"/api/conversations/{cid}/assign", json={"agent_id": ana.id})).status_code == 200
    assert (await post(f"/api/conversations/{cid}/transfer", json={"agent_id": bruno.id})).status_code == 200
    await reply(e2e, bruno, cid, "Olá Paula, já vejo isso")
    assert (await bruno.http.post(f"/api/conversations/{cid}/resolve")).status_code == 200

    page = await e2e.open(lead, "/#/supervisor")
    agents = page.locator("#reports [data-section=agent] tbody")
    b_row = agents.locator("tr", has_text="Bruno Costa")
    a_row = agents.locator("tr", has_text="Ana Lima")
    # Columns: assigned, first responses, FRT, resolved, resolution, handling, reassigned away.
    await expect(b_row.locator("td").nth(1)).to_have_text("1")
    await expect(b_row.locator("td").nth(3)).to_have_text("1")
    await expect(a_row.locator("td").nth(1)).to_have_text("0")
    await expect(a_row.locator("td").nth(6)).to_have_text("1")
    await expect(page.locator("#reports [data-tile=reassignment_rate] dd")).to_have_text("100%")
    await expect(page.locator("#heatmap td.heat-cell:not([data-n='0'])")).to_have_count(1)
    await page.locator("#reports").scroll_into_view_if_needed()
    await e2e.screenshot(page, "reports.png", tmp_path)

    # A table's CSV, with the range shown.
    async with page.expect_download() as info:
        await page.locator("#reports [data-csv=agent]").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    assert text.startswith("section,key,label,") and "Bruno Costa" in text

    # Another range: nothing then.
    await page.fill("#report-range input[name=from]", "2024-01-01")
    await page.fill("#report-range input[name=to]", "2024-01-07")
    await page.click("#report-range button[type=submit]")
    await expect(b_row.locator("td").nth(3)).to_have_text("0")
    await expect(page.locator("#heatmap td.heat-cell:not([data-n='0'])")).to_have_count(0)

    # The conversation's history, folded above the messages.
    page = await e2e.open(lead, f"/#/c/{cid}", lang="pt")
    await page.locator("#assign-history summary").click()
    entries = page.locator("#assign-history .assign-entry")
    await expect(entries).to_have_count(3)
    await expect(entries.nth(1)).to_contain_text("Transferência")
    await expect(entries.nth(1)).to_contain_text("Ana Lima → Bruno Costa")
    await expect(entries.nth(2)).to_contain_text("Resolvida")
    page = await e2e.open(lead, "/#/supervisor", lang="pt")
    await expect(page.locator("#reports h2")).to_have_text("Relatórios")
