"""The outbox under provider trouble, on SQLite and PostgreSQL: timeouts, giving up, sending again,
an outage with many messages queued. Each test runs its own app with tuned settings on this module's
database (see tests/inbox/test_outbox.py for the helpers).
"""

from __future__ import annotations

from inbox.config import Settings
from tests.fakes.notificame import Reply
from tests.inbox.test_outbox import (
    conversation,
    message_events,
    outbox_db,
    reply,
    wait_status,
    world,
)

__all__ = ["outbox_db"]  # the fixture: a database of this module's own


async def test_timeout_is_retried(settings: Settings, outbox_db: str) -> None:
    async with world(settings, outbox_db, send_timeout_seconds=0.3) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        conv_id, _ = await conversation(wd.app, ch)
        wd.nm.script(Reply(delay=1.0))  # answers after the client gave up
        sent = await reply(tenant.admin, conv_id, "Oi")
        row = await wait_status(wd.app, sent["id"], "sent")
        assert len(wd.nm.requests) == 2
        assert row.provider_message_id in wd.nm.sent_ids


async def test_gives_up_after_max_attempts_then_retry_sends_it(settings: Settings, outbox_db: str) -> None:
    async with world(settings, outbox_db, send_max_attempts=3) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        conv_id, _ = await conversation(wd.app, ch)
        wd.nm.script(503, 503, 503)
        sent = await reply(tenant.admin, conv_id, "Oi")
        row = await wait_status(wd.app, sent["id"], "failed")
        assert "503" in row.error and "3 attempts" in row.error
        assert len(wd.nm.requests) == 3

        r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages/{sent['id']}/retry")
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued" and r.json()["error"] is None
        row = await wait_status(wd.app, sent["id"], "sent")
        assert len(wd.nm.requests) == 4
        assert row.provider_message_id == wd.nm.sent_ids[0]
        statuses = [d["status"] for _, d in await message_events(wd.app, tenant.id, sent["id"])]
        assert statuses == ["queued", "failed", "queued", "sent"]
        # Only a failed message can be sent again.
        r = await tenant.admin.http.post(f"/api/conversations/{conv_id}/messages/{sent['id']}/retry")
        assert r.status_code == 409


async def test_provider_down_then_back_every_message_leaves_once_in_order(
    settings: Settings, outbox_db: str
) -> None:
    async with world(settings, outbox_db, send_max_attempts=50) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        convs = [await conversation(wd.app, ch) for _ in range(3)]
        down = 12
        wd.nm.script(
            *[Reply(503) if i % 2 else Reply(502, body=b"<html>Bad gateway</html>") for i in range(down)]
        )
        posted: dict[str, list[str]] = {}
        ids = []
        for k in range(4):
            for conv_id, customer in convs:
                text = f"{customer} #{k}"
                posted.setdefault(customer, []).append(text)
                ids.append((await reply(tenant.admin, conv_id, text))["id"])
        for mid in ids:
            await wait_status(wd.app, mid, "sent", within=20)

        accepted = wd.nm.requests[down:]  # scripted failures are used in arrival order
        assert sorted(r.json["contents"][0]["text"] for r in accepted) == sorted(
            t for ts in posted.values() for t in ts
        )
        for customer, texts in posted.items():
            tried = [r.json["contents"][0]["text"] for r in wd.nm.requests if r.json["to"] == customer]
            # Never message k+1 before message k was accepted: attempts only ever move forward.
            assert tried == sorted(tried, key=texts.index), tried
            assert [r.json["contents"][0]["text"] for r in accepted if r.json["to"] == customer] == texts
