"""Notifica.me adapter: fixtures -> exact events, and sends over real HTTP to the fake Hub."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

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
)
from channels.notificame import NotificameAdapter
from tests.fakes.notificame import FakeNotificame, Reply, notificame_app, zenvia_error
from tests.fakes.serve import serve

FIXTURES = Path(__file__).parent / "fixtures" / "notificame"
HUB_CHANNEL = "3f1c2a9e-5b7d-4e8a-9c61-0d2e4f6a8b10"
TOKEN = "nm-token-s3cr3t-value"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T_STATUS = datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
MARIA = ContactRef("whatsapp", "5511999990001", "Maria Souza")

adapter = NotificameAdapter(api_url="https://hub.invalid/v1")


def channel(kind: str = "whatsapp") -> ChannelConfig:
    return ChannelConfig(
        id=1,
        tenant_id=1,
        kind=kind,  # type: ignore[arg-type]
        provider="notificame",
        name="Loja",
        external_id=HUB_CHANNEL,
        secrets={"notificame_token": TOKEN},
    )


def parse(name: str, kind: str = "whatsapp") -> list[InboundEvent]:
    return adapter.parse(channel(kind), (FIXTURES / f"{name}.json").read_bytes())


# ---------------------------------------------------------------------------------------------------
# parse: one fixture per case

CASES: dict[str, list[InboundEvent]] = {
    "text_in": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.HBgNNTUxMTk5OTk5MDAwMRUCABIYFjNFQjBDMEQ1",
            kind="text",
            text="Olá, preciso de ajuda com meu pedido",
            timestamp=T0,
        )
    ],
    "text_out_echo": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="nm-out-0001",
            kind="text",
            text="Claro! Qual o número do pedido?",
            timestamp=T0,
            direction="out",
        )
    ],
    "image_caption": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.image1",
            kind="image",
            text="Foto do produto com defeito",
            attachments=(
                Attachment(
                    "image", "https://files.example.com/media/photo-1.jpg", "image/jpeg", "photo-1.jpg"
                ),
            ),
            timestamp=T0,
        )
    ],
    "audio": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.audio1",
            kind="audio",
            attachments=(
                Attachment("audio", "https://files.example.com/media/voice-1.ogg", "audio/ogg; codecs=opus"),
            ),
            timestamp=T0,
        )
    ],
    "document": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.doc1",
            kind="file",
            attachments=(
                Attachment(
                    "file",
                    "https://files.example.com/media/nota-fiscal.pdf",
                    "application/pdf",
                    "nota-fiscal.pdf",
                ),
            ),
            timestamp=T0,
        )
    ],
    "video": [
        MessageReceived(
            contact=ContactRef("instagram", "17841400000000001", "Ana Lima"),
            provider_message_id="aWdfZAG1faXRlbTo1",
            kind="video",
            attachments=(Attachment("video", "https://files.example.com/media/clip.mp4", "video/mp4"),),
            timestamp=T0,
        )
    ],
    "location": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.loc1",
            kind="location",
            text=(
                "Loja Paulista\nAv. Paulista, 1578 - São Paulo\n-23.561414,-46.655881\n"
                "https://maps.google.com/?q=-23.561414,-46.655881"
            ),
            timestamp=T0,
        )
    ],
    "contacts": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.contacts1",
            kind="contacts",
            text="Contact: João Pereira, +55 11 98888-7777, joao@example.com, Pereira Ltda",
            timestamp=T0,
        )
    ],
    "multiple_contents": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.multi1",
            kind="image",
            text="Segue o comprovante\ne a foto\ncomprovante",
            attachments=(
                Attachment("image", "https://files.example.com/media/receipt.png", "image/png"),
                Attachment(
                    "file", "https://files.example.com/media/receipt.pdf", "application/pdf", "receipt.pdf"
                ),
            ),
            timestamp=T0,
        )
    ],
    "partly_unknown_content": [
        MessageReceived(
            contact=MARIA,
            provider_message_id="wamid.partly1",
            kind="text",
            text="Quero este\n[unsupported content: product]",
            timestamp=T0,
        )
    ],
    "telegram_text": [
        MessageReceived(
            contact=ContactRef("telegram", "587611234", "Ivan Petrov"),
            provider_message_id="tg-9001",
            kind="text",
            text="Hello from Telegram",
            timestamp=T0,
        )
    ],
    "facebook_text": [
        MessageReceived(
            contact=ContactRef("messenger", "6543210987654321", "Carla Dias"),
            provider_message_id="m_AbCdEf123",
            kind="text",
            text="Hi from Messenger",
            timestamp=T0,
        )
    ],
    "instagram_out_echo": [
        MessageReceived(
            contact=ContactRef("instagram", "17841400000000001"),
            provider_message_id="nm-out-ig-1",
            kind="image",
            text="Nosso catálogo",
            attachments=(Attachment("image", "https://files.example.com/media/catalog.jpg", "image/jpeg"),),
            timestamp=T0,
            direction="out",
        )
    ],
    "status_sent": [StatusUpdate("sent", provider_message_id="nm-out-0001", timestamp=T_STATUS)],
    "status_delivered": [StatusUpdate("delivered", provider_message_id="nm-out-0001", timestamp=T_STATUS)],
    "status_read": [StatusUpdate("read", provider_message_id="nm-out-0001", timestamp=T_STATUS)],
    "status_rejected": [
        StatusUpdate(
            "failed",
            provider_message_id="nm-out-0001",
            error=(
                "The message was rejected: Re-engagement message - More than 24 hours have passed since "
                "the customer last replied (code 131047); Message failed to send"
            ),
            timestamp=T_STATUS,
        )
    ],
    "status_not_delivered": [
        StatusUpdate(
            "failed",
            provider_message_id="nm-out-0001",
            error="Message could not be delivered: User is not a valid WhatsApp user (code 1013)",
            timestamp=T_STATUS,
        )
    ],
    "status_deleted": [MessageDeleted("wamid.HBgNNTUxMTk5OTk5MDAwMRUCABIYFjNFQjBDMEQ1")],
    "other_event_type": [],
}


def test_every_fixture_has_a_case() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names == set(CASES) | {"unknown_content"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_fixture(name: str) -> None:
    assert parse(name) == CASES[name]


def test_unknown_content_is_unsupported_with_raw_message() -> None:
    [event] = parse("unknown_content")
    assert isinstance(event, MessageReceived)
    assert event.kind == "unsupported"
    assert event.provider_message_id == "wamid.unknown1"
    assert event.contact == MARIA
    assert event.text is None
    assert event.raw is not None and event.raw["contents"][0]["type"] == "product"


TEXT_HI = {"type": "text", "text": "hi"}


def test_channel_field_missing_falls_back_to_channel_kind() -> None:
    raw = json.dumps(
        {"type": "MESSAGE", "message": {"id": "x1", "from": "42", "direction": "IN", "contents": [TEXT_HI]}}
    ).encode()
    [event] = adapter.parse(channel("instagram"), raw)
    assert event == MessageReceived(ContactRef("instagram", "42"), "x1", "text", text="hi")


def test_message_without_contact_is_skipped() -> None:
    raw = (
        b'{"type":"MESSAGE","message":{"id":"x1","direction":"IN","contents":[{"type":"text","text":"hi"}]}}'
    )
    assert adapter.parse(channel(), raw) == []


def test_naive_timestamp_is_taken_as_utc() -> None:
    message = {"id": "x", "from": "1", "timestamp": "2024-05-01T12:00:00", "contents": [TEXT_HI]}
    raw = json.dumps({"type": "MESSAGE", "message": message}).encode()
    [event] = adapter.parse(channel(), raw)
    assert isinstance(event, MessageReceived) and event.timestamp == T0


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'"MESSAGE"',
        b"{}",
        b'{"type": 3}',
        b'{"type": "MESSAGE"}',
        b'{"type": "MESSAGE", "message": []}',
        b'{"type": "MESSAGE_STATUS", "messageId": "x"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_not_the_envelope_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidPayload):
        adapter.parse(channel(), raw)


def test_verify_accepts_anything_and_handshake_refuses() -> None:
    adapter.verify(channel(), {}, b"whatever")
    assert adapter.handshake(channel(), {"hub.mode": "subscribe", "hub.challenge": "1"}) is None


# ---------------------------------------------------------------------------------------------------
# send: real HTTP against the fake Hub


@dataclass
class Hub:
    adapter: NotificameAdapter
    fake: FakeNotificame
    http: httpx.AsyncClient


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    app, fake = notificame_app(token=TOKEN)
    async with serve(app) as base_url, httpx.AsyncClient(timeout=2.0) as http:
        yield Hub(NotificameAdapter(api_url=base_url + "/v1"), fake, http)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("whatsapp", "whatsapp"),
        ("instagram", "instagram"),
        ("messenger", "facebook"),
        ("telegram", "telegram"),
    ],
)
async def test_send_text(hub: Hub, kind: str, path: str) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    result = await nm.send(http, channel(kind), Outgoing(message_id=7, to="5511999990001", text="Olá!"))
    assert result.provider_message_id == fake.sent_ids[0]
    req = fake.last
    assert (req.method, req.path) == ("POST", f"/v1/channels/{path}/messages")
    assert req.headers["x-api-token"] == TOKEN
    assert req.headers["content-type"] == "application/json"
    assert req.json == {
        "from": HUB_CHANNEL,
        "to": "5511999990001",
        "contents": [{"type": "text", "text": "Olá!"}],
    }


@pytest.mark.parametrize(
    ("kind", "path"), [("whatsapp", "whatsapp"), ("instagram", "instagram"), ("messenger", "facebook")]
)
async def test_send_file_with_caption(hub: Hub, kind: str, path: str) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    out = Outgoing(
        message_id=8,
        to="c-1",
        text="Segue o boleto",
        attachments=(Attachment("file", "https://files.example.com/b.pdf", "application/pdf", "b.pdf"),),
    )
    await nm.send(http, channel(kind), out)
    assert fake.last.path == f"/v1/channels/{path}/messages"
    assert fake.last.json == {
        "from": HUB_CHANNEL,
        "to": "c-1",
        "contents": [
            {
                "type": "file",
                "fileUrl": "https://files.example.com/b.pdf",
                "fileMimeType": "application/pdf",
                "fileCaption": "Segue o boleto",
            }
        ],
    }


async def test_send_several_files_puts_text_first_and_guesses_mime(hub: Hub) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    out = Outgoing(
        message_id=9,
        to="c-1",
        text="Fotos",
        attachments=(
            Attachment("image", "https://files.example.com/a.png"),
            Attachment("image", "https://files.example.com/b.jpg?sig=1"),
        ),
    )
    await nm.send(http, channel(), out)
    assert fake.last.json["contents"] == [
        {"type": "text", "text": "Fotos"},
        {"type": "file", "fileUrl": "https://files.example.com/a.png", "fileMimeType": "image/png"},
        {"type": "file", "fileUrl": "https://files.example.com/b.jpg?sig=1", "fileMimeType": "image/jpeg"},
    ]


async def test_send_500_is_retryable(hub: Hub) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    fake.script(500)
    with pytest.raises(SendError) as caught:
        await nm.send(http, channel(), Outgoing(message_id=1, to="c", text="x"))
    assert caught.value.permanent is False
    assert "500" in caught.value.reason


async def test_send_429_reads_retry_after(hub: Hub) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    fake.script(Reply.rate_limited(12))
    with pytest.raises(SendError) as caught:
        await nm.send(http, channel(), Outgoing(message_id=1, to="c", text="x"))
    assert caught.value.permanent is False
    assert caught.value.retry_after == 12.0


async def test_send_400_is_permanent_with_readable_reason(hub: Hub) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    fake.script(
        zenvia_error(
            f"Validation error for token {TOKEN}",
            details=[{"code": "INVALID_FORMAT", "path": "to", "message": "must be a phone number"}],
        )
    )
    with pytest.raises(SendError) as caught:
        await nm.send(http, channel(), Outgoing(message_id=1, to="c", text="x"))
    err = caught.value
    assert err.permanent is True
    assert err.reason == (
        "Notifica.me: Validation error for token ***: to: must be a phone number (VALIDATION_ERROR, HTTP 400)"
    )
    assert TOKEN not in str(err)


async def test_send_wrong_token_is_permanent(hub: Hub) -> None:
    nm, http = hub.adapter, hub.http
    bad = ChannelConfig(1, 1, "whatsapp", "notificame", "x", HUB_CHANNEL, {"notificame_token": "wrong-token"})
    with pytest.raises(SendError) as caught:
        await nm.send(http, bad, Outgoing(message_id=1, to="c", text="x"))
    assert caught.value.permanent is True
    assert caught.value.reason == "Notifica.me: Invalid API token (UNAUTHORIZED, HTTP 401)"


async def test_send_non_json_error_falls_back_to_status(hub: Hub) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    fake.script(Reply(status=403, body=b"<html>Forbidden</html>"))
    with pytest.raises(SendError) as caught:
        await nm.send(http, channel(), Outgoing(message_id=1, to="c", text="x"))
    assert (caught.value.permanent, caught.value.reason) == (True, "Notifica.me: HTTP 403")


async def test_send_2xx_without_id_is_retryable(hub: Hub) -> None:
    nm, fake, http = hub.adapter, hub.fake, hub.http
    fake.script(Reply(status=200, json={"status": "ok"}))
    with pytest.raises(SendError) as caught:
        await nm.send(http, channel(), Outgoing(message_id=1, to="c", text="x"))
    assert caught.value.permanent is False


async def test_send_timeout_is_retryable() -> None:
    app, fake = notificame_app()
    fake.script(Reply(delay=0.5))
    async with serve(app) as base_url, httpx.AsyncClient(timeout=0.1) as http:
        with pytest.raises(SendError) as caught:
            await NotificameAdapter(base_url).send(http, channel(), Outgoing(message_id=1, to="c", text="x"))
    assert caught.value.permanent is False
    assert "timed out" in caught.value.reason


async def test_send_connection_refused_is_retryable() -> None:
    from tests.fakes.serve import free_port

    async with httpx.AsyncClient(timeout=1.0) as http:
        with pytest.raises(SendError) as caught:
            await NotificameAdapter(f"http://127.0.0.1:{free_port()}").send(
                http, channel(), Outgoing(message_id=1, to="c", text="x")
            )
    assert caught.value.permanent is False


async def test_send_without_token_or_content_is_permanent() -> None:
    async with httpx.AsyncClient() as http:
        no_token = ChannelConfig(1, 1, "whatsapp", "notificame", "x", HUB_CHANNEL, {})
        with pytest.raises(SendError) as caught:
            await adapter.send(http, no_token, Outgoing(message_id=1, to="c", text="x"))
        assert caught.value.permanent is True
        with pytest.raises(SendError) as caught:
            await adapter.send(http, channel(), Outgoing(message_id=1, to="c"))
        assert caught.value.permanent is True


async def test_fake_follows_its_script_then_succeeds(hub: Hub) -> None:
    """The fake's scripted queue (used by the outbox worker tests): 500, 500, then the normal 200."""
    hub.fake.script(500, 500)
    message = Outgoing(message_id=1, to="c", text="x")
    for _ in range(2):
        with pytest.raises(SendError) as caught:
            await hub.adapter.send(hub.http, channel(), message)
        assert caught.value.permanent is False
    result = await hub.adapter.send(hub.http, channel(), message)
    assert result.provider_message_id == "nm-msg-1" and hub.fake.sent_ids == ["nm-msg-1"]
    assert hub.fake.pending == 0
    assert len(await hub.fake.wait_for(3, within=1.0)) == 3
    with pytest.raises(AssertionError):
        await hub.fake.wait_for(4, within=0.05)
