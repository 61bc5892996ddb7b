"""Admin API: routing settings, queues and their members, agents (create, capacity, role, disable),
a channel's queue. Everything is the caller's tenant; another tenant's ids are 404.

Supervisors may read and staff the queues (membership, capacity); admins may also change settings,
roles, channels and create or disable agents. Writes go through inbox/actions/teams.py and admin.py.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import models as m
from inbox.actions import admin, teams
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.errors import Forbidden, Invalid
from inbox.validation import DbId

# Open conversations an agent may hold at once; beyond a column's range was a 500.
MAX_CAPACITY = 10_000


class RoutingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_assign: bool | None = None
    assign_roles: list[str] | None = None
    requeue_offline_after_seconds: int | None = None
    sla_first_response_seconds: int | None = None
    timezone: str | None = None


class QueueIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class MembersIn(BaseModel):
    agent_ids: list[DbId] = Field(max_length=1000)


class AgentIn(BaseModel):
    email: str
    name: str
    # Left out: a password is generated and answered once, for the admin to hand over (an invite).
    password: str | None = None
    role: str = "agent"
    capacity: int = Field(default=5, ge=0, le=MAX_CAPACITY)


class AgentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    role: str | None = None


class ChannelChange(BaseModel):
    """Any subset; `queue_id: null` clears the queue (so presence, not value, says what changes)."""

    model_config = ConfigDict(extra="forbid")

    queue_id: DbId | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    disabled: bool | None = None


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


@authenticated("supervisor", "admin")
async def get_routing(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        return _json(await teams.get_routing(uow, principal(request).tenant_id))


@authenticated("admin")
async def patch_routing(request: Request) -> Response:
    data = await body(request, RoutingIn)
    async with runtime(request).uow() as uow:
        result = await teams.update_routing(
            uow, principal(request).tenant_id, data.model_dump(exclude_unset=True)
        )
    return _json(result)


@authenticated("supervisor", "admin")
async def list_queues(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        return _json({"items": await teams.list_queues(uow, principal(request).tenant_id)})


@authenticated("admin")
async def create_queue(request: Request) -> Response:
    data = await body(request, QueueIn)
    async with runtime(request).uow() as uow:
        q = await admin.create_queue(uow, principal(request).tenant_id, data.name)
    return _json({**q, "agent_ids": []}, 201)


@authenticated("supervisor", "admin")
async def set_members(request: Request) -> Response:
    data = await body(request, MembersIn)
    async with runtime(request).uow() as uow:
        q = await teams.set_members(
            uow, principal(request).tenant_id, int_param(request, "id"), data.agent_ids
        )
    return _json(q)


@authenticated("admin")
async def create_agent(request: Request) -> Response:
    data = await body(request, AgentIn)
    generated = secrets.token_urlsafe(12) if data.password is None else None
    values = {**data.model_dump(), "password": data.password or generated}
    async with runtime(request).uow() as uow:
        agent = await admin.create_agent(uow, principal(request).tenant_id, **values)
    return _json({**agent, "password": generated} if generated else agent, 201)


@authenticated("supervisor", "admin")
async def patch_agent(request: Request) -> Response:
    data = await body(request, AgentChange)
    p = principal(request)
    if data.role is not None and p.role != "admin":
        raise Forbidden("only admins change roles")
    async with runtime(request).uow() as uow:
        agent = await teams.update_agent(
            uow, p.tenant_id, int_param(request, "id"), capacity=data.capacity, role=data.role
        )
    return _json(agent)


@authenticated("admin")
async def disable_agent(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        agent = await admin.disable_agent(uow, principal(request).tenant_id, int_param(request, "id"))
    return _json(agent)


@authenticated("supervisor", "admin")
async def list_channels(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        return _json({"items": await admin.list_channels(uow, principal(request).tenant_id)})


@authenticated("admin")
async def patch_channel(request: Request) -> Response:
    data = await body(request, ChannelChange)
    given = data.model_fields_set
    values: dict[str, Any] = {}
    if data.name is not None:
        if not data.name.strip():
            raise Invalid("name must not be empty")
        values["name"] = data.name.strip()
    if data.disabled is not None:
        values["disabled_at"] = m.utcnow() if data.disabled else None
    if not values and "queue_id" not in given:
        raise Invalid("nothing to change: give queue_id, name or disabled")
    tenant_id, channel_id = principal(request).tenant_id, int_param(request, "id")
    async with runtime(request).uow() as uow:
        if "queue_id" in given:
            ch = await teams.set_channel_queue(uow, tenant_id, channel_id, data.queue_id)
        if values:
            ch = await admin.update_channel(uow, tenant_id, channel_id, **values)
    return _json(ch)


routes = [
    Route("/api/admin/routing", get_routing, methods=["GET"]),
    Route("/api/admin/routing", patch_routing, methods=["PATCH"]),
    Route("/api/admin/queues", list_queues, methods=["GET"]),
    Route("/api/admin/queues", create_queue, methods=["POST"]),
    Route("/api/admin/queues/{id}/members", set_members, methods=["PUT"]),
    Route("/api/admin/agents", create_agent, methods=["POST"]),
    Route("/api/admin/agents/{id}", patch_agent, methods=["PATCH"]),
    Route("/api/admin/agents/{id}/disable", disable_agent, methods=["POST"]),
    Route("/api/admin/channels", list_channels, methods=["GET"]),
    Route("/api/admin/channels/{id}", patch_channel, methods=["PATCH"]),
]
