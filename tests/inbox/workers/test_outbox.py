"""The outbox end to end, on SQLite and PostgreSQL: replies posted over HTTP leave through the worker
to fake Notifica.me and Graph servers on 127.0.0.1 (real HTTP), with retries, failures, statuses and
echoes (helpers: tests/inbox/workers/outbox_support.py).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from inbox import models as m
from tests.fakes.graph import graph_error
from tests.fakes.notificame import Reply, zenvia_error
from tests.inbox.workers.outbox_support import (
    World,
    conversation,
    eventually,
    message,
    message_events,
    out_rows,
    outbox_rows,
    reply,
    secret,
    set_last_inbound,
    wait_status,
)
from tests.support import (
    notificame_message,
    notificame_status,
)


@pytest.mark.parametrize(
    ("kind", "path"), [("whatsapp", "whatsapp"), ("instagram", "instagram"), ("messenger", "facebook")]
)
async def test_notificame_text_reply(w: World, kind: str, path: str) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel(kind)
    conv_id, customer = await conversation(w.app, ch)
    sent = await reply(tenant.admin, conv_id, "Olá! Em que posso ajudar?")
    assert sent["status"] == "queued" and sent["direction"] == "out"
    assert sent["sender"] == {"type": "agent", "id": tenant.admin.id}

    (req,) = await w.nm.wait_for(1)
    assert req.method == "POST"
    assert req.path == f"/v1/channels/{path}/messages"
    assert req.headers["x-api-token"] == await secret(w.app, ch, "notificame_token")
    assert req.headers["content-type"] == "application/json"
    assert req.json == {
        "from": ch.external_id,
        "to": customer,
        "contents": [{"type": "text", "text": "Olá! Em que posso ajudar?"}],
    }
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == w.nm.sent_ids[0]
    assert row.error is None
    assert await outbox_rows(w.app, sent["id"]) == []
    events = await message_events(w.app, tenant.id, sent["id"])
    assert [(t, d["status"]) for t, d in events] == [
        ("message.created", "queued"),
        ("message.updated", "sent"),
    ]
    assert events[-1][1]["provider_message_id"] == row.provider_message_id


async def test_notificame_media_reply_is_a_file_content(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, customer = await conversation(w.app, ch)
    pdf = {"url": "https://cdn.example.com/boleto.pdf", "mime_type": "application/pdf", "name": "boleto.pdf"}
    sent = await reply(tenant.admin, conv_id, "Segue o boleto", attachments=[pdf])
    assert sent["kind"] == "file"
    assert sent["attachments"] == [{"kind": "file", **pdf}]
    photo = await reply(
        tenant.admin,
        conv_id,
        None,
        attachments=[{"url": "https://cdn.example.com/a.png", "mime_type": "image/png"}],
    )
    assert photo["kind"] == "image"

    first, second = await w.nm.wait_for(2)
    assert first.json["contents"] == [
        {
            "type": "file",
            "fileUrl": "https://cdn.example.com/boleto.pdf",
            "fileMimeType": "application/pdf",
            "fileCaption": "Segue o boleto",
        }
    ]
    assert second.json["contents"] == [
        {"type": "file", "fileUrl": "https://cdn.example.com/a.png", "fileMimeType": "image/png"}
    ]
    assert first.json["to"] == second.json["to"] == customer
    await wait_status(w.app, photo["id"], "sent")


async def test_meta_whatsapp_reply(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    conv_id, wa_id = await conversation(w.app, ch)
    sent = await reply(tenant.admin, conv_id, "Bom dia!")
    (req,) = await w.graph.wait_for(1)
    assert req.path == f"/v21.0/{ch.external_id}/messages"
    assert req.headers["authorization"] == f"Bearer {await secret(w.app, ch, 'access_token')}"
    assert req.headers["content-type"] == "application/json"
    assert req.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "type": "text",
        "text": {"body": "Bom dia!", "preview_url": False},
    }
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == w.graph.sent_ids[0]


async def test_meta_messenger_image_reply(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("messenger", "meta")
    conv_id, psid = await conversation(w.app, ch)
    url = "https://cdn.example.com/mapa.jpg"
    sent = await reply(tenant.admin, conv_id, None, attachments=[{"url": url, "mime_type": "image/jpeg"}])
    (req,) = await w.graph.wait_for(1)
    assert req.path == f"/v21.0/{ch.external_id}/messages"
    assert req.json == {
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "image", "payload": {"url": url, "is_reusable": True}}},
    }
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == w.graph.sent_ids[0]


async def test_messenger_human_agent_tag_after_24_hours(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("messenger", "meta", settings={"human_agent_tag": True})
    conv_id, psid = await conversation(w.app, ch)
    await set_last_inbound(w.app, conv_id, timedelta(days=3))
    r = await tenant.admin.http.get(f"/api/conversations/{conv_id}")
    assert r.json()["window_closes_at"] is not None
    sent = await reply(tenant.admin, conv_id, "Seu pedido chegou")
    (req,) = await w.graph.wait_for(1)
    assert req.json == {
        "recipient": {"id": psid},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Seu pedido chegou"},
    }
    await wait_status(w.app, sent["id"], "sent")


# --- failures and retries ----------------------------------------------------------------------------


async def test_two_server_errors_then_success_is_sent_once(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    w.nm.script(500, 500, 200)
    sent = await reply(tenant.admin, conv_id, "Tudo certo")
    row = await wait_status(w.app, sent["id"], "sent")
    assert len(w.nm.requests) == 3
    assert len({json.dumps(r.json, sort_keys=True) for r in w.nm.requests}) == 1  # the same message
    assert w.nm.sent_ids == [row.provider_message_id]  # accepted once
    assert await outbox_rows(w.app, sent["id"]) == []
    events = await message_events(w.app, tenant.id, sent["id"])
    assert [d["status"] for _, d in events] == ["queued", "sent"]  # retrying is not a state change


async def test_client_error_fails_at_once_with_the_reason(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    w.nm.script(
        zenvia_error(
            "Invalid recipient",
            details=[{"code": "INVALID", "path": "to", "message": "not a WhatsApp number"}],
        )
    )
    sent = await reply(tenant.admin, conv_id, "Oi")
    row = await wait_status(w.app, sent["id"], "failed")
    assert "Invalid recipient" in row.error and "not a WhatsApp number" in row.error and "400" in row.error
    assert await outbox_rows(w.app, sent["id"]) == []  # nothing left to retry
    assert len(w.nm.requests) == 1
    r = await tenant.admin.http.get(f"/api/conversations/{conv_id}/messages")
    shown = next(item for item in r.json()["items"] if item["id"] == sent["id"])
    assert shown["status"] == "failed" and "Invalid recipient" in shown["error"]
    events = await message_events(w.app, tenant.id, sent["id"])
    assert events[-1][0] == "message.updated" and events[-1][1]["status"] == "failed"


async def test_graph_permanent_error_carries_metas_reason(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel("whatsapp", "meta")
    conv_id, _ = await conversation(w.app, ch)
    w.graph.script(graph_error("(#131030) Recipient phone number not in allowed list", code=131030))
    sent = await reply(tenant.admin, conv_id, "Oi")
    row = await wait_status(w.app, sent["id"], "failed")
    assert "Recipient phone number not in allowed list" in row.error
    assert len(w.graph.requests) == 1


async def test_retry_after_is_honoured(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    w.nm.script(Reply.rate_limited(2))
    before = m.utcnow()
    sent = await reply(tenant.admin, conv_id, "Oi")

    async def rescheduled() -> Any:
        rows = await outbox_rows(w.app, sent["id"])
        return rows[0] if rows and rows[0].last_error else None

    row = await eventually(rescheduled, what="the 429 to be recorded")
    # The backoff alone would retry within 0.2 s; the provider asked for 2 s.
    assert row.next_attempt_at >= before + timedelta(seconds=2)
    assert "429" in row.last_error
    await wait_status(w.app, sent["id"], "sent")
    assert len(w.nm.requests) == 2


async def test_private_note_is_never_sent(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    note = await reply(tenant.admin, conv_id, "cliente VIP, cuidado", private=True)
    assert note["status"] == "note" and note["private"] is True
    assert await outbox_rows(w.app, note["id"]) == []
    public = await reply(tenant.admin, conv_id, "Olá!")
    await wait_status(w.app, public["id"], "sent")
    assert [r.json["contents"] for r in w.nm.requests] == [[{"type": "text", "text": "Olá!"}]]
    assert (await message(w.app, note["id"])).status == "note"


# --- statuses and echoes -----------------------------------------------------------------------------


async def test_statuses_before_the_send_answer_and_out_of_order(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, _ = await conversation(w.app, ch)
    pid = f"nm-{secrets.token_hex(6)}"
    w.nm.script(Reply(json={"id": pid}, delay=1.0))
    sent = await reply(tenant.admin, conv_id, "Chegou?")
    await w.nm.wait_for(1)
    # The provider's status webhooks beat its own answer, and arrive out of order.
    for code in ("READ", "DELIVERED"):
        r = await w.app.post_webhook(ch, notificame_status(pid, code))
        assert r.status_code == 200
    row = await wait_status(w.app, sent["id"], "read")
    assert row.provider_message_id == pid
    r = await w.app.post_webhook(ch, notificame_status(pid, "SENT"))
    assert (await message(w.app, sent["id"])).status == "read"  # never back
    async with w.app.runtime.engine.connect() as conn:
        left = await conn.execute(
            select(func.count())
            .select_from(m.pending_statuses)
            .where(m.pending_statuses.c.provider_message_id == pid)
        )
        assert left.scalar_one() == 0
    statuses = [d["status"] for _, d in await message_events(w.app, tenant.id, sent["id"])]
    assert statuses == ["queued", "sent", "read"]


async def test_echo_stored_before_the_answer_is_merged_into_our_row(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, customer = await conversation(w.app, ch)
    pid = f"nm-{secrets.token_hex(6)}"
    w.nm.script(Reply(json={"id": pid}, delay=1.0))
    sent = await reply(tenant.admin, conv_id, "Promoção  de hoje")
    await w.nm.wait_for(1)
    # The provider normalised the spaces: ingest cannot match the echo to the reply in flight, so it is
    # stored as a message of its own, for now.
    echo = notificame_message(ch, sender=customer, message_id=pid, direction="OUT", text="Promoção de hoje")
    assert (await w.app.post_webhook(ch, echo)).status_code == 200
    assert len(await out_rows(w.app, conv_id)) == 2
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == pid
    rows = await out_rows(w.app, conv_id)
    assert [r.id for r in rows] == [sent["id"]]  # one row, ours
    # A repeated echo is a duplicate of ours now.
    assert (await w.app.post_webhook(ch, echo)).status_code == 200
    assert [r.id for r in await out_rows(w.app, conv_id)] == [sent["id"]]


async def test_text_echo_before_the_answer_claims_our_row(w: World) -> None:
    tenant = await w.app.tenant()
    ch = await tenant.channel()
    conv_id, customer = await conversation(w.app, ch)
    pid = f"nm-{secrets.token_hex(6)}"
    w.nm.script(Reply(json={"id": pid}, delay=1.0))
    sent = await reply(tenant.admin, conv_id, "Um momento, por favor")
    await w.nm.wait_for(1)
    echo = notificame_message(
        ch, sender=customer, message_id=pid, direction="OUT", text="Um momento, por favor"
    )
    assert (await w.app.post_webhook(ch, echo)).status_code == 200
    row = await wait_status(w.app, sent["id"], "sent")
    assert row.provider_message_id == pid
    assert [r.id for r in await out_rows(w.app, conv_id)] == [sent["id"]]
    assert len(w.nm.requests) == 1
