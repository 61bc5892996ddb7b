"""The supervisor's picture and the people in it: queue figures, reports, agents and their status.

Routes only read (inbox/figures.py, inbox/reports.py) or call `inbox.actions.presence`; a report
downloaded as CSV is audited. Figures and
reports are for supervisors and admins (403 for agents); any agent may list colleagues (for a
transfer menu) and set its own status.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import audit, figures, reports, routing_settings
from inbox import models as m
from inbox.actions import presence
from inbox.api.common import authenticated, body, principal, runtime
from inbox.catalog import label_report
from inbox.errors import Invalid
from inbox.serialize import agent_json, iso

cv, ag, qm = m.conversations.c, m.agents.c, m.queue_members.c


@authenticated("supervisor", "admin")
async def get_queues(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        data = await figures.queue_figures(conn, principal(request).tenant_id)
    return JSONResponse(data)


@authenticated("supervisor", "admin")
async def get_report(request: Request) -> Response:
    qp = request.query_params
    fmt = qp.get("format", "json")
    if fmt not in ("json", "csv"):
        raise Invalid("format must be json or csv")
    section = qp.get("section") or None
    if section not in (None, "total", "hour", "channel", "agent"):
        raise Invalid("section must be total, hour, channel or agent")
    tenant_id = principal(request).tenant_id
    async with runtime(request).engine.connect() as conn:
        settings = await routing_settings.load(conn, tenant_id)
        start, end = reports.period(qp.get("from"), qp.get("to"), m.utcnow(), settings)
        data = await reports.report(conn, tenant_id, start, end, settings)
        data["by_label"] = await label_report(conn, tenant_id, start, end)
    if fmt == "json":
        return JSONResponse(data)
    name = f"report-{start.date().isoformat()}-{end.date().isoformat()}.csv"
    # A download of the team's figures leaves the system: audited like the contacts' exports.
    async with runtime(request).uow() as uow:
        period = {"from": iso(start), "to": iso(end), "section": section or "all"}
        await audit.record(uow, tenant_id, "report.exported", details=period)
    return Response(
        reports.to_csv(data, section),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@authenticated()
async def list_agents(request: Request) -> Response:
    """The tenant's agents with their load and queues (disabled ones too, flagged)."""
    tenant_id = principal(request).tenant_id
    async with runtime(request).engine.connect() as conn:
        rows = (await conn.execute(select(m.agents).where(ag.tenant_id == tenant_id).order_by(ag.id))).all()
        loads: dict[Any, int] = dict(
            (
                await conn.execute(
                    select(cv.assignee_id, func.count())
                    .where(cv.tenant_id == tenant_id, cv.status.in_(figures.OPEN_LOAD))
                    .group_by(cv.assignee_id)
                )
            ).all()
        )
        queues: dict[int, list[int]] = {}
        for agent_id, queue_id in await conn.execute(
            select(qm.agent_id, qm.queue_id).where(qm.tenant_id == tenant_id).order_by(qm.queue_id)
        ):
            queues.setdefault(agent_id, []).append(queue_id)
    items: list[dict[str, Any]] = []
    for r in rows:
        agent = agent_json(r._mapping, open_conversations=int(loads.get(r.id, 0)))
        items.append({**agent, "queue_ids": queues.get(r.id, [])})
    return JSONResponse({"items": items})


class StatusIn(BaseModel):
    status: Literal["online", "away", "offline"]


@authenticated()
async def set_my_status(request: Request) -> Response:
    data = await body(request, StatusIn)
    p = principal(request)
    async with runtime(request).uow() as uow:
        agent = await presence.set_status(uow, p.tenant_id, p.agent_id, data.status, chosen=True)
    return JSONResponse(agent)


routes = [
    Route("/api/queues", get_queues, methods=["GET"]),
    Route("/api/reports", get_report, methods=["GET"]),
    Route("/api/agents", list_agents, methods=["GET"]),
    Route("/api/agents/me/status", set_my_status, methods=["PUT"]),
]
