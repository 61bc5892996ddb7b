"""Canned responses: supervisors and admins manage them, agents list them; short codes are unique per
tenant and validated (the error names the field, nothing is stored); tenants never see each other's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from inbox import models as m
from tests.support import Agent, App

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _upload(agent: Agent, name: str, data: bytes = PNG, mime: str = "image/png") -> dict[str, Any]:
    r = await agent.http.post(
        "/api/uploads", params={"name": name}, content=data, headers={"Content-Type": mime}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _links(app: App) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(func.count()).select_from(m.canned_response_uploads)
        return int((await conn.execute(q)).scalar_one())


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


async def test_attachments_of_the_tenant_in_order(app: App) -> None:
    """Files ride along by reference (uploads of the tenant), listed with the canned response in the
    shape a reply's attachment takes; another tenant's upload is refused naming the field; a change
    without `upload_ids` keeps the files, `[]` drops them; a delete drops the references only."""
    t, other = await app.tenant(), await app.tenant()
    sup, agent = await t.agent(role="supervisor"), await t.agent()
    menu = await _upload(sup, "cardapio.pdf", b"%PDF-1.4 menu", "application/pdf")
    photo = await _upload(sup, "fachada.png")
    theirs = await _upload(other.admin, "deles.png")
    links = await _links(app)

    r = await sup.http.post(
        "/api/canned-responses",
        json={"short_code": "menu", "body": "Segue o cardápio", "upload_ids": [menu["id"], photo["id"]]},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert [(a["upload_id"], a["name"], a["kind"], a["mime_type"]) for a in created["attachments"]] == [
        (menu["id"], "cardapio.pdf", "file", "application/pdf"),
        (photo["id"], "fachada.png", "image", "image/png"),
    ]
    assert created["attachments"][0]["url"] == f"/api/uploads/{menu['id']}"
    # Agents list them with their files, and can read the files.
    (item,) = (await agent.http.get("/api/canned-responses")).json()["items"]
    assert item["attachments"] == created["attachments"]
    assert (await agent.http.get(item["attachments"][1]["url"])).content == PNG
    # ...but may not change them.
    r = await agent.http.put(
        f"/api/canned-responses/{created['id']}", json={"short_code": "menu", "body": "x", "upload_ids": []}
    )
    assert r.status_code == 403

    # Another tenant's upload (or a missing one) reads as not found: 422 naming the field, nothing stored.
    for ids in ([theirs["id"]], [photo["id"], theirs["id"]], [10**9]):
        r = await sup.http.post(
            "/api/canned-responses", json={"short_code": "x", "body": "y", "upload_ids": ids}
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_field" and r.json()["params"]["field"] == "upload_ids"
        r = await sup.http.put(
            f"/api/canned-responses/{created['id']}",
            json={"short_code": "menu", "body": "z", "upload_ids": ids},
        )
        assert r.status_code == 422 and r.json()["params"]["field"] == "upload_ids", r.text
    assert await _count(app, t.id) == 1 and await _links(app) == links + 2
    (item,) = (await sup.http.get("/api/canned-responses")).json()["items"]
    assert item["body"] == "Segue o cardápio" and len(item["attachments"]) == 2
    # Bad shapes are 400 naming the field.
    for ids in ("1", [0], ["a"], list(range(1, 12))):
        r = await sup.http.post(
            "/api/canned-responses", json={"short_code": "x", "body": "y", "upload_ids": ids}
        )
        assert r.status_code == 400 and r.json()["error"].startswith("upload_ids"), (ids, r.text)

    # A change without upload_ids keeps the files; a new list replaces them (order kept, repeats once).
    url = f"/api/canned-responses/{created['id']}"
    r = await sup.http.put(url, json={"short_code": "menu", "body": "Cardápio novo"})
    assert r.status_code == 200 and [a["upload_id"] for a in r.json()["attachments"]] == [
        menu["id"],
        photo["id"],
    ]
    r = await sup.http.put(
        url,
        json={"short_code": "menu", "body": "Cardápio", "upload_ids": [photo["id"], menu["id"], photo["id"]]},
    )
    assert r.status_code == 200 and [a["upload_id"] for a in r.json()["attachments"]] == [
        photo["id"],
        menu["id"],
    ]
    r = await sup.http.put(url, json={"short_code": "menu", "body": "Cardápio", "upload_ids": []})
    assert r.status_code == 200 and r.json()["attachments"] == []
    r = await sup.http.put(url, json={"short_code": "menu", "body": "Cardápio", "upload_ids": [menu["id"]]})
    assert [a["upload_id"] for a in r.json()["attachments"]] == [menu["id"]]

    # The other tenant sees none of it, and cannot change or delete it.
    assert (await other.admin.http.get("/api/canned-responses")).json()["items"] == []
    r = await other.admin.http.put(url, json={"short_code": "a", "body": "b", "upload_ids": [theirs["id"]]})
    assert r.status_code == 404
    # Delete: the canned response and its references go, the upload stays readable.
    assert (await sup.http.delete(url)).status_code == 204
    assert await _links(app) == links
    assert (await sup.http.get(menu["url"])).status_code == 200
