"""Meta adapter: fixtures -> exact events, signatures, handshake, and sends over real HTTP to a fake Graph."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers

from channels.base import (
    Attachment,
    ChannelConfig,
    ContactRef,
    InboundEvent,
    InvalidPayload,
    MessageDeleted,
    MessageReceived,
    Outgoing,
    SendError,
    StatusUpdate,
    Unauthorized,
)
from channels.meta import MetaAdapter
from tests.fakes.graph import FakeGraph, Reply, graph_app, graph_error
from tests.fakes.serve import serve

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
APP_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
VERIFY_TOKEN = "verify-me-please"
ACCESS_TOKEN = "EAAGfakeAccessToken1234567890"
PAGE, IG, PNID = "104800000000001", "17841400000000099", "106540000000001"
PSID, PSID2, IGSID = "7000000000000001", "7000000000000002", "1200000000000001"

adapter = MetaAdapter(graph_url="https://graph.invalid/v21.0")


def channel(kind: str = "messenger", external_id: str = PAGE) -> ChannelConfig:
    return ChannelConfig(
        id=2,
        tenant_id=1,
        kind=kind,  # type: ignore[arg-type]
        provider="meta",
        name="Meta channel",
        external_id=external_id,
        secrets={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": ACCESS_TOKEN},
    )


def ms(offset: int = 0) -> datetime:
    """The Messenger fixtures' clock: 1714564800123 ms (+ offset ms)."""
    return datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC) + timedelta(milliseconds=offset)


WA_T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WA_STATUS_T = datetime(2024, 5, 1, 12, 1, 40, tzinfo=UTC)
USER = ContactRef("messenger", PSID)
IG_USER = ContactRef("instagram", IGSID)
MARIA = ContactRef("whatsapp", "5511999990001", "Maria Souza")
MARIA_BARE = ContactRef("whatsapp", "5511999990001")
HEART = "\u2764\ufe0f"
LOOKASIDE = "https://lookaside.example.com/ig_messaging_cdn/?asset_id="
WINDOW = (
    "Outside the 24-hour messaging window (the customer has not written in the last 24 hours; "
    "only a message tag or an approved template can reach them). Meta: "
)


def text_msg(contact: ContactRef, mid: str, body: str, ts: datetime, **kw: Any) -> MessageReceived:
    return MessageReceived(
        contact=contact, provider_message_id=mid, kind="text", text=body, timestamp=ts, **kw
    )


def wa(mid: str, kind: str, text: str | None = None, **kw: Any) -> MessageReceived:
    kw.setdefault("timestamp", WA_T0)
    return MessageReceived(contact=MARIA, provider_message_id=mid, kind=kind, text=text, **kw)  # type: ignore[arg-type]


def media(kind: str, media_id: str, mime: str, name: str | None = None) -> tuple[Attachment, ...]:
    return (Attachment(kind, f"whatsapp-media:{media_id}", mime, name),)  # type: ignore[arg-type]


