"""The supervisor view in a real Chromium: figures that move while it is watched, and its screenshot."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.e2e.scene import build, conversation_of, say, set_routing
from tests.e2e.support import E2E

expect.set_options(timeout=10_000)


async def test_supervisor_figures_change_live(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)  # conversations stay queued: known figures
    supervisor = await tenant.agent(role="supervisor", name="Sofia Ramos")
    agent = await tenant.agent(name="Ana Lima", capacity=4)
    ch = await tenant.channel()
    page = await e2e.open(supervisor, "/#/supervisor")
    waiting = page.locator("[data-kpi=waiting] .kpi-value")
    today = page.locator("[data-kpi=conversations] .kpi-value")
    await expect(waiting).to_have_text("0")
    await expect(today).to_have_text("0")
    ana = page.locator(f"#agents-table tr[data-agent='{agent.id}']")
    await expect(ana).to_contain_text("Offline")
    await page.evaluate("window.__sameDocument = true")

    await say(e2e, ch, "5511900000101", "Paula Nunes", "Oi, preciso de ajuda")
    await say(e2e, ch, "5511900000102", "Rui Barros", "Quanto custa o frete?")
    await expect(waiting).to_have_text("2")
    await expect(today).to_have_text("2")
    await expect(page.locator("#queues-table")).to_contain_text("2")

    r = await agent.http.put("/api/agents/me/status", json={"status": "online"})
    assert r.status_code == 200, r.text
    await expect(ana).to_contain_text("Online")
    cid = await conversation_of(supervisor, "Paula Nunes")
    r = await supervisor.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": agent.id})
    assert r.status_code == 200, r.text
    await expect(waiting).to_have_text("1")
    await expect(ana.locator(".load-text")).to_have_text("1/4")
    assert await page.evaluate("window.__sameDocument") is True


async def test_supervisor_screenshot(e2e: E2E, tmp_path: Path) -> None:
    scene = await build(e2e, history=True)
    ana, bruno, sofia = scene.agents
    for agent, status in ((ana, "online"), (bruno, "online"), (sofia, "away"), (scene.lead, "online")):
        r = await agent.http.put("/api/agents/me/status", json={"status": status})
        assert r.status_code == 200, r.text
    page = await e2e.open(scene.lead, "/#/supervisor")
    await expect(page.locator("[data-kpi=waiting] .kpi-value")).to_have_text("2")
    # Beatriz has waited 21 minutes against a 15-minute first-response target.
    await expect(page.locator("#breaches .breach")).to_have_count(1)
    await expect(page.locator("#breaches")).to_contain_text("Beatriz Santos")
    await expect(page.locator("#queues-table tr.row-breached")).to_have_count(1)
    await expect(page.locator(".chart .chart-line")).to_have_count(1)
    shot = await e2e.screenshot(page, "supervisor.png", tmp_path)
    assert shot.stat().st_size > 10_000
