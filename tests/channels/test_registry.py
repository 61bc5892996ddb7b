"""Adding a provider is one module and one registry line: a toy provider, added to
`channels.registry.ADAPTERS` and nowhere else, gets its CLI options, its validation, its webhook
(POST and the GET handshake), its conversations' window and its window rule in replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import ClassVar, Self

import httpx
import pytest
from sqlalchemy import update

from channels import registry
from channels.base import (
    ChannelConfig,
    ChannelKind,
    ContactRef,
    InboundEvent,
    InvalidPayload,
    MessageReceived,
    Option,
    Outgoing,
    SendError,
    SendResult,
    Unauthorized,
    Window,
)
from inbox import models as m
from inbox.actions import admin
from inbox.cli import build_parser
from inbox.config import Settings
from inbox.errors import Invalid
from tests.support import running_app


class WebchatAdapter:
    """A provider that exists only in this test."""

    provider: ClassVar[str] = "webchat"
    kinds: ClassVar[tuple[ChannelKind, ...]] = ("telegram",)
    options: ClassVar[tuple[Option, ...]] = (
        Option("--webchat-site", "external_id", "external_id", "the site id"),
        Option("--webchat-secret", "secret", "webchat_secret", "the shared secret"),
    )
    env: ClassVar[Mapping[str, str]] = {"WEBCHAT_URL": "http://127.0.0.1:9"}
    window: ClassVar[timedelta | None] = timedelta(hours=1)
    template_kinds: ClassVar[frozenset[ChannelKind]] = frozenset()

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(env.get("WEBCHAT_URL") or cls.env["WEBCHAT_URL"])

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], raw: bytes) -> None:
        if headers.get("x-webchat-secret") != channel.secrets.get("webchat_secret"):
            raise Unauthorized("bad X-Webchat-Secret")

    def handshake(self, channel: ChannelConfig, params: Mapping[str, str]) -> str | None:
        return "webchat-ok" if params.get("ping") == channel.external_id else None

    def parse(self, channel: ChannelConfig, raw: bytes) -> list[InboundEvent]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise InvalidPayload("not JSON") from exc
        contact = ContactRef("telegram", str(body["from"]), body.get("name"))
        return [MessageReceived(contact, str(body["id"]), "text", text=body.get("text"))]

    async def send(self, http: httpx.AsyncClient, channel: ChannelConfig, out: Outgoing) -> SendResult:
        raise SendError("webchat: this test sends nothing", permanent=True)

    def window_rule(self, channel: ChannelConfig, last_inbound_at: datetime | None, now: datetime) -> Window:
        if last_inbound_at is not None and now - last_inbound_at < timedelta(hours=1):
            return Window()
        return Window(refusal="webchat: the visitor left more than an hour ago")


@pytest.fixture
def with_webchat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "ADAPTERS", (*registry.ADAPTERS, WebchatAdapter))


def test_the_registry_derives_every_list(with_webchat: None) -> None:
    assert registry.providers()[-1] == "webchat"
    assert registry.providers_of("telegram") == ["notificame", "webchat"]
    assert registry.env_defaults()["WEBCHAT_URL"] == "http://127.0.0.1:9"
    argv = "channel create --tenant 1 --kind telegram --provider webchat --name W --webchat-site site-1"
    args = build_parser().parse_args([*argv.split(), "--webchat-secret", "s3cret"])
    assert registry.channel_fields("webchat", vars(args)) == ("site-1", {"webchat_secret": "s3cret"}, {})


async def test_a_new_provider_works_end_to_end(with_webchat: None, settings: Settings) -> None:
    async with running_app(settings.but(provider_env={"WEBCHAT_URL": "http://127.0.0.1:1"})) as app:
        assert app.runtime.adapters["webchat"].url == "http://127.0.0.1:1"  # type: ignore[attr-defined]
        tenant = await app.tenant()
        async with app.runtime.uow() as uow:
            with pytest.raises(Invalid, match="webchat channels need --webchat-secret"):
                await admin.create_channel(
                    uow,
                    tenant.id,
                    kind="telegram",
                    provider="webchat",
                    name="W",
                    external_id="site-1",
                    secrets_={},
                )
        async with app.runtime.uow() as uow:
            with pytest.raises(Invalid, match="whatsapp is only available through notificame, meta"):
                await admin.create_channel(
                    uow,
                    tenant.id,
                    kind="whatsapp",
                    provider="webchat",
                    name="W",
                    external_id="site-1",
                    secrets_={"webchat_secret": "s3cret"},
                )
        async with app.runtime.uow() as uow:
            ch = await admin.create_channel(
                uow,
                tenant.id,
                kind="telegram",
                provider="webchat",
                name="W",
                external_id="site-1",
                secrets_={"webchat_secret": "s3cret"},
            )
        path = ch["webhook_path"]
        assert path.startswith("/webhooks/webchat/") and "secrets" not in ch

        assert (await app.http.get(path, params={"ping": "site-1"})).text == "webchat-ok"
        assert (await app.http.get(path, params={"ping": "other"})).status_code == 403
        body = {"from": "visitor-7", "id": "w-1", "text": "olá", "name": "Visitante"}
        assert (await app.http.post(path, json=body)).status_code == 401
        r = await app.http.post(path, json=body, headers={"X-Webchat-Secret": "s3cret"})
        assert r.status_code == 200, r.text

        admin_http = tenant.admin.http
        conv = (await admin_http.get("/api/conversations", params={"channel": ch["id"]})).json()["items"][0]
        closes = datetime.fromisoformat(conv["window_closes_at"])
        inbound = datetime.fromisoformat(conv["last_message_at"])
        assert closes - inbound == timedelta(hours=1)
        ok = await admin_http.post(f"/api/conversations/{conv['id']}/messages", json={"text": "Oi!"})
        assert ok.status_code == 202, ok.text

        async with app.runtime.engine.begin() as conn:
            await conn.execute(
                update(m.conversations)
                .where(m.conversations.c.id == conv["id"])
                .values(last_inbound_at=m.utcnow() - timedelta(hours=2))
            )
        again = {"text": "Ainda aí?"}
        refused = await admin_http.post(f"/api/conversations/{conv['id']}/messages", json=again)
        assert refused.status_code == 422
        assert refused.json()["error"] == "webchat: the visitor left more than an hour ago"
