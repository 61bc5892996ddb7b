"""The bot's settings over HTTP: the tenant's layer, a channel's on/off switch and override layer, usage.

Routes translate HTTP to `bot.config` writes and reads; they never call the model. Admins change,
supervisors and admins read. Everything is scoped to the caller's tenant (another tenant's channel is 404).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import config, stats
from bot.config import BotSettings
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.api.schemas import Figures
from inbox.errors import Invalid
from inbox.openapi import Op


class ChannelBot(BaseModel):
    """`enabled` turns the channel's bot on or off; `settings` replaces its override layer
    (null clears it)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    settings: BotSettings | None = None


@authenticated("supervisor", "admin")
async def get_tenant(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        return JSONResponse(await config.tenant_bot_settings(uow, principal(request).tenant_id))


@authenticated("admin")
async def put_tenant(request: Request) -> Response:
    layer = await body(request, BotSettings)
    async with runtime(request).uow() as uow:
        result = await config.set_tenant_bot_settings(
            uow, principal(request).tenant_id, layer.model_dump(exclude_none=True, mode="json")
        )
    return JSONResponse(result)


@authenticated("supervisor", "admin")
async def get_channel(request: Request) -> Response:
    channel_id = int_param(request, "channel_id")
    async with runtime(request).uow() as uow:
        return JSONResponse(await config.channel_bot_settings(uow, principal(request).tenant_id, channel_id))


@authenticated("admin")
async def put_channel(request: Request) -> Response:
    channel_id = int_param(request, "channel_id")
    data = await body(request, ChannelBot)
    rt = runtime(request)
    given = "settings" in data.model_fields_set
    async with rt.uow() as uow:
        result = await config.set_channel_bot(
            uow,
            principal(request).tenant_id,
            channel_id,
            enabled=data.enabled,
            raw=data.settings.model_dump(exclude_none=True, mode="json") if data.settings else None,
            replace_settings=given,
            has_api_key=bool(rt.settings.openai_api_key),
        )
    return JSONResponse(result)


@authenticated("supervisor", "admin")
async def get_usage(request: Request) -> Response:
    since = None
    if raw := request.query_params.get("since"):
        try:
            since = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise Invalid("since must be an ISO 8601 timestamp") from exc
    async with runtime(request).engine.connect() as conn:
        return JSONResponse(await stats.usage(conn, principal(request).tenant_id, since=since))


routes = [
    Route("/api/settings/bot", get_tenant, methods=["GET"]),
    Route("/api/settings/bot", put_tenant, methods=["PUT"]),
    Route("/api/channels/{channel_id}/bot", get_channel, methods=["GET"]),
    Route("/api/channels/{channel_id}/bot", put_channel, methods=["PUT"]),
    Route("/api/bot/usage", get_usage, methods=["GET"]),
]

# The OpenAPI description of these routes (inbox/openapi.py; the composition hands it in).
_STAFF, _ADMIN = ("supervisor", "admin"), ("admin",)
OPERATIONS = {
    ("GET", "/api/settings/bot"): Op("The tenant's bot settings", Figures, roles=_STAFF),
    ("PUT", "/api/settings/bot"): Op(
        "Replace the tenant's bot settings", Figures, body=BotSettings, roles=_ADMIN
    ),
    ("GET", "/api/channels/{channel_id}/bot"): Op(
        "A channel's bot switch and override", Figures, roles=_STAFF
    ),
    ("PUT", "/api/channels/{channel_id}/bot"): Op(
        "Turn a channel's bot on or off, set its override", Figures, body=ChannelBot, roles=_ADMIN
    ),
    ("GET", "/api/bot/usage"): Op(
        "Bot turns, tokens and latency since a time",
        Figures,
        roles=_STAFF,
        query={"since": {"type": "string"}},
    ),
}
