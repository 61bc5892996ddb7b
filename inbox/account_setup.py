"""Account setup (issue 14): check a provider account's token, import its channels, send a test message.

Owns the orchestration shared by the CLI and the admin API: provider calls through the adapters'
`AccountSetup` capability (never a provider named here), each bounded by `setup_timeout_seconds` and
made outside any database transaction; writes go through inbox/actions/channel_setup.py. Every
failure is an `ActionError` with one readable line: never a traceback, never a token.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select

from channels.base import AccountChannel, AccountSetup, Outgoing, SendError, SetupError
from channels.registry import account_setups
from inbox import models as m
from inbox.actions import channel_setup
from inbox.errors import ActionError, Invalid, NotFound

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from inbox.runtime import Runtime

T = TypeVar("T")


class ProviderFailed(ActionError):
    """The provider refused, failed or did not answer: 422 for a refused token (the admin's input),
    502 for a provider that is down or answers nonsense, 504 when it is too slow."""

    code = "provider_failed"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def setup_adapter(rt: Runtime, provider: str | None) -> tuple[str, AccountSetup]:
    """The provider's account-setup capability; without a name, the first provider that has one."""
    capable = account_setups(rt.adapters)
    if not capable:
        raise Invalid("no provider can connect an account")
    name = provider or next(iter(capable))
    if name not in capable:
        raise Invalid(f"provider must be one of {', '.join(capable)}, not {name!r}")
    return name, capable[name]


async def _bounded(rt: Runtime, call: Awaitable[T]) -> T:
    seconds = rt.settings.setup_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:
        raise ProviderFailed(f"the provider did not answer within {seconds:g} s", 504) from None
    except SetupError as exc:
        status = {"unauthorized": 422, "unavailable": 502, "unexpected": 502}[exc.cause]
        raise ProviderFailed(exc.reason, status) from None


async def _known(rt: Runtime, provider: str, tenant_id: int | None) -> dict[str, list[dict[str, Any]]]:
    """external id -> this inbox's channels on it (the tenant's only, when given)."""
    c = m.channels.c
    q = select(c.id, c.tenant_id, c.name, c.external_id, c.disabled_at).where(c.provider == provider)
    if tenant_id is not None:
        q = q.where(c.tenant_id == tenant_id)
    found: dict[str, list[dict[str, Any]]] = {}
    async with rt.engine.connect() as conn:
        for r in await conn.execute(q.order_by(c.id)):
            found.setdefault(r.external_id or "", []).append(
                {"id": r.id, "tenant_id": r.tenant_id, "name": r.name, "disabled": r.disabled_at is not None}
            )
    return found


def _listed(item: AccountChannel, here: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "external_id": item.external_id,
        "kind": item.kind,
        "network": item.network,
        "name": item.name,
        "supported": item.kind is not None,
        "channels": here,  # this inbox's channels already on it (empty: not imported yet)
    }


async def check(
    rt: Runtime, token: str, *, provider: str | None = None, tenant_id: int | None = None
) -> dict[str, Any]:
    """The account's channels as the provider lists them, each with this inbox's channels on it."""
    if not token.strip():
        raise Invalid("token must not be empty")
    name, setup = setup_adapter(rt, provider)
    listed = await _bounded(rt, setup.list_account_channels(rt.http, token.strip()))
    known = await _known(rt, name, tenant_id)
    return {"provider": name, "channels": [_listed(i, known.get(i.external_id, [])) for i in listed]}


def _public_base(rt: Runtime, public_url: str | None) -> str | None:
    base = (public_url or rt.settings.public_url or "").strip().rstrip("/")
    if base and not base.startswith(("http://", "https://")):
        raise Invalid("public_url must start with http:// or https://")
    return base or None


async def import_account(
    rt: Runtime, tenant_id: int, token: str, *, provider: str | None = None, public_url: str | None = None
) -> dict[str, Any]:
    """One channel per provider channel (idempotent), the token sealed, webhooks subscribed at
    `public_url` (or INBOX_PUBLIC_URL) + the channel's webhook path. Without a public URL nothing is
    subscribed and each channel's path is returned for pasting."""
    token = token.strip()
    if not token:
        raise Invalid("token must not be empty")
    base = _public_base(rt, public_url)
    name, setup = setup_adapter(rt, provider)
    listed = await _bounded(rt, setup.list_account_channels(rt.http, token))
    secret_name = setup.account_option.name
    items: list[dict[str, Any]] = []
    for hub in listed:
        item: dict[str, Any] = {"external_id": hub.external_id, "network": hub.network, "name": hub.name}
        items.append(item)
        if hub.kind is None:
            item["skipped"] = f"the inbox does not serve {hub.network} channels"
            continue
        async with rt.uow() as uow:
            channel, created = await channel_setup.import_channel(
                uow,
                tenant_id,
                provider=name,
                kind=hub.kind,
                name=hub.name,
                external_id=hub.external_id,
                secret_name=secret_name,
                token=token,
            )
        item.update(channel=channel, created=created, webhook_url=None, subscriptions=None, error=None)
        if base is None:
            continue
        item["webhook_url"] = base + channel["webhook_path"]
        try:
            done = await _bounded(rt, setup.subscribe(rt.http, token, hub, item["webhook_url"]))
            item["subscriptions"] = dict(done.outcomes)
        except ProviderFailed as exc:
            # The channel exists; its subscription can be retried by importing again.
            item["error"] = exc.message
    async with rt.uow() as uow:
        await channel_setup.record(
            uow,
            tenant_id,
            "account.imported",
            provider=name,
            public_url=base,
            created=sum(1 for i in items if i.get("created")),
            channels=[i["external_id"] for i in items],
        )
    return {
        "provider": name,
        "public_url": base,
        "note": None
        if base
        else "INBOX_PUBLIC_URL is not set: nothing was subscribed. In the provider's panel, point each "
        "channel's webhook at https://YOUR-PUBLIC-HOST + its webhook_path.",
        "items": items,
    }


async def test_send(
    rt: Runtime, channel_id: int, to: str, text: str, *, tenant_id: int | None = None
) -> dict[str, Any]:
    """One message through the channel's adapter, outside the outbox (nothing stored but an audit row):
    `{"ok": true, "provider_message_id"}` or `{"ok": false, "reason"}` as the provider gave it."""
    to, text = to.strip(), text.strip()
    if not to:
        raise Invalid("to must not be empty")
    if not text:
        raise Invalid("text must not be empty")
    channel = await rt.directory.by_id(channel_id)
    if channel is None or (tenant_id is not None and channel.tenant_id != tenant_id):
        raise NotFound(f"unknown channel {channel_id}")
    adapter = rt.adapters.get(channel.provider)
    if adapter is None:
        raise Invalid(f"channel {channel_id} has an unknown provider")
    result: dict[str, Any]
    try:
        async with asyncio.timeout(rt.settings.setup_timeout_seconds):
            sent = await adapter.send(rt.http, channel, Outgoing(message_id=0, to=to, text=text))
        result = {"ok": True, "provider_message_id": sent.provider_message_id}
    except TimeoutError:
        result = {"ok": False, "reason": f"no answer within {rt.settings.setup_timeout_seconds:g} s"}
    except SendError as exc:
        result = {"ok": False, "reason": exc.reason}
    async with rt.uow() as uow:
        await channel_setup.record(
            uow, channel.tenant_id, "channel.test_sent", channel_id=channel_id, to=to, ok=result["ok"]
        )
    return result