CASES: dict[str, list[InboundEvent]] = {
    # --- Messenger
    "messenger_text": [text_msg(USER, "m_text_1", "Hello, is the store open today?", ms())],
    "messenger_echo": [text_msg(USER, "m_echo_1", "Yes, until 8pm.", ms(), direction="out")],
    "messenger_image": [
        MessageReceived(
            USER,
            "m_img_1",
            "image",
            attachments=(Attachment("image", "https://scontent.example.com/v/photo.jpg?oh=abc"),),
            timestamp=ms(),
        )
    ],
    "messenger_audio": [
        MessageReceived(
            USER,
            "m_audio_1",
            "audio",
            attachments=(Attachment("audio", "https://cdn.fbsbx.example.com/v/audioclip.mp4?oh=abc"),),
            timestamp=ms(),
        )
    ],
    "messenger_video": [
        MessageReceived(
            USER,
            "m_video_1",
            "video",
            attachments=(Attachment("video", "https://video.example.com/v/clip.mp4?oh=abc"),),
            timestamp=ms(),
        )
    ],
    "messenger_file": [
        MessageReceived(
            USER,
            "m_file_1",
            "file",
            attachments=(Attachment("file", "https://cdn.fbsbx.example.com/v/invoice.pdf?oh=abc"),),
            timestamp=ms(),
        )
    ],
    "messenger_sticker": [
        MessageReceived(
            USER,
            "m_sticker_1",
            "sticker",
            attachments=(Attachment("sticker", "https://scontent.example.com/v/sticker.png"),),
            timestamp=ms(),
        )
    ],
    "messenger_location": [
        MessageReceived(
            USER,
            "m_loc_1",
            "location",
            text="Pinned Location\n40.7128,-74.006\nhttps://maps.google.com/?q=40.7128,-74.006",
            timestamp=ms(),
        )
    ],
    "messenger_fallback": [
        text_msg(USER, "m_fallback_1", "look at this\nGreat article\nhttps://news.example.com/a/1", ms())
    ],
    "messenger_template_echo": [
        text_msg(USER, "m_tpl_1", "How would you like to pay?\nCard\nPix", ms(), direction="out")
    ],
    "messenger_postback": [text_msg(USER, "m_postback_1", "Talk to an agent", ms())],
    "messenger_quick_reply": [text_msg(USER, "m_qr_1", "Red", ms())],
    "messenger_reaction": [
        MessageReceived(
            USER,
            f"reaction:m_echo_1:{PSID}:1714564800123",
            "reaction",
            text=HEART,
            reply_to="m_echo_1",
            timestamp=ms(),
        )
    ],
    "messenger_unreact": [
        MessageReceived(
            USER,
            f"reaction:m_echo_1:{PSID}:1714564860123",
            "reaction",
            text=None,
            reply_to="m_echo_1",
            timestamp=ms(60000),
        )
    ],
    "messenger_reply": [text_msg(USER, "m_reply_1", "this one", ms(), reply_to="m_echo_1")],
    "messenger_delivery_mids": [
        StatusUpdate("delivered", provider_message_id="m_echo_1", timestamp=ms(), contact=USER),
        StatusUpdate("delivered", provider_message_id="m_echo_2", timestamp=ms(), contact=USER),
    ],
    "messenger_delivery_watermark": [
        StatusUpdate("delivered", timestamp=ms(), watermark=ms(-1000), contact=USER)
    ],
    "messenger_read": [StatusUpdate("read", timestamp=ms(), watermark=ms(-500), contact=USER)],
    "messenger_batch": [
        text_msg(USER, "m_b_1", "first", ms()),
        text_msg(USER, "m_b_2", "second", ms(1)),
        text_msg(ContactRef("messenger", PSID2), "m_b_3", "from someone else", ms(2)),
        StatusUpdate("read", timestamp=ms(3), watermark=ms(2), contact=ContactRef("messenger", PSID2)),
    ],
    # --- Instagram
    "instagram_text": [text_msg(IG_USER, "aWdfdGV4dDE", "Do you ship to Rio?", ms())],
    "instagram_echo": [text_msg(IG_USER, "aWdfZWNobzE", "We do!", ms(), direction="out")],
    "instagram_deleted": [MessageDeleted("aWdfdGV4dDE", contact=IG_USER)],
    "instagram_story_mention": [
        MessageReceived(
            IG_USER,
            "aWdfc3RvcnkxMQ",
            "file",
            text="Mentioned you in their story",
            attachments=(Attachment("file", f"{LOOKASIDE}1&signature=abc", name="Instagram story"),),
            timestamp=ms(),
        )
    ],
    "instagram_story_reply": [
        text_msg(IG_USER, "aWdfcmVwbHkx", f"Love this look!\n[In reply to your story: {LOOKASIDE}2]", ms())
    ],
    "instagram_share": [text_msg(IG_USER, "aWdfc2hhcmUx", f"Shared a post: {LOOKASIDE}3", ms())],
    "instagram_reel": [
        MessageReceived(
            IG_USER,
            "aWdfcmVlbDE",
            "video",
            text="Shared a reel: Summer collection #sale",
            attachments=(Attachment("video", f"{LOOKASIDE}4"),),
            timestamp=ms(),
        )
    ],
    "instagram_read": [
        StatusUpdate("read", provider_message_id="aWdfZWNobzE", timestamp=ms(), contact=IG_USER)
    ],
    "instagram_reaction": [
        MessageReceived(
            IG_USER,
            f"reaction:aWdfZWNobzE:{IGSID}:1714564800123",
            "reaction",
            text=HEART,
            reply_to="aWdfZWNobzE",
            timestamp=ms(),
        )
    ],
    # --- WhatsApp
    "whatsapp_text": [wa("wamid.text1", "text", "Oi, tudo bem?")],
    "whatsapp_image": [
        wa(
            "wamid.image1",
            "image",
            "Nota fiscal",
            attachments=media("image", "1480000000000001", "image/jpeg"),
        )
    ],
    "whatsapp_document": [
        wa(
            "wamid.doc1",
            "file",
            attachments=media("file", "1480000000000002", "application/pdf", "boleto.pdf"),
        )
    ],
    "whatsapp_audio": [
        wa("wamid.audio1", "audio", attachments=media("audio", "1480000000000003", "audio/ogg; codecs=opus"))
    ],
    "whatsapp_video": [
        wa("wamid.video1", "video", "unboxing", attachments=media("video", "1480000000000004", "video/mp4"))
    ],
    "whatsapp_sticker": [
        wa("wamid.sticker1", "sticker", attachments=media("sticker", "1480000000000005", "image/webp"))
    ],
    "whatsapp_location": [
        wa(
            "wamid.loc1",
            "location",
            "Escritório\nRua da Assembleia, 10 - Rio de Janeiro\n-22.9068,-43.1729\nhttps://maps.google.com/?q=-22.9068,-43.1729",
        )
    ],
    "whatsapp_contacts": [
        wa(
            "wamid.contacts1",
            "contacts",
            "Contact: Pedro Alves, +55 21 97777-6666, pedro@example.com\n"
            "Contact: Loja Centro, +55 21 3333-4444",
        )
    ],
    "whatsapp_reaction": [wa("wamid.reaction1", "reaction", "\U0001f44d", reply_to="wamid.out1")],
    "whatsapp_button_reply": [wa("wamid.btn1", "text", "Sim, confirmar", reply_to="wamid.out2")],
    "whatsapp_list_reply": [wa("wamid.list1", "text", "Amanhã 10h", reply_to="wamid.out3")],
    "whatsapp_button": [wa("wamid.tplbtn1", "text", "Parar promoções", reply_to="wamid.tpl1")],
    "whatsapp_context_reply": [wa("wamid.ctx1", "text", "Esse aqui", reply_to="wamid.out4")],
    "whatsapp_status_sent": [StatusUpdate("sent", "wamid.out1", timestamp=WA_STATUS_T, contact=MARIA_BARE)],
    "whatsapp_status_delivered": [
        StatusUpdate("delivered", "wamid.out1", timestamp=WA_STATUS_T, contact=MARIA_BARE)
    ],
    "whatsapp_status_read": [StatusUpdate("read", "wamid.out1", timestamp=WA_STATUS_T, contact=MARIA_BARE)],
    "whatsapp_status_failed": [
        StatusUpdate(
            "failed",
            "wamid.out1",
            error=WINDOW
            + "Re-engagement message: Message failed to send because more than 24 hours have passed "
            "since the customer last replied to this number. (code 131047)",
            timestamp=WA_STATUS_T,
            contact=MARIA_BARE,
        )
    ],
    "whatsapp_status_failed_other": [
        StatusUpdate(
            "failed",
            "wamid.out5",
            error="Message undeliverable: Unable to deliver message. (code 131026)",
            timestamp=WA_STATUS_T,
            contact=MARIA_BARE,
        )
    ],
    "whatsapp_template_status": [],
}
# Cases whose expected events hold the raw item (kind "unsupported"), checked apart below.
UNSUPPORTED = {
    "messenger_optin",
    "instagram_unsupported",
    "whatsapp_unsupported",
    "whatsapp_several_messages",
}


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def parse(name: str) -> list[InboundEvent]:
    kind = {"messenger": "messenger", "instagram": "instagram", "whatsapp": "whatsapp"}[name.split("_")[0]]
    return adapter.parse(channel(kind), load(name))


