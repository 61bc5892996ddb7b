"""Conversation actions API: assign/transfer, resolve, reopen, snooze, handoff.

Routes translate HTTP to `inbox.actions.conversations` (which owns the rules and permissions) and
answer the updated Conversation. 404 for another tenant's conversation, 403 beyond what the agent
may see, 409 when the state forbids it (reopen next to another open conversation, resolved ones).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import Row
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import conversations
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.auth import Principal
from inbox.serialize import conversation_json
from inbox.texts import Text
from inbox.uow import UnitOfWork
from inbox.validation import DbId


class AssignIn(BaseModel):
    agent_id: DbId | None


class SnoozeIn(BaseModel):
    until: datetime


class HandoffIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


Act = Callable[[UnitOfWork, Principal, int], Awaitable[Row[Any]]]


async def _run(request: Request, act: Act) -> Response:
    conversation_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        row = await act(uow, principal(request), conversation_id)
    return JSONResponse(conversation_json(row._mapping))


@authenticated()
async def assign(request: Request) -> Response:
    data = await body(request, AssignIn)
    return await _run(request, lambda uow, p, cid: conversations.assign(uow, p, cid, data.agent_id))


@authenticated()
async def resolve(request: Request) -> Response:
    return await _run(request, conversations.resolve)


@authenticated()
async def reopen(request: Request) -> Response:
    return await _run(request, conversations.reopen)


@authenticated()
async def snooze(request: Request) -> Response:
    data = await body(request, SnoozeIn)
    return await _run(request, lambda uow, p, cid: conversations.snooze(uow, p, cid, data.until))


@authenticated()
async def handoff(request: Request) -> Response:
    """Bot -> human queue now (an agent pressing "hand over"). A conversation already with humans is
    answered unchanged."""
    data = await body(request, HandoffIn)

    async def act(uow: UnitOfWork, p: Principal, cid: int) -> Row[Any]:
        return await conversations.request_handoff(
            uow, p, cid, data.reason or Text("handoff.requested", by=p.name)
        )

    return await _run(request, act)


routes = [
    Route("/api/conversations/{id}/assign", assign, methods=["POST"]),
    Route("/api/conversations/{id}/resolve", resolve, methods=["POST"]),
    Route("/api/conversations/{id}/reopen", reopen, methods=["POST"]),
    Route("/api/conversations/{id}/snooze", snooze, methods=["POST"]),
    Route("/api/conversations/{id}/handoff", handoff, methods=["POST"]),
]
