"""Test helpers: a running app on a real socket, tenants with agents and channels, HTTP clients.

Every test makes its own tenant, so one app and one database per backend serve the whole session
and tests stay isolated by the same tenant scoping the product relies on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from inbox.actions import admin, sessions
from inbox.app import create_app
from inbox.config import Settings
from inbox.runtime import Runtime
from inbox.tls import tls_context
from inbox.workers import search_index
from tests.fakes.serve import serve

PASSWORD = "correct horse battery"


@dataclass
class Agent:
    id: int
    email: str
    role: str
    token: str
    http: httpx.AsyncClient
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Channel:
    id: int
    kind: str
    provider: str
    webhook_path: str
    data: dict[str, Any]
    app_secret: str | None = None
    verify_token: str | None = None
    external_id: str | None = None


class App:
    """A running `inbox` app: its base URL, its runtime (for direct reads in assertions)."""

    def __init__(self, base_url: str, runtime: Runtime, routes: list[Any] | None = None) -> None:
        self._routes = routes or []
        self.base_url = base_url
        self.ws_url = "ws" + base_url[4:]
        self.runtime = runtime
        # The process's TLS context: a client of its own would parse the CA bundle again, holding the
        # event loop 0.1-0.3 s per agent under load (inbox/tls.py).
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30, verify=tls_context())
        self._clients: list[httpx.AsyncClient] = [self.http]

    def runtime_routes(self) -> list[Any]:
        """The app's route table (the test app is the ASGI app served on `base_url`)."""
        return list(self._routes)

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30, verify=tls_context())
        self._clients.append(c)
        return c

    async def close(self) -> None:
        for c in self._clients:
            await c.aclose()

    async def searchable(self) -> None:
        """Every message committed so far in the full-text index (SQLite feeds it after commit, about
        a second later: inbox/workers/search_index.py). The tests' apps run no workers."""
        await search_index.catch_up(self.runtime)

    async def tenant(self, name: str = "Tenant") -> Tenant:
        async with self.runtime.uow() as uow:
            t = await admin.create_tenant(uow, f"{name} {secrets.token_hex(3)}")
        tenant = Tenant(self, t["id"])
        tenant.admin = await tenant.agent(role="admin")
        return tenant

    async def post_webhook(self, channel: Channel, payload: Any, *, sign: bool = True) -> httpx.Response:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if channel.provider == "meta" and sign:
            assert channel.app_secret
            digest = hmac.new(channel.app_secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        return await self.http.post(channel.webhook_path, content=raw, headers=headers)


class Tenant:
    def __init__(self, app: App, tenant_id: int) -> None:
        self.app = app
        self.id = tenant_id
        self.admin: Agent

    async def agent(self, role: str = "agent", capacity: int = 5, name: str | None = None) -> Agent:
        email = f"{role}-{secrets.token_hex(5)}@example.com"
        async with self.app.runtime.uow() as uow:
            data = await admin.create_agent(
                uow,
                self.id,
                email=email,
                name=name or email.split("@")[0],
                password=PASSWORD,
                role=role,
                capacity=capacity,
            )
            # Signed in without the login route's effects (presence: logging in brings an agent
            # online; audit; lockouts): test agents start offline. Tests of login call the route.
            token = await sessions.issue_token(uow, self.id, data["id"])
        return Agent(data["id"], email, role, token, self.app.client(token), data)

    async def channel(
        self,
        kind: str = "whatsapp",
        provider: str = "notificame",
        *,
        bot: bool = False,
        queue_id: int | None = None,
        settings: dict[str, Any] | None = None,
        external_id: str | None = None,
    ) -> Channel:
        if provider == "notificame":
            external_id = external_id or f"nm-{secrets.token_hex(8)}"
            secrets_ = {"notificame_token": f"nm-token-{secrets.token_hex(8)}"}
        else:
            external_id = external_id or str(10**14 + secrets.randbelow(10**14))
            secrets_ = {
                "app_secret": f"app-secret-{secrets.token_hex(8)}",
                "verify_token": f"verify-{secrets.token_hex(4)}",
                "access_token": f"EAA{secrets.token_hex(12)}",
            }
        async with self.app.runtime.uow() as uow:
            data = await admin.create_channel(
                uow,
                self.id,
                kind=kind,
                provider=provider,
                name=f"{kind} {provider}",
                external_id=external_id,
                secrets_=secrets_,
                bot=bot,
                queue_id=queue_id,
                settings=settings,
            )
        return Channel(
            data["id"],
            kind,
            provider,
            data["webhook_path"],
            data,
            app_secret=secrets_.get("app_secret"),
            verify_token=secrets_.get("verify_token"),
            external_id=external_id,
        )


def now_iso() -> str:
    """Now, as providers stamp a message (its time counts for the messaging window)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[App]:
    """Start an app (lifespan included) on a free loopback port."""
    asgi = create_app(settings)
    async with serve(asgi) as base_url:
        app = App(base_url, asgi.state.runtime, asgi.routes)
        try:
            yield app
        finally:
            await app.close()


def notificame_message(
    channel: Channel,
    *,
    text: str = "Olá",
    sender: str | None = None,
    name: str | None = "Maria Silva",
    message_id: str | None = None,
    direction: str = "IN",
    contents: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Notifica.me (Zenvia v2 shaped) MESSAGE event."""
    sender = sender or f"55119{secrets.randbelow(10**8):08d}"
    nm_channel = {"messenger": "facebook"}.get(channel.kind, channel.kind)
    message: dict[str, Any] = {
        "id": message_id or secrets.token_hex(12),
        "from": sender if direction == "IN" else channel.external_id,
        "to": channel.external_id if direction == "IN" else sender,
        "direction": direction,
        "channel": nm_channel,
        "contents": contents or [{"type": "text", "text": text}],
        "timestamp": now_iso(),
    }
    if name and direction == "IN":
        message["visitor"] = {"name": name}
    return {
        "id": secrets.token_hex(8),
        "timestamp": now_iso(),
        "type": "MESSAGE",
        "subscriptionId": "sub-1",
        "channel": nm_channel,
        "direction": direction,
        "message": message,
    }


def notificame_status(message_id: str, code: str, description: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"timestamp": now_iso(), "code": code}
    if description:
        status["description"] = description
    return {
        "id": secrets.token_hex(8),
        "timestamp": now_iso(),
        "type": "MESSAGE_STATUS",
        "subscriptionId": "sub-1",
        "channel": "whatsapp",
        "messageId": message_id,
        "messageStatus": status,
    }


def whatsapp_cloud_message(
    channel: Channel,
    *,
    text: str = "Oi",
    wa_id: str | None = None,
    name: str = "João",
    message_id: str | None = None,
) -> dict[str, Any]:
    wa_id = wa_id or f"55219{secrets.randbelow(10**8):08d}"
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "5511000000000",
                                "phone_number_id": channel.external_id,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": message_id or f"wamid.{secrets.token_hex(16)}",
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