def test_every_fixture_has_a_case() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(CASES) | UNSUPPORTED


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_fixture(name: str) -> None:
    assert parse(name) == CASES[name]


def test_instagram_is_unsupported_keeps_raw_item() -> None:
    item = json.loads(load("instagram_unsupported"))["entry"][0]["messaging"][0]
    assert parse("instagram_unsupported") == [
        MessageReceived(IG_USER, "aWdfdW5zdXAx", "unsupported", timestamp=ms(), raw=item)
    ]


def test_whatsapp_unsupported_keeps_raw_message() -> None:
    message = json.loads(load("whatsapp_unsupported"))["entry"][0]["changes"][0]["value"]["messages"][0]
    assert parse("whatsapp_unsupported") == [wa("wamid.unsup1", "unsupported", raw=message)]


def test_whatsapp_several_messages_in_one_change() -> None:
    value = json.loads(load("whatsapp_several_messages"))["entry"][0]["changes"][0]["value"]
    assert parse("whatsapp_several_messages") == [
        wa("wamid.multi1", "text", "primeira"),
        MessageReceived(
            ContactRef("whatsapp", "5511999990002", "Jorge Lima"),
            "wamid.multi2",
            "text",
            text="de outra pessoa",
            timestamp=WA_T0 + timedelta(seconds=1),
        ),
        wa("wamid.multi3", "unsupported", timestamp=WA_T0 + timedelta(seconds=2), raw=value["messages"][2]),
    ]


