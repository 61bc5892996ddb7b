from __future__ import annotations

from tests.support import App, notificame_message


async def test_webhook_to_api(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    r = await app.post_webhook(ch, notificame_message(ch, text="Olá, tudo bem?"))
    assert r.status_code == 200, r.text
    r = await tenant.admin.http.get("/api/conversations")
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 1
    conv = items[0]
    r = await tenant.admin.http.get(f"/api/conversations/{conv['id']}/messages")
    assert [m["text"] for m in r.json()["items"]] == ["Olá, tudo bem?"]
