"""Numbers in request bodies past what the database holds: an id beyond 64 bits, a routing delay of
centuries. Each is a 400 naming the field, never a 500 (SQLite raised OverflowError on such an id,
found by the schemathesis run; a huge delay overflowed the routing worker's time arithmetic)."""

from __future__ import annotations

from sqlalchemy import select

from inbox import models as m
from tests.inbox.api.productivity_support import conversation
from tests.support import App

HUGE = 2**64  # past a signed 64-bit column


async def test_numbers_past_the_database_are_refused_with_the_field(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    conv = await conversation(app, ch, name="Beatriz Lima")
    async with app.runtime.engine.connect() as conn:
        contact = (
            await conn.execute(select(m.conversations.c.contact_id).where(m.conversations.c.id == conv))
        ).scalar_one()
    r = await tenant.admin.http.post(
        "/api/templates", json={"name": "Oi", "body": "Olá {{contact.first_name}}"}
    )
    assert r.status_code == 201, r.text
    template = r.json()["id"]
    admin = tenant.admin.http
    cases = [
        ("POST", f"/api/templates/{template}/preview", {"contact_id": HUGE}, "contact_id"),
        (
            "POST",
            f"/api/templates/{template}/preview",
            {"contact_id": contact, "appointment_id": HUGE},
            "appointment_id",
        ),
        ("POST", f"/api/conversations/{conv}/transfer", {"agent_id": HUGE}, "agent_id"),
        ("POST", f"/api/conversations/{conv}/transfer", {"queue_id": -HUGE}, "queue_id"),
        ("POST", f"/api/contacts/{contact}/merge", {"other_id": HUGE}, "other_id"),
        (
            "POST",
            "/api/automations",
            {"name": "Boas-vindas", "trigger": "contact.created", "template_id": HUGE},
            "template_id",
        ),
        (
            "POST",
            "/api/automations",
            {
                "name": "Boas-vindas",
                "trigger": "contact.created",
                "template_id": template,
                "channel_id": HUGE,
            },
            "channel_id",
        ),
        ("PATCH", "/api/admin/routing", {"sla_first_response_seconds": 10**20}, "sla_first_response_seconds"),
        (
            "PATCH",
            "/api/admin/routing",
            {"requeue_offline_after_seconds": HUGE},
            "requeue_offline_after_seconds",
        ),
    ]
    for method, path, body, field in cases:
        r = await admin.request(method, path, json=body)
        assert r.status_code == 400, (path, body, r.status_code, r.text)
        assert field in r.json()["error"], (path, r.json())
    # In range, the same calls still work.
    r = await admin.post(f"/api/templates/{template}/preview", json={"contact_id": contact})
    assert r.status_code == 200 and r.json()["text"] == "Olá Beatriz", r.text
    r = await admin.patch("/api/admin/routing", json={"sla_first_response_seconds": 3600})
    assert r.status_code == 200, r.text