def test_unknown_messaging_item_is_unsupported_with_a_stable_id() -> None:
    item = json.loads(load("messenger_optin"))["entry"][0]["messaging"][0]
    [event] = parse("messenger_optin")
    assert isinstance(event, MessageReceived)
    assert (event.contact, event.kind, event.raw, event.timestamp) == (USER, "unsupported", item, ms())
    assert event.provider_message_id.startswith("unsupported:")
    assert parse("messenger_optin") == [event]  # redelivery -> same id -> deduplicated by the core


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{not json",
        b"[]",
        b"null",
        b"{}",
        b'{"object": "user", "entry": []}',
        b'{"object": "permissions", "entry": []}',
        b'{"object": 1, "entry": []}',
        b'{"object": "page"}',
        b'{"object": "page", "entry": {}}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_not_the_envelope_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidPayload):
        adapter.parse(channel(), raw)


def test_empty_and_odd_entries_yield_nothing() -> None:
    body = {
        "object": "page",
        "entry": [1, "x", {"id": PAGE}, {"id": PAGE, "messaging": [{"message": {"text": "x"}}]}],
    }
    assert adapter.parse(channel(), json.dumps(body).encode()) == []


# ---------------------------------------------------------------------------------------------------
# verify


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def test_verify_good_signature_any_header_case() -> None:
    raw = load("messenger_text")
    adapter.verify(channel(), {"X-Hub-Signature-256": sign(raw)}, raw)
    adapter.verify(channel(), {"x-hub-signature-256": sign(raw)}, raw)
    adapter.verify(channel(), Headers(raw=[(b"x-hub-signature-256", sign(raw).encode())]), raw)
    adapter.verify(channel(), {"X-HUB-SIGNATURE-256": sign(raw).upper().replace("SHA256=", "sha256=")}, raw)


def test_verify_signature_is_over_raw_escaped_bytes() -> None:
    # Meta escapes non-ASCII as \u00e9: the signature covers those bytes, not a re-serialization.
    raw = b'{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"caf\\u00e9"}}]}]}'
    adapter.verify(channel(), {"X-Hub-Signature-256": sign(raw)}, raw)
    reserialized = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    with pytest.raises(Unauthorized):
        adapter.verify(channel(), {"X-Hub-Signature-256": sign(raw)}, reserialized)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature": "sha1=" + "0" * 40},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": "sha1=abc"},
        {"X-Hub-Signature-256": "md5=" + "0" * 64},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha256=zzzz\u00e9"},
    ],
)
def test_verify_rejects_missing_or_malformed(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized):
        adapter.verify(channel(), headers, load("messenger_text"))


def test_verify_rejects_tampered_body_and_wrong_secret() -> None:
    raw = load("messenger_text")
    with pytest.raises(Unauthorized):
        adapter.verify(channel(), {"X-Hub-Signature-256": sign(raw)}, raw.replace(b"Hello", b"Jello"))
    with pytest.raises(Unauthorized):
        adapter.verify(channel(), {"X-Hub-Signature-256": sign(raw, "other-secret")}, raw)
    no_secret = ChannelConfig(2, 1, "messenger", "meta", "x", PAGE, {})
    with pytest.raises(Unauthorized):
        adapter.verify(no_secret, {"X-Hub-Signature-256": sign(raw)}, raw)


