"""The outbox under provider trouble, on SQLite and PostgreSQL: timeouts, giving up, sending again,
an outage with many messages queued. Each test runs its own app with tuned settings on this module's
database (see tests/inbox/test_outbox.py for the helpers).
"""

from __future__ import annotations

from sqlalchemy import update

from inbox import models as m
from inbox.config import Settings
from tests.fakes.notificame import Reply
from tests.inbox.workers.outbox_support import (
    conversation,
    message_events,
    out_rows,
    outbox_rows,
    reply,
    wait_status,
    world,
)
from tests.support import notificame_message


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


async def test_echo_of_an_interrupted_attempt_is_proof_it_arrived(settings: Settings, outbox_db: str) -> None:
    """A send was cut off before its answer was stored, but the provider's echo came in and claimed our
    row: the next attempt records it as sent instead of sending it a second time."""
    async with world(settings, outbox_db, workers=False, clear=False) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        conv_id, customer = await conversation(wd.app, ch)
        sent = await reply(tenant.admin, conv_id, "Pagamento confirmado")
        echo = notificame_message(
            ch, sender=customer, message_id="nm-cut-off", direction="OUT", text="Pagamento confirmado"
        )
        assert (await wd.app.post_webhook(ch, echo)).status_code == 200
        async with wd.app.runtime.engine.begin() as conn:  # as a claim that died mid-send leaves it
            await conn.execute(update(m.outbox).where(m.outbox.c.message_id == sent["id"]).values(attempts=1))
    async with world(settings, outbox_db) as wd:
        row = await wait_status(wd.app, sent["id"], "sent")
        assert row.provider_message_id == "nm-cut-off"
        assert wd.nm.requests == []
        assert [r.id for r in await out_rows(wd.app, conv_id)] == [sent["id"]]


async def test_shutdown_hands_rows_in_flight_back(settings: Settings, outbox_db: str) -> None:
    async with world(settings, outbox_db, clear=False, send_lease_seconds=60) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        conv_id, _ = await conversation(wd.app, ch)
        wd.nm.script(Reply(delay=1.0))
        sent = await reply(tenant.admin, conv_id, "Oi")
        await wd.nm.wait_for(1)
        # Leaving the block stops the app (its lifespan) while the call is in flight.
    async with world(settings, outbox_db, workers=False, clear=False) as wd:
        (row,) = await outbox_rows(wd.app, sent["id"])
        # Not held for the rest of a 60 s lease: another process may send it at once.
        assert row.locked_until is None and row.attempts == 1
    async with world(settings, outbox_db) as wd:
        await wait_status(wd.app, sent["id"], "sent")
        assert len(wd.nm.requests) == 1
