"""Search: messages and contacts of the tenant, newest first, paginated; each role finds exactly what
it may read; anything typed (LIKE wildcards, quotes, FTS5 operators) is searched as text."""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update

from inbox import models as m
from tests.inbox.api.productivity_support import conversation, queue
from tests.support import Agent, App


async def _search(agent: Agent, q: str, **params: str) -> dict[str, Any]:
    r = await agent.http.get("/api/search", params={"q": q, **params})
    assert r.status_code == 200, (q, r.text)
    data: dict[str, Any] = r.json()
    return data


async def _note(agent: Agent, conv: int, body: str) -> int:
    r = await agent.http.post(f"/api/conversations/{conv}/messages", json={"text": body, "private": True})
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


async def test_messages_and_contacts_newest_first_paginated(app: App) -> None:
    t = await app.tenant()
    ch = await t.channel()
    conv = await conversation(
        app, ch, text="Quero marcar uma limpeza", name="Joana Prado", sender="5511987650001"
    )
    ids = [await _note(t.admin, conv, f"limpeza número {i}") for i in range(5)]
    await app.searchable()
    data = await _search(t.admin, "LIMPEZA", limit="2")
    assert [x["id"] for x in data["messages"]] == ids[::-1][:2]
    assert data["messages"][0]["conversation"]["id"] == conv
    assert data["messages"][0]["conversation"]["contact"]["name"] == "Joana Prado"
    seen = [x["id"] for x in data["messages"]]
    while data["next_cursor"]:
        data = await _search(t.admin, "limpeza", limit="2", cursor=data["next_cursor"])
        assert data["contacts"] == []  # contacts come with the first page
        seen += [x["id"] for x in data["messages"]]
    assert len(seen) == 6 and len(set(seen)) == 6 and seen[:5] == ids[::-1]

    # Contacts by name, by phone (as typed by a person), with the conversation a result opens.
    for q in ("joana", "Prado", "98765", "+55 (11) 98765-0001"):
        contacts = (await _search(t.admin, q))["contacts"]
        assert [c["name"] for c in contacts] == ["Joana Prado"], q
        assert contacts[0]["conversation_id"] == conv
        assert contacts[0]["identities"][0]["external_id"] == "5511987650001"
    assert (await _search(t.admin, "ninguém"))["contacts"] == []

    # By the e-mail kept on the contact (the panel's field), in any case, whole or in part.
    contact_id = contacts[0]["id"]
    r = await t.admin.http.patch(f"/api/contacts/{contact_id}", json={"email": "Joana.Prado@Clinica.com.br"})
    assert r.status_code == 200, r.text
    for q in ("joana.prado@clinica.com.br", "CLINICA.COM", "@cl"):
        assert [c["id"] for c in (await _search(t.admin, q))["contacts"]] == [contact_id], q
    assert (await _search(t.admin, "prado@outra.com"))["contacts"] == []
    # Only what the principal may read: an agent of another queue does not find it by e-mail.
    member, outsider = await t.agent(name="Rita"), await t.agent(name="Otto")
    recepcao = await queue(t, "Recepção", member.id)
    r = await t.admin.http.post(f"/api/conversations/{conv}/transfer", json={"queue_id": recepcao})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in (await _search(member, "clinica.com"))["contacts"]] == [contact_id]
    assert (await _search(outsider, "clinica.com"))["contacts"] == []


async def test_bad_queries_are_clear_4xx(app: App) -> None:
    t = await app.tenant()
    for params, field in (
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a", "limit": "0"}, "limit"),
    ):
        r = await t.admin.http.get("/api/search", params=params)
        assert r.status_code == 400 and r.json()["error"].startswith(field), (params, r.text)
    r = await t.admin.http.get("/api/search", params={"q": "a", "cursor": "abc"})
    assert r.status_code == 400 and "cursor" in r.json()["error"]
    assert (await app.http.get("/api/search", params={"q": "a"})).status_code == 401


