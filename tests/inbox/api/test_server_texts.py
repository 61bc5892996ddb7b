"""Server texts in the agent's language, on both databases: every system message carries its
`text_code` (`{"code", "params"}`) beside its English `text`, live and when listed; customers'
messages carry none; an erased contact's system lines keep no code; every error answer carries a
stable `code` (Starlette's own 404 and 405 on the API's paths too)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from inbox import models as m
from tests.inbox.api.productivity_support import conversation, queue
from tests.inbox.realtime.client import WsClient, wait_until
from tests.support import App


async def _system(app: App, http: Any, conv: int) -> list[dict[str, Any]]:
    r = await http.get(f"/api/conversations/{conv}/messages")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert all(x["text_code"] is None for x in items if x["sender"]["type"] != "system")
    return [x for x in items if x["sender"]["type"] == "system"]


async def test_system_messages_carry_their_code_beside_the_english_text(app: App) -> None:
    t = await app.tenant()
    ana, bruno = await t.agent(name="Ana"), await t.agent(name="Bruno")
    vendas = await queue(t, "Vendas", bruno.id)
    ch = await t.channel()
    cid = await conversation(app, ch, name="Cecília")
    assert (
        await ana.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": ana.id})
    ).status_code == 200
    r = await ana.http.post(
        f"/api/conversations/{cid}/transfer", json={"agent_id": bruno.id, "queue_id": vendas, "note": "{vip}"}
    )
    assert r.status_code == 200, r.text
    until = (m.utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)
    r = await bruno.http.post(f"/api/conversations/{cid}/snooze", json={"until": until.isoformat()})
    assert r.status_code == 200, r.text

    ws = WsClient(app, bruno.token)
    await ws.connect()
    await ws.ready()
    try:
        assert (await bruno.http.post(f"/api/conversations/{cid}/resolve")).status_code == 200

        def created() -> list[dict[str, Any]]:
            return [e["data"] for e in ws.of_type("message.created") if e["data"]["conversation_id"] == cid]

        await wait_until(lambda: bool(created()), what="the resolve line, live")
        assert created()[-1]["text_code"] == {"code": "conversation.resolved", "params": {"by": "Bruno"}}
    finally:
        await ws.close()

    stamp = until.isoformat(timespec="minutes").replace("+00:00", "Z")
    lines = [(x["text"], x["text_code"]) for x in await _system(app, bruno.http, cid)]
    assert lines == [
        ("Assigned to Ana", {"code": "conversation.assigned", "params": {"name": "Ana"}}),
        (
            "Transferred to Bruno and queue Vendas by Ana: {vip}",
            {
                "code": "conversation.transferred_note",
                "params": {
                    "target": {
                        "code": "transfer.agent_queue",
                        "params": {"name": "Bruno", "queue": "Vendas"},
                    },
                    "by": "Ana",
                    "note": "{vip}",
                },
            },
        ),
        (
            f"Snoozed until {stamp} by Bruno",
            {"code": "conversation.snoozed", "params": {"until": stamp, "by": "Bruno"}},
        ),
        ("Resolved by Bruno", {"code": "conversation.resolved", "params": {"by": "Bruno"}}),
    ]


async def test_a_handoff_line_nests_its_reason(app: App) -> None:
    t = await app.tenant()
    ana = await t.agent(name="Ana")
    cid = await conversation(app, await t.channel(bot=True), name="Davi")
    r = await ana.http.post(f"/api/conversations/{cid}/handoff", json={})
    assert r.status_code == 200 and r.json()["handoff_reason"] == "requested by Ana", r.text
    [line] = await _system(app, ana.http, cid)
    assert line["text"] == "Handed to a human: requested by Ana"
    assert line["text_code"] == {
        "code": "conversation.handed_off",
        "params": {"reason": {"code": "handoff.requested", "params": {"by": "Ana"}}},
    }
    # A reason typed by the agent is their own words, kept as they are.
    cid = await conversation(app, await t.channel(bot=True), name="Eva")
    assert (
        await ana.http.post(f"/api/conversations/{cid}/handoff", json={"reason": "quer desconto"})
    ).status_code == 200
    [line] = await _system(app, ana.http, cid)
    assert line["text_code"] == {"code": "conversation.handed_off", "params": {"reason": "quer desconto"}}


async def test_an_erasure_leaves_no_code_with_the_erased_words(app: App) -> None:
    t = await app.tenant()
    ana = await t.agent(name="Ana")
    cid = await conversation(app, await t.channel(), name="Fábio")
    secret = f"CPF {secrets.randbelow(10**11):011d}"
    r = await ana.http.post(f"/api/conversations/{cid}/transfer", json={"agent_id": ana.id, "note": secret})
    assert r.status_code == 200, r.text
    contact_id = r.json()["contact"]["id"]
    assert (
        await t.admin.http.post(f"/api/contacts/{contact_id}/erase", json={"confirm": True})
    ).status_code == 200
    lines = await _system(app, t.admin.http, cid)
    assert secret not in repr(lines)
    assert lines[-1]["text_code"] == {"code": "contact.erased", "params": {"by": t.admin.data["name"]}}
    assert all(x["text_code"] is None and x["text"] is None for x in lines[:-1])


async def test_error_answers_carry_a_stable_code(app: App) -> None:
    t = await app.tenant()
    ana, bruno = await t.agent(name="Ana"), await t.agent(name="Bruno")
    cid = await conversation(app, await t.channel())
    assert (
        await ana.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": ana.id})
    ).status_code == 200

    async def answer(r: Any) -> tuple[int, str, Any]:
        body = r.json()
        assert isinstance(body["error"], str) and body["error"], body
        return r.status_code, body["code"], body.get("params")

    # A rule the agent meets, and the one a colleague meets.
    assert await answer(await bruno.http.post(f"/api/conversations/{cid}/resolve")) == (
        403,
        "conversation_forbidden",
        None,
    )
    assert (await ana.http.post(f"/api/conversations/{cid}/resolve")).status_code == 200
    r = await ana.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": bruno.id})
    assert await answer(r) == (409, "conversation_resolved", None)
    assert r.json()["error"] == "the conversation is resolved; reopen it first"  # unchanged
    # Bodies: not JSON; a field named.
    r = await ana.http.post(
        f"/api/conversations/{cid}/snooze", content=b"{", headers={"content-type": "application/json"}
    )
    assert await answer(r) == (400, "body_not_json", None)
    r = await ana.http.post(f"/api/conversations/{cid}/snooze", json={})
    assert await answer(r) == (400, "invalid_field", {"field": "until", "detail": "Field required"})
    # A template with a variable that does not exist.
    r = await t.admin.http.post("/api/templates", json={"name": "x", "body": "Oi {{contact.nickname}}"})
    status, code, params = await answer(r)
    assert (status, code, params["names"]) == (422, "template_unknown_variable", "{{contact.nickname}}")
    # Sessions: a wrong password, no token; the role a route needs.
    r = await app.http.post("/api/auth/login", json={"email": ana.email, "password": "not-the-password"})
    assert await answer(r) == (401, "login_failed", None)
    assert await answer(await app.http.get("/api/conversations")) == (401, "session_invalid", None)
    assert await answer(await ana.http.get("/api/queues")) == (403, "role_forbidden", None)
    # Not found, in a path and in the route table; a method a route does not take.
    assert await answer(await ana.http.get("/api/conversations/987654321")) == (
        404,
        "conversation_not_found",
        None,
    )
    assert await answer(await ana.http.get("/api/no-such-route")) == (404, "not_found", None)
    assert await answer(await ana.http.delete("/api/conversations")) == (405, "method_not_allowed", None)
    # Outside the API, Starlette's plain text stays (the browser's pages and files).
    r = await app.http.get("/no-such-file.js")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")
