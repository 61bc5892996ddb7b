"""Admin routes of account setup (issue 14): providers and their channel options, account check and
import, a channel created from a form, a test send, a new webhook key, channel health.

Thin: translate HTTP to inbox/account_setup.py, the channel actions and inbox/health.py. Admins only
(health also for supervisors); everything is the caller's tenant. Secrets go in, never out: a created
channel answers which secrets are set, and the verify token the admin typed, to paste, that once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.registry import account_options, adapter_class, channel_fields, providers
from inbox import account_setup, health
from inbox.actions import admin, channel_setup
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.errors import Invalid
from inbox.validation import DbId


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=500)
    provider: str | None = None


class ImportIn(CheckIn):
    public_url: str | None = Field(default=None, max_length=500)


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    provider: str
    name: str = Field(min_length=1, max_length=200)
    # Provider options by `Option.dest` (external_id, app_secret, verify_token, ...).
    options: dict[str, str | bool] = Field(default_factory=dict)
    queue_id: DbId | None = None


class TestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=4096)


@authenticated("admin")
async def describe(request: Request) -> Response:
    """What the setup pages need: providers, their channel options, which can import an account."""
    rt = runtime(request)
    account = account_options()
    return JSONResponse(
        {
            "public_url": rt.settings.public_url,
            "providers": [
                {
                    "provider": name,
                    "kinds": list(cls.kinds),
                    "account_import": name in account,
                    "options": [
                        {
                            "dest": o.dest,
                            "target": o.target,
                            "name": o.name,
                            "help": o.help,
                            "required": o.required,
                        }
                        for o in cls.options
                    ],
                }
                for name in providers()
                if (cls := adapter_class(name)) is not None
            ],
        }
    )


@authenticated("admin")
async def check(request: Request) -> Response:
    data = await body(request, CheckIn)
    result = await account_setup.check(
        runtime(request), data.token, provider=data.provider, tenant_id=principal(request).tenant_id
    )
    return JSONResponse(result)


@authenticated("admin")
async def import_account(request: Request) -> Response:
    data = await body(request, ImportIn)
    result = await account_setup.import_account(
        runtime(request),
        principal(request).tenant_id,
        data.token,
        provider=data.provider,
        public_url=data.public_url,
    )
    return JSONResponse(result)


@authenticated("admin")
async def create_channel(request: Request) -> Response:
    data = await body(request, ChannelIn)
    cls = adapter_class(data.provider)
    if cls is None:
        raise Invalid(f"provider must be one of {', '.join(providers())}, not {data.provider!r}")
    known = {o.dest for o in cls.options}
    unknown = sorted(set(data.options) - known)
    if unknown:
        raise Invalid(
            f"options: {', '.join(unknown)} not known for {data.provider} (use {', '.join(sorted(known))})"
        )
    external_id, secrets_, settings = channel_fields(data.provider, data.options)
    async with runtime(request).uow() as uow:
        channel = await admin.create_channel(
            uow,
            principal(request).tenant_id,
            kind=data.kind,
            provider=data.provider,
            name=data.name,
            external_id=external_id,
            secrets_=secrets_,
            queue_id=data.queue_id,
            settings=settings,
        )
    # Shown this once, to paste in the provider's panel: the admin just typed it.
    paste = {o.name: secrets_[o.name] for o in cls.options if o.paste and secrets_.get(o.name)}
    return JSONResponse(
        {**channel, "secrets": {k: "set" for k, v in secrets_.items() if v}, "paste": paste}, status_code=201
    )


@authenticated("admin")
async def test_send(request: Request) -> Response:
    channel_id = int_param(request, "id")
    data = await body(request, TestIn)
    result = await account_setup.test_send(
        runtime(request), channel_id, data.to, data.text, tenant_id=principal(request).tenant_id
    )
    return JSONResponse(result)


@authenticated("admin")
async def rotate_key(request: Request) -> Response:
    channel_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        channel = await channel_setup.rotate_webhook_key(uow, principal(request).tenant_id, channel_id)
    return JSONResponse(channel)


@authenticated("supervisor", "admin")
async def channel_health(request: Request) -> Response:
    items: list[dict[str, Any]] = await health.report(runtime(request), principal(request).tenant_id)
    return JSONResponse({"items": items})


routes = [
    Route("/api/admin/setup", describe, methods=["GET"]),
    Route("/api/admin/setup/check", check, methods=["POST"]),
    Route("/api/admin/setup/import", import_account, methods=["POST"]),
    Route("/api/admin/channels", create_channel, methods=["POST"]),
    Route("/api/admin/channels/{id}/test", test_send, methods=["POST"]),
    Route("/api/admin/channels/{id}/rotate-key", rotate_key, methods=["POST"]),
    Route("/api/channels/health", channel_health, methods=["GET"]),
]
