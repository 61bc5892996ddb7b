"""Canned responses: supervisors and admins manage them, agents list them; short codes are unique per
tenant and validated (the error names the field, nothing is stored); tenants never see each other's."""

from __future__ import annotations

from sqlalchemy import func, select

from inbox import models as m
from tests.support import App


async def _count(app: App, tenant_id: int) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(func.count()).where(m.canned_responses.c.tenant_id == tenant_id)
        return int((await conn.execute(q)).scalar_one())


async def test_manage_and_use(app: App) -> None:
    t = await app.tenant()
    sup = await t.agent(role="supervisor")
    agent = await t.agent()
    r = await sup.http.post(
        "/api/canned-responses",
        json={"short_code": "horario", "body": "Olá {{contact.first_name}}, abrimos às 8h."},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["short_code"] == "horario" and "{{contact.first_name}}" in created["body"]
    r = await t.admin.http.post("/api/canned-responses", json={"short_code": "/preco", "body": "R$ 100"})
    assert r.status_code == 201 and r.json()["short_code"] == "preco"  # a leading slash is not part of it

    # Agents use them: the whole list, sorted, and filtered by code or text (case-insensitive).
    items = (await agent.http.get("/api/canned-responses")).json()["items"]
    assert [i["short_code"] for i in items] == ["horario", "preco"]
    assert [
        i["short_code"] for i in (await agent.http.get("/api/canned-responses?q=HOR")).json()["items"]
    ] == ["horario"]
    assert [
        i["short_code"] for i in (await agent.http.get("/api/canned-responses?q=r$")).json()["items"]
    ] == ["preco"]
    # LIKE wildcards in the filter are text: "%" matches only a literal percent sign.
    assert (await agent.http.get("/api/canned-responses?q=%25")).json()["items"] == []

    # ...but may not manage them.
    cid = created["id"]
    assert (
        await agent.http.post("/api/canned-responses", json={"short_code": "x", "body": "y"})
    ).status_code == 403
    assert (
        await agent.http.put(f"/api/canned-responses/{cid}", json={"short_code": "x", "body": "y"})
    ).status_code == 403
    assert (await agent.http.delete(f"/api/canned-responses/{cid}")).status_code == 403

    r = await sup.http.put(f"/api/canned-responses/{cid}", json={"short_code": "hours", "body": "8h-18h"})
    assert r.status_code == 200 and r.json()["short_code"] == "hours" and r.json()["body"] == "8h-18h"
    assert (await sup.http.delete(f"/api/canned-responses/{cid}")).status_code == 204
    assert (await sup.http.delete(f"/api/canned-responses/{cid}")).status_code == 404
    assert [i["short_code"] for i in (await agent.http.get("/api/canned-responses")).json()["items"]] == [
        "preco"
    ]


async def test_short_codes_are_unique_per_tenant_and_validated(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    ok = {"short_code": "oi", "body": "Olá!"}
    assert (await t.admin.http.post("/api/canned-responses", json=ok)).status_code == 201
    dup = await t.admin.http.post("/api/canned-responses", json={"short_code": "oi", "body": "outro"})
    assert dup.status_code == 409 and "short_code" in dup.json()["error"]
    # Another tenant may use the same code.
    assert (await other.admin.http.post("/api/canned-responses", json=ok)).status_code == 201
    # Renaming onto an existing code is a conflict too, and changes nothing.
    second = (
        await t.admin.http.post("/api/canned-responses", json={"short_code": "tchau", "body": "Até"})
    ).json()
    r = await t.admin.http.put(
        f"/api/canned-responses/{second['id']}", json={"short_code": "oi", "body": "x"}
    )
    assert r.status_code == 409
    bad = [
        ({"short_code": "bom dia", "body": "x"}, "short_code"),
        ({"short_code": "", "body": "x"}, "short_code"),
        ({"short_code": "x" * 51, "body": "x"}, "short_code"),
        ({"short_code": "ok2", "body": "   "}, "body"),
        ({"short_code": "ok3"}, "body"),
        ({"short_code": "ok4", "body": "x", "extra": 1}, "extra"),
    ]
    before = await _count(app, t.id)
    for payload, field in bad:
        r = await t.admin.http.post("/api/canned-responses", json=payload)
        assert r.status_code == 400, (payload, r.text)
        assert r.json()["error"].startswith(field), (payload, r.text)
    assert await _count(app, t.id) == before
    items = (await t.admin.http.get("/api/canned-responses")).json()["items"]
    assert {i["short_code"]: i["body"] for i in items} == {"oi": "Olá!", "tchau": "Até"}


async def test_other_tenants_responses_are_not_found(app: App) -> None:
    ours, theirs = await app.tenant(), await app.tenant()
    theirs_id = (
        await theirs.admin.http.post("/api/canned-responses", json={"short_code": "segredo", "body": "deles"})
    ).json()["id"]
    assert (await ours.admin.http.get("/api/canned-responses")).json()["items"] == []
    r = await ours.admin.http.put(f"/api/canned-responses/{theirs_id}", json={"short_code": "a", "body": "b"})
    assert r.status_code == 404
    assert (await ours.admin.http.delete(f"/api/canned-responses/{theirs_id}")).status_code == 404
    items = (await theirs.admin.http.get("/api/canned-responses")).json()["items"]
    assert [(i["short_code"], i["body"]) for i in items] == [("segredo", "deles")]
