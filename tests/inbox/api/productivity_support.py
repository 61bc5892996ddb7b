"""Helpers for the agent productivity API tests (canned responses, labels, transfer, search)."""

from __future__ import annotations

from sqlalchemy import select

from inbox import models as m
from tests.support import App, Channel, Tenant, notificame_message


async def conversation(
    app: App, ch: Channel, *, text: str = "Olá", name: str = "Maria Silva", sender: str | None = None
) -> int:
    """A customer writes on `ch`; returns the conversation id (queued, unassigned)."""
    payload = notificame_message(ch, text=text, name=name, sender=sender)
    r = await app.post_webhook(ch, payload)
    assert r.status_code == 200, r.text
    ext = payload["message"]["from"]
    idc, cv = m.contact_identities.c, m.conversations.c
    async with app.runtime.engine.connect() as conn:
        contact_id = (
            await conn.execute(
                select(idc.contact_id).where(idc.external_id == ext, idc.tenant_id == ch.data["tenant_id"])
            )
        ).scalar_one()
        return int(
            (
                await conn.execute(
                    select(cv.id)
                    .where(cv.contact_id == contact_id, cv.channel_id == ch.id)
                    .order_by(cv.id.desc())
                )
            )
            .scalars()
            .first()
        )


async def queue(tenant: Tenant, name: str, *agent_ids: int) -> int:
    r = await tenant.admin.http.post("/api/admin/queues", json={"name": name})
    assert r.status_code == 201, r.text
    qid = int(r.json()["id"])
    r = await tenant.admin.http.put(f"/api/admin/queues/{qid}/members", json={"agent_ids": list(agent_ids)})
    assert r.status_code == 200, r.text
    return qid
