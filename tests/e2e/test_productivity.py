"""Agent productivity in Chromium: `/` canned responses in the reply box (with files a supervisor
attached on the manage page, which go out with the reply to the provider), the label filter (updated
live by another agent's labelling), search and open at the message, a transfer arriving live at the
receiving agent's open browser."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.scene import conversation_of, say, set_routing
from tests.e2e.support import E2E

expect.set_options(timeout=10_000)

PUBLIC = "https://inbox.example.test"
# Uploaded files reach the provider as signed addresses on INBOX_PUBLIC_URL.
APP_SETTINGS = {"public_url": PUBLIC}


async def _online(page: object) -> None:
    await page.wait_for_function("window.__inbox && window.__inbox.realtime.state === 'online'")  # type: ignore[attr-defined]


async def test_slash_opens_canned_responses_and_fills_variables(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    agent = await tenant.agent(name="Ana Lima")
    for code, body in (
        ("horario", "Olá {{contact.first_name}}, abrimos das 8h às 18h. {{agent.name}}"),
        ("preco", "A limpeza custa R$ 150."),
        ("endereco", "Rua das Flores, 10."),
    ):
        r = await tenant.admin.http.post("/api/canned-responses", json={"short_code": code, "body": body})
        assert r.status_code == 201, r.text
    ch = await tenant.channel()
    await say(e2e, ch, "5511930000001", "Marina Costa", "Que horas vocês abrem?")
    conv_id = await conversation_of(tenant.admin, "Marina Costa")
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/assign", json={"agent_id": agent.id})
    page = await e2e.open(agent, f"/#/c/{conv_id}")
    box = page.locator(".reply-input")
    await expect(page.locator(".msg-in", has_text="Que horas")).to_be_visible()

    await box.focus()
    await page.keyboard.type("/")
    listbox = page.locator(".canned-list")
    await expect(listbox).to_be_visible()
    await expect(listbox.locator("[role=option]")).to_have_count(3)
    await page.keyboard.type("re")  # filters by code or text: endereco and preco
    await expect(listbox.locator("[role=option]")).to_have_count(2)
    await expect(listbox.locator("[role=option]").first).to_have_attribute("data-code", "endereco")
    await page.keyboard.press("ArrowDown")
    await expect(listbox.locator("[role=option][aria-selected=true]")).to_have_attribute("data-code", "preco")
    await page.keyboard.press("Enter")
    await expect(listbox).to_be_hidden()
    await expect(box).to_have_value("A limpeza custa R$ 150.")

    # `/short_code` + Tab expands, with the conversation's variables filled.
    await box.fill("")
    await page.keyboard.type("Oi! /horario")
    await page.keyboard.press("Tab")
    await expect(box).to_have_value("Oi! Olá Marina, abrimos das 8h às 18h. Ana Lima")
    await expect(box).to_be_focused()

    # Esc closes the list; Enter then sends what is typed.
    await box.fill("")
    await page.keyboard.type("/pre")
    await expect(listbox).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(listbox).to_be_hidden()
    await page.keyboard.press("Enter")
    await expect(page.locator(".msg-out", has_text="/pre")).to_have_count(1)


async def test_a_canned_response_brings_its_files_into_the_reply(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    sup = await tenant.agent(name="Sara Nunes", role="supervisor")
    agent = await tenant.agent(name="Ana Lima")

    # The supervisor attaches a file on the manage page (Portuguese, dark): uploaded, then saved.
    manage = await e2e.open(sup, "/#/manage", lang="pt", theme="dark")
    await expect(manage.locator("[data-action=canned-attach]")).to_have_text("Adicionar arquivos")
    await manage.fill("#canned-code", "cardapio")
    await manage.fill("#canned-body", "Olá {{contact.first_name}}, segue o cardápio.")
    await manage.set_input_files(
        "#canned-files",
        files=[{"name": "Cardápio.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 menu"}],
    )
    await expect(manage.locator(".manage .composer-file[data-file-status=ready]")).to_have_count(1)
    await manage.click("[data-action=canned-save]")
    row = manage.locator("tr[data-code=cardapio]")
    await expect(row.locator("[data-files]")).to_contain_text("Cardápio.pdf")
    await expect(manage.locator(".manage .composer-file")).to_have_count(0)  # the form is cleared
    (item,) = (await agent.http.get("/api/canned-responses")).json()["items"]
    assert [a["name"] for a in item["attachments"]] == ["Cardápio.pdf"]

    # The agent picks it with `/`: the text with its variables, the file ready to go, sent together.
    ch = await tenant.channel()
    await say(e2e, ch, "5511930000041", "Marina Costa", "Tem o cardápio?")
    conv_id = await conversation_of(tenant.admin, "Marina Costa")
    r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/assign", json={"agent_id": agent.id})
    assert r.status_code == 200, r.text
    page = await e2e.open(agent, f"/#/c/{conv_id}")
    await _online(page)
    await expect(page.locator(".msg-in", has_text="Tem o cardápio?")).to_be_visible()
    box = page.locator(".reply-input")
    await box.focus()
    await page.keyboard.type("/card")
    option = page.locator(".canned-list [role=option][data-code=cardapio]")
    await expect(option.locator(".canned-files")).to_have_text("1")
    await page.keyboard.press("Enter")
    await expect(box).to_have_value("Olá Marina, segue o cardápio.")
    ready = page.locator(".composer .composer-file[data-file-status=ready]")
    await expect(ready).to_have_count(1)
    await expect(ready).to_contain_text("Cardápio.pdf")
    await page.keyboard.press("Enter")

    bubble = page.locator(".msg-out", has_text="Olá Marina, segue o cardápio.")
    await expect(bubble.locator(".att-file")).to_contain_text("Cardápio.pdf")
    await expect(page.locator(".composer .composer-file")).to_have_count(0)
    # The provider got the file as a signed address it can fetch without a login, the text as its caption.
    sent = (await e2e.fake.wait_for(1, within=10))[-1].json
    (content,) = sent["contents"]
    assert content["type"] == "file" and content["fileCaption"] == "Olá Marina, segue o cardápio."
    assert content["fileMimeType"] == "application/pdf" and content["fileUrl"].startswith(f"{PUBLIC}/media/")
    urls = [content["fileUrl"]]
    got = await e2e.app.http.get(urls[0].removeprefix(PUBLIC))
    assert got.status_code == 200 and got.content == b"%PDF-1.4 menu"


async def test_label_filter_follows_other_agents_live(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    colleague = await tenant.agent(name="Bruno")
    for name, color in (("vip", "#7c3aed"), ("orçamento", "#d97706")):
        assert (
            await tenant.admin.http.post("/api/labels", json={"name": name, "color": color})
        ).status_code == 201
    ch = await tenant.channel()
    for i, name in enumerate(("Helena Dias", "Igor Nunes", "Júlia Reis")):
        await say(e2e, ch, f"551193000001{i}", name, "Bom dia")
    helena = await conversation_of(tenant.admin, "Helena Dias")
    igor = await conversation_of(tenant.admin, "Igor Nunes")
    await tenant.admin.http.post(f"/api/conversations/{helena}/labels", json={"labels": ["vip"]})

    page = await e2e.open(tenant.admin)
    await _online(page)
    await page.click("#tab-all")
    rows = page.locator(".conv-item")
    await expect(rows).to_have_count(3)
    await expect(page.locator(".conv-item", has_text="Helena Dias").locator(".label-chip")).to_have_text(
        "vip"
    )
    await page.select_option("#label-filter", "vip")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Helena Dias")

    # Another agent labels Igor: he joins the filtered list live, no reload.
    r = await colleague.http.post(f"/api/conversations/{igor}/labels", json={"labels": ["vip", "orçamento"]})
    assert r.status_code == 200, r.text
    await expect(rows).to_have_count(2)
    await expect(page.locator(".conv-item", has_text="Igor Nunes").locator(".label-chip")).to_have_count(2)
    # ...and leaves it when the label comes off.
    await colleague.http.post(f"/api/conversations/{helena}/labels", json={"labels": []})
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Igor Nunes")

    # Labelling from the header's picker.
    await page.select_option("#label-filter", "")
    await page.locator(".conv-item", has_text="Júlia Reis").click()
    await page.click("summary[data-action=labels]")
    await page.get_by_label("orçamento").check()
    await expect(page.locator(".conv-header [data-conv-labels] .label-chip")).to_have_text("orçamento")
    await expect(page.get_by_label("orçamento")).to_be_checked()  # the picker stays open
    julia = await conversation_of(tenant.admin, "Júlia Reis")
    one = (await tenant.admin.http.get(f"/api/conversations/{julia}")).json()
    assert [x["name"] for x in one["labels"]] == ["orçamento"]


async def test_search_and_open_at_the_message(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await say(e2e, ch, "5511930000021", "Kátia Mendes", "Olá, tudo bem?")
    for i in range(30):  # enough to push the match out of view
        await say(e2e, ch, "5511930000021", "Kátia Mendes", f"mensagem de enchimento {i}")
    await say(e2e, ch, "5511930000021", "Kátia Mendes", "depois de tudo isso, quero remarcar")
    await say(e2e, ch, "5511930000022", "Lucas Prado", "Vocês fazem clareamento?")
    conv_id = await conversation_of(tenant.admin, "Kátia Mendes")
    first_id = (await tenant.admin.http.get(f"/api/conversations/{conv_id}/messages")).json()["items"][0][
        "id"
    ]

    page = await e2e.open(tenant.admin)
    await _online(page)
    await page.fill("#search-input", "TUDO BEM")
    await page.press("#search-input", "Enter")
    await expect(page.locator("#search-title")).to_contain_text("TUDO BEM")
    hits = page.locator(".search-hit[data-message-id]")
    await expect(hits).to_have_count(1)
    await expect(hits.first.locator("mark")).to_have_text("tudo bem")
    await hits.first.click()
    await expect(page.locator(".conv-header .conv-name")).to_have_text("Kátia Mendes")
    focused = page.locator(f".msg-focus[data-id='{first_id}']")
    await expect(focused).to_contain_text("Olá, tudo bem?")
    await expect(focused).to_be_in_viewport()

    # Contacts by phone, and an operator-laden query is just text (no results, no error).
    await page.fill("#search-input", '"clareamento" OR *')
    await page.press("#search-input", "Enter")
    await expect(page.locator(".search-status")).to_have_text("Nothing found.")
    await page.fill("#search-input", "930000022")
    await page.press("#search-input", "Enter")
    contact = page.locator(".search-hit[data-contact-id]")
    await expect(contact).to_have_count(1)
    await contact.click()
    await expect(page.locator(".conv-header .conv-name")).to_have_text("Lucas Prado")


async def test_transfer_arrives_live_at_the_other_agent(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    await set_routing(e2e, tenant, auto_assign=False)
    ana = await tenant.agent(name="Ana Souza")
    bruno = await tenant.agent(name="Bruno Alves")
    ch = await tenant.channel()
    await say(e2e, ch, "5511930000031", "Marcos Vieira", "Quero negociar o valor")
    conv_id = await conversation_of(tenant.admin, "Marcos Vieira")
    await tenant.admin.http.post(f"/api/conversations/{conv_id}/assign", json={"agent_id": ana.id})

    receiver = await e2e.open(bruno)  # Bruno's inbox, on "Mine", before anything is his
    await _online(receiver)
    await expect(receiver.locator(".conv-item", has_text="Marcos Vieira")).to_have_count(0)

    sender = await e2e.open(ana, f"/#/c/{conv_id}")
    await _online(sender)
    await sender.click("summary[data-action=transfer]")
    await sender.select_option(f"#transfer-agent-{conv_id}", label="Bruno Alves · Offline")
    await sender.fill(f"#transfer-note-{conv_id}", "Cliente quer desconto")
    await sender.click("[data-action=transfer-go]")
    # It is Bruno's now: it leaves Ana's list (she may no longer read it).
    await expect(sender.locator(".conv-item", has_text="Marcos Vieira")).to_have_count(0)

    arrived = receiver.locator(".conv-item", has_text="Marcos Vieira")
    await expect(arrived).to_have_count(1)  # live: Bruno's page was never reloaded
    await arrived.click()
    note = receiver.locator(".msg-system", has_text="Transferred to Bruno Alves by Ana Souza")
    await expect(note).to_contain_text("Cliente quer desconto")


async def test_a_draft_survives_a_reload(e2e: E2E) -> None:
    tenant = await e2e.app.tenant()
    ch = await tenant.channel()
    await say(e2e, ch, "5511930000041", "Nina Campos", "Oi")
    await say(e2e, ch, "5511930000042", "Otto Lima", "Oi")
    nina = await conversation_of(tenant.admin, "Nina Campos")
    otto = await conversation_of(tenant.admin, "Otto Lima")
    page = await e2e.open(tenant.admin, f"/#/c/{nina}")
    await page.locator(".reply-input").fill("Nina, seu exame ficou pronto")
    await page.goto(f"{e2e.url}/#/c/{otto}")
    await page.locator(".reply-input").fill("Otto, rascunho")
    await page.reload()
    await expect(page.locator(".reply-input")).to_have_value("Otto, rascunho")
    await page.goto(f"{e2e.url}/#/c/{nina}")
    await expect(page.locator(".reply-input")).to_have_value("Nina, seu exame ficou pronto")
    # Sent: the draft is gone, also after a reload.
    await page.press(".reply-input", "Enter")
    await expect(page.locator(".msg-out", has_text="seu exame ficou pronto")).to_have_count(1)
    await page.reload()
    await expect(page.locator(".conv-header .conv-name")).to_have_text("Nina Campos")
    await expect(page.locator(".reply-input")).to_have_value("")
