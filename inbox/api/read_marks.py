"""POST /api/conversations/{id}/read: the agent has seen the conversation (unread count to zero)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions.read_marks import mark_read
from inbox.api.common import authenticated, int_param, principal, runtime
from inbox.serialize import conversation_json


@authenticated()
async def read(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        row = await mark_read(uow, principal(request), int_param(request, "id"))
    return JSONResponse(conversation_json(row._mapping))


routes = [Route("/api/conversations/{id}/read", read, methods=["POST"])]