async def test_each_role_finds_what_it_may_read(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    sup = await t.agent(role="supervisor")
    ana, bia, caio = await t.agent(name="Ana"), await t.agent(name="Bia"), await t.agent(name="Caio")
    vendas = await queue(t, "Vendas", bia.id)
    ch = await t.channel()
    anas = await conversation(app, ch, text="orçamento da Ana", name="Cliente Ana")
    await t.admin.http.post(f"/api/conversations/{anas}/assign", json={"agent_id": ana.id})
    queued = await conversation(app, ch, text="orçamento na fila de vendas", name="Cliente Fila")
    await t.admin.http.post(f"/api/conversations/{queued}/transfer", json={"queue_id": vendas})
    open_ = await conversation(app, ch, text="orçamento sem fila", name="Cliente Livre")
    theirs = await conversation(
        app, await other.channel(), text="orçamento de outro tenant", name="Cliente Outro"
    )
    await app.searchable()

    async def found(agent: Agent) -> tuple[set[int], set[str]]:
        data = await _search(agent, "orçamento")
        return {x["conversation"]["id"] for x in data["messages"]}, {
            c["name"] for c in (await _search(agent, "Cliente"))["contacts"]
        }

    everyone = ({anas, queued, open_}, {"Cliente Ana", "Cliente Fila", "Cliente Livre"})
    assert await found(t.admin) == everyone
    assert await found(sup) == everyone
    # Agents: their own, and unassigned ones in their queues (no queue counts as every queue).
    assert await found(ana) == ({anas, open_}, {"Cliente Ana", "Cliente Livre"})
    assert await found(bia) == ({queued, open_}, {"Cliente Fila", "Cliente Livre"})
    assert await found(caio) == ({open_}, {"Cliente Livre"})
    # The other tenant finds only its own.
    other_admin_found = await _search(other.admin, "orçamento")
    assert {x["conversation"]["id"] for x in other_admin_found["messages"]} == {theirs}


async def test_accents_and_case(app: App) -> None:
    t = await app.tenant()
    conv = await conversation(app, await t.channel(), text="Consulta às TERÇAS com o Dr. João")
    await app.searchable()
    assert len((await _search(t.admin, "terças com"))["messages"]) == 1
    assert len((await _search(t.admin, "às"))["messages"]) == 1  # short: no trigram, still found
    dialect = app.runtime.engine.dialect.name
    if dialect == "postgresql":
        async with app.runtime.engine.connect() as conn:
            unaccent = (
                await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'unaccent'"))
            ).first()
        if unaccent:
            assert [x["conversation"]["id"] for x in (await _search(t.admin, "joao"))["messages"]] == [conv]
    # An unsent message (text cleared) stops matching: the index follows the row.
    assert len((await _search(t.admin, "dr. joão"))["messages"]) == 1
    async with app.runtime.uow() as uow:
        msg = m.messages.c
        await uow.conn.execute(
            update(m.messages).where(msg.conversation_id == conv).values(text=None, deleted=True)
        )
    assert (await _search(t.admin, "dr. joão"))["messages"] == []


async def test_short_queries(app: App) -> None:
    """One or two characters: no trigram index can narrow them (each dialect reads rows instead),
    still the same matching rule, for messages and contacts, paginated newest first."""
    t = await app.tenant()
    ch = await t.channel()
    conv = await conversation(app, ch, text="Oi, sou o Zé", name="Zé Ávila", sender="5511900004321")
    await conversation(app, ch, text="Outra pessoa", name="Maria Souza", sender="5511900001111")
    ids = [await _note(t.admin, conv, f"Zé {i}") for i in range(3)]
    data = await _search(t.admin, "zé", limit="2")
    assert [c["name"] for c in data["contacts"]] == ["Zé Ávila"]
    assert [x["id"] for x in data["messages"]] == ids[::-1][:2]
    data = await _search(t.admin, "zé", limit="2", cursor=data["next_cursor"])
    assert len(data["messages"]) == 2 and data["next_cursor"] is None  # the last note, the customer's
    assert [c["name"] for c in (await _search(t.admin, "43"))["contacts"]] == ["Zé Ávila"]  # identity
    async with app.runtime.engine.connect() as conn:
        unaccent = (
            app.runtime.engine.dialect.name == "postgresql"
            and (await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'unaccent'"))).first()
        )
    if unaccent:
        assert [c["name"] for c in (await _search(t.admin, "ZE"))["contacts"]] == ["Zé Ávila"]
        assert [c["name"] for c in (await _search(t.admin, "av"))["contacts"]] == ["Zé Ávila"]


_tenant_conv: dict[str, tuple[Agent, int]] = {}

TOKENS = st.sampled_from(
    ['"', "'", "*", "-", "+", "%", "_", "\\", "NEAR", "OR", "AND", "NOT", "(", ")", ":", "^", "{", "}",
     "NEAR(a b)", "a", "ção", "x", "42", " ", "%_%", "''", '""', "\\%", "col:", "*a", "a*"]
)  # fmt: skip


def _folded(text: str) -> str:
    """Case and accents folded, as the search compares at most."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(TOKENS, min_size=1, max_size=6))
# Always, whatever hypothesis draws: each LIKE wildcard, each quote, FTS5's operators and syntax.
@example(parts=["%"])
@example(parts=["_"])
@example(parts=["'"])
@example(parts=['"'])
@example(parts=["\\%"])
@example(parts=["a", " ", "OR", " ", "NOT", " ", "a"])
@example(parts=["NEAR(a b)"])
@example(parts=["*a", " ", "col:", "^", "(", ")"])
async def test_operators_are_searched_as_text(app: App, parts: list[str]) -> None:
    key = app.base_url
    if key not in _tenant_conv:
        t = await app.tenant("Search fuzz")
        _tenant_conv[key] = (t.admin, await conversation(app, await t.channel()))
    admin, conv = _tenant_conv[key]
    q = "".join(parts)
    mid = await _note(admin, conv, f"antes {q} depois")
    await app.searchable()
    r = await admin.http.get("/api/search", params={"q": q, "limit": "100"})
    if not q.strip():
        assert r.status_code == 400
        return
    assert r.status_code == 200, (q, r.text)
    ids = [x["id"] for x in r.json()["messages"]]
    assert mid in ids, q
    # Every result really contains the query (nothing matched as a wildcard or an operator); on
    # PostgreSQL with `unaccent` the match ignores accents too ("a" finds "Olá").
    for x in r.json()["messages"]:
        assert _folded(q.strip()) in _folded(x["text"]), (q, x["text"])


async def test_contacts_by_the_phone_on_their_profile(app: App) -> None:
    """The phone field of the contact (free text, as a person typed it), not only its identities:
    found by its digits however either side writes them, within what the principal may read."""
    t, other = await app.tenant(), await app.tenant()
    ch = await t.channel()
    conv = await conversation(app, ch, text="Oi", name="Lia Souza", sender="lia.souza.insta")
    contact_id = (await _search(t.admin, "Lia Souza"))["contacts"][0]["id"]
    assert (await _search(t.admin, "91234"))["contacts"] == []
    r = await t.admin.http.patch(f"/api/contacts/{contact_id}", json={"phone": "+55 (11) 91234-5678"})
    assert r.status_code == 200, r.text
    for q in ("91234", "1191234-5678", "+55 11 91234 5678", "(11) 91234.5678", "5511912345678"):
        assert [c["id"] for c in (await _search(t.admin, q))["contacts"]] == [contact_id], q
    # Fewer than 4 digits, or digits the phone does not hold in a row: not a phone search.
    for q in ("912", "5678 91234", "11-0000"):
        assert (await _search(t.admin, q))["contacts"] == [], q
    # Another tenant's contact with the same phone stays theirs; and each finds only its own.
    await conversation(app, await other.channel(), text="Oi", name="Outra Lia", sender="outra.lia")
    other_id = (await _search(other.admin, "Outra Lia"))["contacts"][0]["id"]
    r = await other.admin.http.patch(f"/api/contacts/{other_id}", json={"phone": "11 91234 5678"})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in (await _search(t.admin, "91234-5678"))["contacts"]] == [contact_id]
    assert [c["id"] for c in (await _search(other.admin, "91234-5678"))["contacts"]] == [other_id]
    # Visibility: an agent of the conversation's queue finds the contact by phone, another does not.
    member, outsider = await t.agent(name="Rita"), await t.agent(name="Otto")
    recepcao = await queue(t, "Recepção", member.id)
    r = await t.admin.http.post(f"/api/conversations/{conv}/transfer", json={"queue_id": recepcao})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in (await _search(member, "91234 5678"))["contacts"]] == [contact_id]
    assert (await _search(outsider, "91234 5678"))["contacts"] == []
