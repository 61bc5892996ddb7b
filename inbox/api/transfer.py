"""Transfer API: `POST /api/conversations/{id}/transfer {"agent_id"?, "queue_id"?, "note"?}` (any agent,
on what it may read; answers the updated Conversation) and `GET /api/transfer-targets`, the tenant's
active agents and queues to pick from (agents may not read the supervisors' queue figures)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import models as m
from inbox.actions.transfer import transfer as do_transfer
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.serialize import conversation_json
from inbox.validation import DbId


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: DbId | None = None
    queue_id: DbId | None = None
    note: str | None = Field(default=None, max_length=1000)


@authenticated()
async def transfer(request: Request) -> Response:
    conversation_id = int_param(request, "id")
    data = await body(request, TransferIn)
    note = (data.note or "").strip() or None
    async with runtime(request).uow() as uow:
        row = await do_transfer(
            uow,
            principal(request),
            conversation_id,
            agent_id=data.agent_id,
            queue_id=data.queue_id,
            note=note,
        )
    return JSONResponse(conversation_json(row._mapping))


@authenticated()
async def targets(request: Request) -> Response:
    tenant_id = principal(request).tenant_id
    ag, qu = m.agents.c, m.queues.c
    async with runtime(request).engine.connect() as conn:
        agents = await conn.execute(
            select(ag.id, ag.name, ag.status)
            .where(ag.tenant_id == tenant_id, ag.disabled_at.is_(None))
            .order_by(ag.name)
        )
        queues = await conn.execute(select(qu.id, qu.name).where(qu.tenant_id == tenant_id).order_by(qu.name))
        return JSONResponse(
            {
                "agents": [{"id": a.id, "name": a.name, "status": a.status} for a in agents],
                "queues": [{"id": q.id, "name": q.name} for q in queues],
            }
        )


routes = [
    Route("/api/conversations/{id}/transfer", transfer, methods=["POST"]),
    Route("/api/transfer-targets", targets, methods=["GET"]),
]
