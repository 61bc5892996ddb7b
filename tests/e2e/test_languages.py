"""Server texts in the agent's language, in a real Chromium (issue 17 item 3): a system message and an
API error shown in Portuguese, then in English after switching the language in the top bar (the
system message already on screen re-rendered from its code, not fetched again in another language)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.support import E2E
from tests.support import notificame_message

expect.set_options(timeout=10_000)


async def test_a_system_message_and_an_error_in_portuguese_then_english(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    admin_name = tenant.admin.data["name"]
    ch = await tenant.channel()
    sender = "5511933330003"
    r = await e2e.app.post_webhook(ch, notificame_message(ch, text="Oi", sender=sender, name="Rita Alves"))
    assert r.status_code == 200, r.text
    first = (await tenant.admin.http.get("/api/conversations")).json()["items"][0]["id"]
    assert (await tenant.admin.http.post(f"/api/conversations/{first}/resolve")).status_code == 200
    # The customer writes again: a new conversation opens, so the resolved one cannot be reopened.
    r = await e2e.app.post_webhook(
        ch, notificame_message(ch, text="Voltei", sender=sender, name="Rita Alves")
    )
    assert r.status_code == 200, r.text

    page = await e2e.open(tenant.admin, f"/#/c/{first}", lang="pt")
    line = page.locator(".msg-system-text")
    await expect(line).to_contain_text(f"Resolvida por {admin_name}")
    error = page.locator(".conv-error")
    await page.click("[data-action=reopen]")
    await expect(error).to_have_text("Não foi possível: Este contato já tem uma conversa aberta neste canal.")
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")

    await page.locator(".pref-lang select").first.select_option("en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(line).to_contain_text(f"Resolved by {admin_name}")
    await page.click("[data-action=reopen]")
    # The UI's own words for the code (the server's `error` reads "this contact ... (id N)").
    await expect(error).to_have_text(
        "Could not do that: This contact already has an open conversation on this channel."
    )

    # Back to Portuguese: the same line, rendered again from its code.
    await page.locator(".pref-lang select").first.select_option("pt")
    await expect(line).to_contain_text(f"Resolvida por {admin_name}")


# Durations, sizes, times and error parameters as the page's own modules format them (the same
# module instances the app uses, so the language switch applies).
FORMATS = """async () => {
  const fmt = await import("/js/format.js");
  const i18n = await import("/js/i18n.js");
  const out = {};
  for (const lang of ["pt", "en"]) {
    i18n.setLang(lang);
    out[lang] = [
      fmt.duration(3 * 3600 + 59 * 60),
      fmt.duration(45),
      fmt.bytes(1.5 * 1024 * 1024),
      fmt.number(1234.5),
      fmt.errorText("upload_too_large", { max_bytes: 64 * 1024 }, "this file is over 64 KB"),
      fmt.serverText({ code: "conversation.snoozed", params: { until: "2026-12-03T12:00Z", by: "Ana" } }, ""),
      fmt.serverText({ code: "some.future_code", params: {} }, "Something new"),
    ];
  }
  return out;
}"""


async def test_numbers_durations_and_times_follow_the_language(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    page = await e2e.open(tenant.admin, lang="pt")
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    got = await page.evaluate(FORMATS)
    # Times in the browser's zone: noon UTC is December 3rd in any zone within 11 hours.
    assert got["pt"][:5] == [
        "3 h 59 min",
        "45 s",
        "1,5 MB",
        "1.234,5",
        "Este arquivo é grande demais: no máximo 64 kB.",
    ]
    assert got["pt"][5].startswith("Adiada até 3 de dez. de 2026") and got["pt"][5].endswith("por Ana")
    assert got["en"][:5] == ["3h 59m", "45s", "1.5 MB", "1,234.5", "this file is over 64 KB"]
    assert got["en"][5].startswith("Snoozed until Dec 3, 2026") and got["en"][5].endswith("by Ana")
    # A code this page does not know yet (a newer server): the server's English text.
    assert got["pt"][6] == got["en"][6] == "Something new"