# ---------------------------------------------------------------------------------------------------
# handshake


def test_handshake_returns_challenge() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert adapter.handshake(channel(), params) == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.verify_token": "vérify", "hub.challenge": "1"},
    ],
)
def test_handshake_refuses(params: dict[str, str]) -> None:
    assert adapter.handshake(channel(), params) is None


def test_handshake_refuses_when_no_token_is_configured() -> None:
    bare = ChannelConfig(2, 1, "messenger", "meta", "x", PAGE, {})
    assert (
        adapter.handshake(bare, {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
        is None
    )


# ---------------------------------------------------------------------------------------------------
# send: real HTTP against the fake Graph API


@dataclass
class Graph:
    adapter: MetaAdapter
    fake: FakeGraph
    http: httpx.AsyncClient


@pytest.fixture
async def graph() -> AsyncIterator[Graph]:
    app, fake = graph_app(access_token=ACCESS_TOKEN)
    async with serve(app) as base_url, httpx.AsyncClient(timeout=2.0) as http:
        yield Graph(MetaAdapter(graph_url=base_url + "/v21.0"), fake, http)


def out(text: str | None = "Hello!", *attachments: Attachment, tag: str | None = None) -> Outgoing:
    return Outgoing(message_id=42, to=PSID, text=text, attachments=attachments, tag=tag)


async def test_send_messenger_text(graph: Graph) -> None:
    result = await graph.adapter.send(graph.http, channel(), out())
    req = graph.fake.last
    assert result.provider_message_id == "m_fake_1" == graph.fake.sent_ids[0]
    assert (req.method, req.path) == ("POST", f"/v21.0/{PAGE}/messages")
    assert req.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert req.json == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hello!"},
    }


async def test_send_messenger_with_tag(graph: Graph) -> None:
    await graph.adapter.send(graph.http, channel(), out("Following up", tag="HUMAN_AGENT"))
    assert graph.fake.last.json == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Following up"},
    }


async def test_send_messenger_text_and_attachments_one_call_each(graph: Graph) -> None:
    result = await graph.adapter.send(
        graph.http,
        channel(),
        out(
            "Here you go",
            Attachment("image", "https://files.example.com/a.jpg"),
            Attachment("file", "https://files.example.com/b.pdf"),
        ),
    )
    assert result.provider_message_id == "m_fake_1"
    assert [r.json["message"] for r in graph.fake.requests] == [
        {"text": "Here you go"},
        {
            "attachment": {
                "type": "image",
                "payload": {"url": "https://files.example.com/a.jpg", "is_reusable": True},
            }
        },
        {
            "attachment": {
                "type": "file",
                "payload": {"url": "https://files.example.com/b.pdf", "is_reusable": True},
            }
        },
    ]


async def test_send_instagram_text(graph: Graph) -> None:
    result = await graph.adapter.send(
        graph.http, channel("instagram", IG), Outgoing(message_id=1, to=IGSID, text="Oi")
    )
    assert result.provider_message_id == "m_fake_1"
    assert graph.fake.last.path == f"/v21.0/{IG}/messages"
    assert graph.fake.last.json == {
        "recipient": {"id": IGSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Oi"},
    }


async def test_send_whatsapp_text(graph: Graph) -> None:
    result = await graph.adapter.send(
        graph.http, channel("whatsapp", PNID), Outgoing(message_id=1, to="5511999990001", text="Olá")
    )
    assert result.provider_message_id == "wamid.fake.1"
    assert graph.fake.last.path == f"/v21.0/{PNID}/messages"
    assert graph.fake.last.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert graph.fake.last.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511999990001",
        "type": "text",
        "text": {"body": "Olá", "preview_url": False},
    }


async def test_send_whatsapp_image_with_caption(graph: Graph) -> None:
    message = Outgoing(
        1, "5511999990001", "Seu pedido", (Attachment("image", "https://files.example.com/p.jpg"),)
    )
    await graph.adapter.send(graph.http, channel("whatsapp", PNID), message)
    assert graph.fake.last.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511999990001",
        "type": "image",
        "image": {"link": "https://files.example.com/p.jpg", "caption": "Seu pedido"},
    }


