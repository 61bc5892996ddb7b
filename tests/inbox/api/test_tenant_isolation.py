"""Every API route that takes an object id: another tenant's object answers exactly like an object that
does not exist (never 2xx, never 403), and nothing of theirs changes. Walks the app's own route table,
so a new route is covered the day it is added."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from starlette.routing import Route

from inbox import models as m
from tests.support import App, Tenant, notificame_message

MISSING = 987_654_321


async def _world(app: App, tenant: Tenant) -> dict[str, int]:
    ch = await tenant.channel()
    await app.post_webhook(ch, notificame_message(ch, text="oi"))
    async with app.runtime.engine.connect() as conn:
        conv = (
            await conn.execute(select(m.conversations).where(m.conversations.c.tenant_id == tenant.id))
        ).one()
        mid = (
            await conn.execute(select(m.messages.c.id).where(m.messages.c.conversation_id == conv.id))
        ).scalar_one()
    agent = await tenant.agent()
    r = await tenant.admin.http.post("/api/admin/queues", json={"name": "Vendas"})
    queue_id = r.json()["id"] if r.status_code in (200, 201) else MISSING
    appointment = await tenant.admin.http.post(
        f"/api/contacts/{conv.contact_id}/appointments",
        json={"starts_at": "2030-01-01T10:00:00Z", "title": "Avaliação"},
    )
    template = await tenant.admin.http.post("/api/templates", json={"name": "Boas-vindas", "body": "Oi!"})
    r = await tenant.admin.http.post(
        "/api/automations",
        json={"name": "Boas-vindas", "trigger": "contact.created", "template_id": template.json()["id"]},
    )
    automation_id = r.json()["id"] if r.status_code == 201 else MISSING
    r = await tenant.admin.http.post("/api/canned-responses", json={"short_code": "oi", "body": "Olá"})
    canned_id = r.json()["id"] if r.status_code == 201 else MISSING
    r = await tenant.admin.http.post("/api/labels", json={"name": "vip"})
    label_id = r.json()["id"] if r.status_code == 201 else MISSING
    r = await tenant.admin.http.post(
        "/api/admin/webhooks", json={"url": "http://127.0.0.1:9/in", "events": ["message.created"]}
    )
    webhook_id = r.json()["id"] if r.status_code == 201 else MISSING
    pdf = {"Content-Type": "application/pdf"}
    r = await tenant.admin.http.post("/api/uploads", content=b"%PDF-1.4", headers=pdf)
    upload_id = r.json()["id"] if r.status_code == 201 else MISSING
    return {
        "webhook": webhook_id,
        "upload": upload_id,
        "appointment": appointment.json()["id"],
        "template": template.json()["id"],
        "automation": automation_id,
        "canned-response": canned_id,
        "label": label_id,
        "conversation": conv.id,
        "contact": conv.contact_id,
        "channel": ch.id,
        "message": mid,
        "agent": agent.id,
        "queue": queue_id,
    }


def _kind(path: str, param: str) -> str:
    """Which object a path parameter names, from the path around it."""
    if param in ("message_id", "mid"):
        return "message"
    if param == "channel_id":
        return "channel"
    segment = path.split("{" + param + "}")[0].rstrip("/").rsplit("/", 1)[-1]
    return {
        "conversations": "conversation",
        "contacts": "contact",
        "channels": "channel",
        "agents": "agent",
        "queues": "queue",
        "messages": "message",
        "appointments": "appointment",
        "templates": "template",
        "automations": "automation",
        "canned-responses": "canned-response",
        "labels": "label",
        "webhooks": "webhook",
        "uploads": "upload",
    }.get(segment, segment)


async def _snapshot(app: App, tenant_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        out = []
        for table in (
            m.conversations,
            m.messages,
            m.contacts,
            m.channels,
            m.agents,
            m.queues,
            m.queue_members,
            m.appointments,
            m.templates,
            m.automations,
            m.automation_runs,
            m.canned_responses,
            m.labels,
            m.conversation_labels,
            m.webhook_subscriptions,
            m.uploads,
        ):
            rows = (await conn.execute(select(table).where(table.c.tenant_id == tenant_id))).all()
            out.append(sorted(tuple(str(v) for v in r) for r in rows))
        return out


def _normal(text: str, ids: dict[str, int]) -> str:
    text = text.replace(str(MISSING), "ID")
    for value in ids.values():
        text = re.sub(rf"\b{value}\b", "ID", text)
    return text


async def test_other_tenants_objects_are_indistinguishable_from_missing_ones(app: App) -> None:
    ours, theirs = await app.tenant("Ours"), await app.tenant("Theirs")
    their = await _world(app, theirs)
    await _world(app, ours)
    before = await _snapshot(app, theirs.id)
    checked = 0
    for route in app.runtime_routes():  # type: ignore[attr-defined]
        if not isinstance(route, Route) or not route.path.startswith("/api/") or "{" not in route.path:
            continue
        params = re.findall(r"{(\w+)}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            foreign = route.path
            missing = route.path
            for p in params:
                foreign = foreign.replace("{" + p + "}", str(their[_kind(route.path, p)]))
                missing = missing.replace("{" + p + "}", str(MISSING))
            body: dict[str, Any] = {
                "text": "x",
                "agent_id": None,
                "until": "2030-01-01T00:00:00Z",
                "name": "x",
                "confirm": True,  # an erasure (POST /api/contacts/{id}/erase) that would go through
            }
            a = await ours.admin.http.request(method, foreign, json=body)
            b = await ours.admin.http.request(method, missing, json=body)
            assert a.status_code not in (200, 201, 202, 204, 403), (method, foreign, a.status_code, a.text)
            assert a.status_code == b.status_code, (
                method,
                foreign,
                a.status_code,
                b.status_code,
                a.text,
                b.text,
            )
            assert _normal(a.text, their) == _normal(b.text, their), (method, foreign, a.text, b.text)
            checked += 1
    assert checked >= 15, checked
    assert await _snapshot(app, theirs.id) == before
