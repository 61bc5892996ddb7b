"""Outgoing webhooks' API on both databases: admins subscribe a URL (the secret is answered once and
never again, nor written to the audit log), change, disable, enable and delete it; a bad URL or event
type is a 422 that stores nothing; other roles get 403; another tenant's subscription is 404 (also
walked by test_tenant_isolation.py)."""

from __future__ import annotations

from sqlalchemy import func, select

from inbox import models as m
from tests.support import App

ws = m.webhook_subscriptions.c


async def _count(app: App, tenant_id: int) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(func.count()).where(ws.tenant_id == tenant_id)
        return int((await conn.execute(q)).scalar_one())


async def test_subscribe_change_and_delete(app: App) -> None:
    t = await app.tenant()
    http = t.admin.http
    r = await http.post(
        "/api/admin/webhooks",
        json={
            "url": "http://127.0.0.1:9/hooks/inbox",
            "events": ["message.created", "conversation.created"],
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert created["events"] == ["conversation.created", "message.created"]
    assert created["enabled"] is True and created["delivered"] == 0 and created["disabled_reason"] is None
    hook_id = created["id"]

    # The secret never comes out again: not listed, not read, not in a change's answer.
    listed = await http.get("/api/admin/webhooks")
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()["items"]] == [hook_id]
    assert "message.updated" in listed.json()["event_types"]
    one = await http.get(f"/api/admin/webhooks/{hook_id}")
    changed = await http.put(f"/api/admin/webhooks/{hook_id}", json={"events": ["message.updated"]})
    assert changed.status_code == 200 and changed.json()["events"] == ["message.updated"]
    for answer in (listed, one, changed):
        assert secret not in answer.text and "secret" not in answer.text

    # Stored sealed, not as typed.
    async with app.runtime.engine.connect() as conn:
        stored = (await conn.execute(select(ws.secret).where(ws.id == hook_id))).scalar_one()
    assert secret not in stored and app.runtime.box.open(stored) == {"secret": secret}

    # Disable by hand, enable again (failures reset).
    off = (await http.put(f"/api/admin/webhooks/{hook_id}", json={"enabled": False})).json()
    assert off["enabled"] is False and off["disabled_reason"] == "disabled by an admin"
    assert off["disabled_reason_code"] == {"code": "webhook.disabled_by_admin", "params": {}}
    on = (await http.put(f"/api/admin/webhooks/{hook_id}", json={"enabled": True})).json()
    assert on["enabled"] is True and on["disabled_reason"] is None and on["consecutive_failures"] == 0
    assert (await http.put(f"/api/admin/webhooks/{hook_id}", json={})).status_code == 400

    assert (await http.get(f"/api/admin/webhooks/{hook_id}/deliveries")).json() == {"items": []}
    assert (await http.delete(f"/api/admin/webhooks/{hook_id}")).status_code == 204
    assert (await http.get(f"/api/admin/webhooks/{hook_id}")).status_code == 404

    # Audited, never with the secret.
    audit = (await http.get("/api/audit")).json()["items"]
    actions = [a["action"] for a in audit if a["action"].startswith("webhook.")]
    assert actions == [
        "webhook.deleted",
        "webhook.changed",
        "webhook.changed",
        "webhook.changed",
        "webhook.created",
    ]
    assert secret not in str(audit)


async def test_bad_input_is_422_and_stores_nothing(app: App) -> None:
    t = await app.tenant()
    cases = [
        ({"url": "ftp://crm.example.com/x", "events": ["message.created"]}, "url: must start with http"),
        ({"url": "crm.example.com/hooks", "events": ["message.created"]}, "url: must start with http"),
        ({"url": "https://", "events": ["message.created"]}, "url: must name a host"),
        ({"url": "https://user:pw@crm.example.com/", "events": ["message.created"]}, "credentials"),
        ({"url": "https://crm.example.com/a b", "events": ["message.created"]}, "spaces"),
        ({"url": "https://crm.example.com:99999/", "events": ["message.created"]}, "not a valid URL"),
        ({"url": "https://crm.example.com/" + "a" * 2000, "events": ["message.created"]}, "at most 2000"),
        ({"url": "https://crm.example.com/", "events": []}, "events: choose at least one"),
        ({"url": "https://crm.example.com/", "events": ["message.deleted"]}, "unknown event type"),
        ({"url": "https://crm.example.com/", "events": ["queue.updated"]}, "unknown event type"),
    ]
    for payload, reason in cases:
        r = await t.admin.http.post("/api/admin/webhooks", json=payload)
        assert r.status_code == 422, (payload, r.status_code, r.text)
        assert reason in r.json()["error"], (payload, r.text)
    r = await t.admin.http.post("/api/admin/webhooks", json={"url": "https://crm.example.com/"})
    assert r.status_code == 400 and "events" in r.json()["error"]  # missing field: the body is malformed
    assert await _count(app, t.id) == 0

    ok = (
        await t.admin.http.post(
            "/api/admin/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["message.created"]}
        )
    ).json()
    r = await t.admin.http.put(f"/api/admin/webhooks/{ok['id']}", json={"url": "mailto:a@b.c"})
    assert r.status_code == 422
    assert (await t.admin.http.get(f"/api/admin/webhooks/{ok['id']}")).json()["url"] == "http://127.0.0.1:9/x"


async def test_admins_only_and_tenant_scoped(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    hook = (
        await t.admin.http.post(
            "/api/admin/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["message.created"]}
        )
    ).json()
    for role in ("agent", "supervisor"):
        who = await t.agent(role=role)
        assert (await who.http.get("/api/admin/webhooks")).status_code == 403
        r = await who.http.post(
            "/api/admin/webhooks", json={"url": "https://x.example.com/", "events": ["message.created"]}
        )
        assert r.status_code == 403
    assert (await app.http.get("/api/admin/webhooks")).status_code == 401
    assert (await other.admin.http.get("/api/admin/webhooks")).json()["items"] == []
    assert (await other.admin.http.get(f"/api/admin/webhooks/{hook['id']}")).status_code == 404
    assert (await other.admin.http.delete(f"/api/admin/webhooks/{hook['id']}")).status_code == 404
    assert await _count(app, t.id) == 1
