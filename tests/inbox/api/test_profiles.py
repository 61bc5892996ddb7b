"""Contacts' profiles, the lead pipeline, appointments and templates over HTTP, on both databases:
what each accepts, the field named in every refusal (with nothing stored), who may do what, and
another tenant's objects answering 404."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from inbox import models as m
from inbox import templates
from tests.support import App, Tenant, notificame_message


async def _contact(app: App, tenant: Tenant, name: str = "Maria da Silva") -> int:
    ch = await tenant.channel()
    assert (await app.post_webhook(ch, notificame_message(ch, text="oi", name=name))).status_code == 200
    async with app.runtime.engine.connect() as conn:
        q = (
            select(m.contacts.c.id)
            .where(m.contacts.c.tenant_id == tenant.id)
            .order_by(m.contacts.c.id.desc())
        )
        return int((await conn.execute(q)).scalars().first())


async def _row(app: App, contact_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(select(m.contacts).where(m.contacts.c.id == contact_id))).one()


async def test_an_agent_keeps_the_contact_profile(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    cid = await _contact(app, tenant)
    change = {
        "email": " Maria@Example.COM ",
        "phone": "+55 (11) 98765-0001",
        "birthday": "1990-12-03",
        "lead_status": "qualified",
        "attributes": {"plano": "Ouro", "visitas": 3},
    }
    r = await agent.http.patch(f"/api/contacts/{cid}", json=change)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["email"], got["phone"], got["birthday"], got["lead_status"]) == (
        "maria@example.com",
        "+5511987650001",
        "1990-12-03",
        "qualified",
    )
    assert got["attributes"] == {"plano": "Ouro", "visitas": 3} and got["name"] == "Maria da Silva"
    assert got["opted_out"] is False and got["labels"] == []
    assert (await agent.http.get(f"/api/contacts/{cid}")).json() == got
    # A subset changes only itself; null clears.
    r = await agent.http.patch(f"/api/contacts/{cid}", json={"email": None, "name": "Maria S."})
    assert (r.json()["email"], r.json()["phone"], r.json()["name"]) == (None, "+5511987650001", "Maria S.")


async def test_bad_profile_changes_name_the_field_and_store_nothing(app: App) -> None:
    tenant = await app.tenant()
    cid = await _contact(app, tenant)
    before = await _row(app, cid)
    cases: list[tuple[Any, str]] = [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"birthday": "1990-13-45"}, "birthday"),
        ({"lead_status": "vip"}, "lead_status"),
        ({"attributes": {"tem espaço": "x"}}, "attributes"),
        ({"attributes": {"k": {"nested": 1}}}, "attributes"),
        ({"name": "  "}, "name"),
        ({"nickname": "x"}, "nickname"),
        ([1, 2], "body"),
    ]
    for body, field in cases:
        r = await tenant.admin.http.patch(f"/api/contacts/{cid}", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"].startswith(field), (body, r.json())
    r = await tenant.admin.http.patch(f"/api/contacts/{cid}", content=b"{not json")
    assert r.status_code == 400
    assert await _row(app, cid) == before


async def test_the_pipeline_is_the_tenants_and_admins_set_it(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    cid = await _contact(app, tenant)
    assert (await agent.http.get("/api/settings/pipeline")).json() == {
        "stages": ["new", "contacted", "qualified", "customer", "lost"]
    }
    stages = {"stages": ["novo", "avaliacao", "tratamento", "alta"]}
    assert (await agent.http.put("/api/settings/pipeline", json=stages)).status_code == 403
    for bad in ({"stages": []}, {"stages": ["Novo"]}, {"stages": ["a", "a"]}, {"etapas": ["a"]}):
        r = await tenant.admin.http.put("/api/settings/pipeline", json=bad)
        assert r.status_code == 400 and r.json()["error"].startswith(("stages", "etapas")), r.text
    assert (await tenant.admin.http.put("/api/settings/pipeline", json=stages)).json() == stages
    assert (
        await agent.http.patch(f"/api/contacts/{cid}", json={"lead_status": "qualified"})
    ).status_code == 400
    r = await agent.http.patch(f"/api/contacts/{cid}", json={"lead_status": "tratamento"})
    assert r.status_code == 200 and r.json()["lead_status"] == "tratamento"
    other = await app.tenant()
    assert (await other.admin.http.get("/api/settings/pipeline")).json()["stages"][0] == "new"


async def test_a_renamed_contact_is_announced_on_its_open_conversations(app: App) -> None:
    from tests.inbox.realtime.client import WsClient, wait_until

    tenant = await app.tenant()
    cid = await _contact(app, tenant)
    client = WsClient(app, tenant.admin.token)
    await client.connect()
    await client.ready()
    assert (
        await tenant.admin.http.patch(f"/api/contacts/{cid}", json={"name": "Dona Maria"})
    ).status_code == 200
    await wait_until(lambda: client.of_type("conversation.updated"), what="conversation.updated")
    (frame,) = client.of_type("conversation.updated")
    assert frame["data"]["contact"] == {"id": cid, "name": "Dona Maria"}
    await client.close()


async def test_appointments_are_scheduled_moved_completed_and_cancelled(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    cid = await _contact(app, tenant)
    r = await agent.http.post(
        f"/api/contacts/{cid}/appointments",
        json={
            "starts_at": "2030-03-10T13:00:00-03:00",
            "title": "Avaliação",
            "ends_at": "2030-03-10T14:00:00-03:00",
        },
    )
    assert r.status_code == 201, r.text
    appt = r.json()
    assert (appt["contact_id"], appt["status"], appt["starts_at"]) == (
        cid,
        "scheduled",
        "2030-03-10T16:00:00Z",
    )
    moved = await agent.http.patch(
        f"/api/appointments/{appt['id']}", json={"starts_at": "2030-03-11T16:00:00Z", "ends_at": None}
    )
    assert moved.status_code == 200 and moved.json()["starts_at"] == "2030-03-11T16:00:00Z"
    week = await agent.http.get("/api/appointments", params={"from": "2030-03-09", "to": "2030-03-16"})
    assert [a["id"] for a in week.json()["items"]] == [appt["id"]]
    empty = await agent.http.get("/api/appointments", params={"from": "2030-03-01", "to": "2030-03-09"})
    assert empty.json()["items"] == []
    assert [
        a["id"] for a in (await agent.http.get(f"/api/contacts/{cid}/appointments")).json()["items"]
    ] == []
    done = await agent.http.patch(f"/api/appointments/{appt['id']}", json={"status": "completed"})
    assert done.json()["status"] == "completed"
    cancelled = await agent.http.patch(f"/api/appointments/{appt['id']}", json={"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled"
    again = await agent.http.patch(
        f"/api/appointments/{appt['id']}", json={"starts_at": "2030-04-01T10:00:00Z"}
    )
    assert again.status_code == 409


async def test_bad_appointments_name_the_field(app: App) -> None:
    tenant = await app.tenant()
    cid = await _contact(app, tenant)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"title": "x"}, "starts_at"),
        ({"starts_at": "2030-03-10T13:00:00", "title": "x"}, "starts_at"),  # no time zone
        ({"starts_at": "2030-03-10T13:00:00Z", "title": ""}, "title"),
        ({"starts_at": "2030-03-10T13:00:00Z", "title": "x", "ends_at": "2030-03-10T12:00:00Z"}, "ends_at"),
    ]
    for body, field in cases:
        r = await tenant.admin.http.post(f"/api/contacts/{cid}/appointments", json=body)
        assert r.status_code == 400 and r.json()["error"].startswith(field), (body, r.text)
    r = await tenant.admin.http.get("/api/appointments", params={"from": "2030-03-10", "to": "2030-03-01"})
    assert r.status_code == 400 and r.json()["error"].startswith("to")
    r = await tenant.admin.http.get("/api/appointments", params={"from": "ontem"})
    assert r.status_code == 400 and r.json()["error"].startswith("from")
    async with app.runtime.engine.connect() as conn:
        q = select(m.appointments).where(m.appointments.c.tenant_id == tenant.id)
        assert (await conn.execute(q)).all() == []


async def test_templates_are_checked_kept_and_previewed_for_a_real_contact(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    cid = await _contact(app, tenant, name="João Pedro")
    r = await tenant.admin.http.patch("/api/admin/routing", json={"timezone": "America/Sao_Paulo"})
    assert r.status_code == 200, r.text
    body = (
        "Olá, {{contact.first_name}}! {{appointment.title}} em {{appointment.date}} às {{appointment.time}}."
    )
    t = {
        "name": "Lembrete",
        "body": body,
        "provider_template": {"name": "lembrete_consulta", "language": "pt_BR"},
    }
    assert (await agent.http.post("/api/templates", json=t)).status_code == 403
    r = await tenant.admin.http.post("/api/templates", json=t)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["variables"] == [
        "contact.first_name",
        "appointment.title",
        "appointment.date",
        "appointment.time",
    ]
    assert made["provider_template"] == {"name": "lembrete_consulta", "language": "pt_BR"}
    assert (await tenant.admin.http.post("/api/templates", json=t)).status_code == 409
    appt = (
        await agent.http.post(
            f"/api/contacts/{cid}/appointments",
            json={"starts_at": "2030-03-10T17:30:00Z", "title": "Limpeza"},
        )
    ).json()
    r = await agent.http.post(
        f"/api/templates/{made['id']}/preview", json={"contact_id": cid, "appointment_id": appt["id"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "Olá, João! Limpeza em 10/03/2030 às 14:30."
    r = await agent.http.post(f"/api/templates/{made['id']}/preview", json={"contact_id": cid})
    assert r.status_code == 422 and "appointment.title" in r.json()["error"]
    listed = (await agent.http.get("/api/templates")).json()["items"]
    assert [x["name"] for x in listed] == ["Lembrete"]
    changed = {**t, "body": "Oi {{contact.name}}"}
    r = await tenant.admin.http.put(f"/api/templates/{made['id']}", json=changed)
    assert r.status_code == 200 and r.json()["variables"] == ["contact.name"]
    assert (await tenant.admin.http.delete(f"/api/templates/{made['id']}")).status_code == 204
    assert (await agent.http.get(f"/api/templates/{made['id']}")).status_code == 404


async def test_the_template_variables_are_the_renderers_described_in_both_languages(app: App) -> None:
    ours, theirs = await app.tenant("Ours"), await app.tenant("Theirs")
    agent = await ours.agent()
    assert (await app.http.get("/api/templates/variables")).status_code == 401
    r = await agent.http.get("/api/templates/variables")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [v["name"] for v in items] == list(templates.VARIABLES)
    first = next(v for v in items if v["name"] == "contact.first_name")
    assert first["description"] == {"pt-BR": "Primeiro nome do contato", "en": "Contact's first name"}
    assert all(v["description"]["pt-BR"] and v["description"]["en"] for v in items)
    # Not the tenant's: another tenant (with templates of its own) gets the same list.
    assert (
        await theirs.admin.http.post("/api/templates", json={"name": "t", "body": "oi"})
    ).status_code == 201
    assert (await theirs.admin.http.get("/api/templates/variables")).json() == r.json()
    # Every variable offered is one a template may be saved with.
    body = " ".join("{{" + v["name"].replace(".KEY", ".plano") + "}}" for v in items)
    r = await ours.admin.http.post("/api/templates", json={"name": "Todas", "body": body})
    assert r.status_code == 201, r.text
    assert len(r.json()["variables"]) == len(items)


async def test_bad_templates_are_refused_with_the_field_and_nothing_stored(app: App) -> None:
    tenant = await app.tenant()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"name": "x", "body": "Oi {{contact.nome}}"}, 422, "body: unknown variable {{contact.nome}}"),
        ({"name": "x", "body": "  "}, 422, "body: a template needs text"),
        ({"name": "", "body": "oi"}, 400, "name"),
        ({"name": "x", "body": "oi", "channel_kind": "fax"}, 400, "channel_kind"),
        ({"name": "x", "body": "oi", "provider_template": {"name": "Com Espaço", "language": "pt_BR"}}, 400,
         "provider_template.name"),
    ]  # fmt: skip
    for body, status, reason in cases:
        r = await tenant.admin.http.post("/api/templates", json=body)
        assert r.status_code == status and r.json()["error"].startswith(reason), (body, r.text)
    assert (await tenant.admin.http.get("/api/templates")).json()["items"] == []


async def test_another_tenants_profile_objects_are_not_found(app: App) -> None:
    ours, theirs = await app.tenant("Ours"), await app.tenant("Theirs")
    their_contact = await _contact(app, theirs)
    appt = (
        await theirs.admin.http.post(
            f"/api/contacts/{their_contact}/appointments",
            json={"starts_at": "2030-01-01T10:00:00Z", "title": "x"},
        )
    ).json()
    tpl = (await theirs.admin.http.post("/api/templates", json={"name": "t", "body": "oi"})).json()
    our_contact = await _contact(app, ours)
    requests = [
        ("PATCH", f"/api/contacts/{their_contact}", {"name": "x"}),
        (
            "POST",
            f"/api/contacts/{their_contact}/appointments",
            {"starts_at": "2030-01-01T10:00:00Z", "title": "x"},
        ),
        ("GET", f"/api/contacts/{their_contact}/appointments", None),
        ("PATCH", f"/api/appointments/{appt['id']}", {"status": "cancelled"}),
        ("GET", f"/api/templates/{tpl['id']}", None),
        ("PUT", f"/api/templates/{tpl['id']}", {"name": "t", "body": "x"}),
        ("DELETE", f"/api/templates/{tpl['id']}", None),
        ("POST", f"/api/templates/{tpl['id']}/preview", {"contact_id": our_contact}),
    ]
    for method, path, body in requests:
        r = await ours.admin.http.request(
            method, path, content=json.dumps(body) if body is not None else None
        )
        assert r.status_code == 404, (method, path, r.text)
    listed = await ours.admin.http.get("/api/appointments", params={"from": "2029-12-01", "to": "2030-06-01"})
    assert listed.json()["items"] == []
    assert (await ours.admin.http.get("/api/templates")).json()["items"] == []
    # Their contact cannot be previewed with our template either.
    ours_tpl = (await ours.admin.http.post("/api/templates", json={"name": "t", "body": "oi"})).json()
    r = await ours.admin.http.post(
        f"/api/templates/{ours_tpl['id']}/preview", json={"contact_id": their_contact}
    )
    assert r.status_code == 400 and r.json()["error"].startswith("contact_id")
