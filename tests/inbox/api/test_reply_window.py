"""`GET /api/conversations/{id}/window` on both databases: whether a reply may go out now and, when
not, the refusal a reply would get (the reply box shows it before the agent writes)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from inbox import models as m
from tests.inbox.routing_support import conversation, set_conversation
from tests.support import App, whatsapp_cloud_message


async def test_the_window_as_the_reply_box_sees_it(app: App) -> None:
    tenant = await app.tenant()
    nm = await tenant.channel()
    cid = await conversation(app, nm)
    r = await tenant.admin.http.get(f"/api/conversations/{cid}/window")
    # A provider that applies its own rules: always open here, no countdown.
    assert r.json() == {"open": True, "closes_at": None, "refusal": None, "tag": None}

    wa = await tenant.channel("whatsapp", "meta")
    assert (await app.post_webhook(wa, whatsapp_cloud_message(wa, text="Oi"))).status_code == 200
    async with app.runtime.engine.connect() as conn:
        q = select(m.conversations.c.id).where(m.conversations.c.channel_id == wa.id)
        wid = (await conn.execute(q)).scalar_one()
    window = (await tenant.admin.http.get(f"/api/conversations/{wid}/window")).json()
    assert window["open"] is True and window["closes_at"] is not None

    await set_conversation(app, wid, last_inbound_at=m.utcnow() - timedelta(hours=25))
    window = (await tenant.admin.http.get(f"/api/conversations/{wid}/window")).json()
    assert window["open"] is False
    assert "24-hour customer-service window is closed" in window["refusal"]
    reply = await tenant.admin.http.post(f"/api/conversations/{wid}/messages", json={"text": "Oi?"})
    assert reply.status_code == 422 and reply.json()["error"] == window["refusal"]
    assert reply.json()["code"] == "window_closed"  # the browser's own words for it

    other = await app.tenant()
    assert (await other.admin.http.get(f"/api/conversations/{wid}/window")).status_code == 404