async def test_send_whatsapp_document_with_filename(graph: Graph) -> None:
    doc = Attachment("file", "https://files.example.com/boleto.pdf", "application/pdf", "boleto.pdf")
    await graph.adapter.send(
        graph.http, channel("whatsapp", PNID), Outgoing(1, "5511999990001", None, (doc,))
    )
    assert graph.fake.last.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511999990001",
        "type": "document",
        "document": {"link": "https://files.example.com/boleto.pdf", "filename": "boleto.pdf"},
    }


async def test_send_whatsapp_audio_sends_text_apart(graph: Graph) -> None:
    voice = Attachment("audio", "https://files.example.com/v.ogg", "audio/ogg")
    await graph.adapter.send(
        graph.http, channel("whatsapp", PNID), Outgoing(1, "5511999990001", "Ouça", (voice,))
    )
    assert [(r.json["type"], r.json[r.json["type"]]) for r in graph.fake.requests] == [
        ("text", {"body": "Ouça", "preview_url": False}),
        ("audio", {"link": "https://files.example.com/v.ogg"}),
    ]


async def test_send_500_is_retryable(graph: Graph) -> None:
    graph.fake.script(500)
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel(), out())
    assert caught.value.permanent is False


async def test_send_429_reads_retry_after_http_date(graph: Graph) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    graph.fake.script(Reply.rate_limited(format_datetime(when, usegmt=True)))
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel(), out())
    assert caught.value.permanent is False
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


async def test_send_429_reads_retry_after_seconds(graph: Graph) -> None:
    graph.fake.script(Reply.rate_limited(30))
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel("whatsapp", PNID), out())
    assert (caught.value.permanent, caught.value.retry_after) == (False, 30.0)


async def test_send_400_outside_window_is_permanent_and_readable(graph: Graph) -> None:
    graph.fake.script(
        graph_error(
            f"(#10) This message is sent outside of allowed window. token={ACCESS_TOKEN}",
            code=10,
            subcode=2018278,
        )
    )
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel(), out())
    err = caught.value
    assert err.permanent is True
    assert err.reason == (
        f"Meta: {WINDOW}(#10) This message is sent outside of allowed window. token=***"
        " (code 10, subcode 2018278)"
    )
    assert ACCESS_TOKEN not in str(err)


async def test_send_whatsapp_131047_is_outside_window(graph: Graph) -> None:
    graph.fake.script(
        graph_error(
            "Re-engagement message", code=131047, details="More than 24 hours have passed.", status=400
        )
    )
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel("whatsapp", PNID), out())
    assert caught.value.permanent is True
    assert (
        caught.value.reason
        == f"Meta: {WINDOW}Re-engagement message: More than 24 hours have passed. (code 131047)"
    )


async def test_send_400_rate_limit_code_is_retryable(graph: Graph) -> None:
    graph.fake.script(graph_error("(#4) Application request limit reached", code=4))
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel(), out())
    assert caught.value.permanent is False


async def test_send_bad_token_is_permanent(graph: Graph) -> None:
    bad = ChannelConfig(2, 1, "messenger", "meta", "x", PAGE, {"access_token": "EAAGwrongtoken"})
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, bad, out())
    assert caught.value.permanent is True
    assert caught.value.reason.startswith("Meta: The access token is invalid or expired.")
    assert "EAAGwrongtoken" not in caught.value.reason


async def test_send_4xx_without_body_falls_back_to_status(graph: Graph) -> None:
    graph.fake.script(Reply(status=404, body=b"not found"))
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel(), out())
    assert (caught.value.permanent, caught.value.reason) == (True, "Meta: HTTP 404")


async def test_send_2xx_without_id_is_retryable(graph: Graph) -> None:
    graph.fake.script(Reply(json={"recipient_id": PSID}))
    with pytest.raises(SendError) as caught:
        await graph.adapter.send(graph.http, channel(), out())
    assert caught.value.permanent is False


async def test_send_timeout_is_retryable() -> None:
    app, fake = graph_app()
    fake.script(Reply(delay=0.5))
    async with serve(app) as base_url, httpx.AsyncClient(timeout=0.1) as http:
        with pytest.raises(SendError) as caught:
            await MetaAdapter(base_url).send(http, channel(), out())
    assert caught.value.permanent is False
    assert "timed out" in caught.value.reason
