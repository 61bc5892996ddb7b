"""POST /api/conversations/{id}/read: unread count back to zero, shared with the team, tenant-scoped."""

from __future__ import annotations

from tests.support import App, notificame_message


async def test_read_resets_unread_and_is_tenant_scoped(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    sender = "5511900000001"
    for text in ("Oi", "Tem alguém aí?"):
        r = await app.post_webhook(ch, notificame_message(ch, text=text, sender=sender))
        assert r.status_code == 200, r.text
    (conv,) = (await tenant.admin.http.get("/api/conversations")).json()["items"]
    assert conv["unread_count"] == 2
    assert conv["last_message"]["text"] == "Tem alguém aí?"

    other = await app.tenant()
    r = await other.admin.http.post(f"/api/conversations/{conv['id']}/read")
    assert r.status_code == 404

    agent = await tenant.agent()
    r = await agent.http.post(f"/api/conversations/{conv['id']}/read")
    assert r.status_code == 200, r.text
    assert r.json()["unread_count"] == 0
    again = await tenant.admin.http.post(f"/api/conversations/{conv['id']}/read")
    assert again.status_code == 200 and again.json()["unread_count"] == 0
    (after,) = (await tenant.admin.http.get("/api/conversations")).json()["items"]
    assert after["unread_count"] == 0
