"""Outgoing webhooks API (admins only): subscribe a URL to event types, list, change (URL, events,
enable, disable), delete, the recent delivery attempts, and a test ping. Another tenant's id is 404.

The secret is answered once, by the create call; no other answer carries it. Writes go through
inbox/actions/hooks.py, which audits them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import hook_ping, hooks
from inbox.actions import hooks as actions
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.errors import Invalid


class HookIn(BaseModel):
    """`url`: http(s), where the events are POSTed; `events`: the types to deliver (422 otherwise)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    events: list[str] = Field(max_length=len(hooks.EVENT_TYPES))


class HookChange(BaseModel):
    """Any subset. `enabled: true` on a disabled subscription resets its failures and resumes it
    where it stopped."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    events: list[str] | None = Field(default=None, max_length=len(hooks.EVENT_TYPES))
    enabled: bool | None = None


@authenticated("admin")
async def list_(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        items = await actions.list_(uow, principal(request).tenant_id)
    return JSONResponse({"items": items, "event_types": list(hooks.EVENT_TYPES)})


@authenticated("admin")
async def create(request: Request) -> Response:
    data = await body(request, HookIn)
    p = principal(request)
    async with runtime(request).uow() as uow:
        out, secret = await actions.create(uow, p.tenant_id, p.agent_id, data.url, data.events)
    return JSONResponse({**out, "secret": secret}, status_code=201)


@authenticated("admin")
async def get(request: Request) -> Response:
    sub_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        return JSONResponse(await actions.get(uow, principal(request).tenant_id, sub_id))


@authenticated("admin")
async def change(request: Request) -> Response:
    sub_id = int_param(request, "id")
    data = await body(request, HookChange)
    if not data.model_fields_set - {k for k, v in data.model_dump().items() if v is None}:
        raise Invalid("nothing to change: give url, events or enabled")
    async with runtime(request).uow() as uow:
        out = await actions.change(
            uow, principal(request).tenant_id, sub_id, url=data.url, events=data.events, enabled=data.enabled
        )
    runtime(request).wake("webhooks")  # re-enabled: deliver now, not at the next poll
    return JSONResponse(out)


@authenticated("admin")
async def remove(request: Request) -> Response:
    sub_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        await actions.remove(uow, principal(request).tenant_id, sub_id)
    return Response(status_code=204)


@authenticated("admin")
async def deliveries(request: Request) -> Response:
    sub_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        items = await actions.deliveries(uow, principal(request).tenant_id, sub_id)
    return JSONResponse({"items": items})


@authenticated("admin")
async def test(request: Request) -> Response:
    """A signed ping to the subscription's URL, now (inbox/hook_ping.py): its outcome, not retried."""
    sub_id = int_param(request, "id")
    return JSONResponse(await hook_ping.ping(runtime(request), principal(request).tenant_id, sub_id))


routes = [
    Route("/api/admin/webhooks", list_, methods=["GET"]),
    Route("/api/admin/webhooks", create, methods=["POST"]),
    Route("/api/admin/webhooks/{id}", get, methods=["GET"]),
    Route("/api/admin/webhooks/{id}", change, methods=["PUT"]),
    Route("/api/admin/webhooks/{id}", remove, methods=["DELETE"]),
    Route("/api/admin/webhooks/{id}/deliveries", deliveries, methods=["GET"]),
    Route("/api/admin/webhooks/{id}/test", test, methods=["POST"]),
]
