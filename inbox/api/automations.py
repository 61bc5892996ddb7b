"""Automations over HTTP: CRUD, their runs, the ready-made presets, and the CSAT figures.

Routes translate HTTP to inbox/automations/manage.py. Supervisors and admins manage automations and
read their runs; everything is the caller's tenant (another tenant's ids 404).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.api.common import authenticated, int_param, json_body, principal, runtime
from inbox.automations import csat, manage
from inbox.errors import Invalid

STAFF = ("supervisor", "admin")


def _after_change(request: Request) -> None:
    rt = runtime(request)
    rt.wake("automations")
    rt.wake("automations-birthdays")


@authenticated(*STAFF)
async def list_automations(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        return JSONResponse({"items": await manage.listing(conn, principal(request).tenant_id)})


@authenticated(*STAFF)
async def create_automation(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        data = await manage.create(uow, principal(request), raw)
    _after_change(request)
    return JSONResponse(data, status_code=201)


@authenticated(*STAFF)
async def get_automation(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        return JSONResponse(await manage.one(conn, principal(request).tenant_id, int_param(request, "id")))


@authenticated(*STAFF)
async def replace_automation(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        data = await manage.replace(uow, principal(request), int_param(request, "id"), raw)
    _after_change(request)
    return JSONResponse(data)


@authenticated(*STAFF)
async def delete_automation(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        await manage.remove(uow, principal(request), int_param(request, "id"))
    return Response(status_code=204)


@authenticated(*STAFF)
async def automation_runs(request: Request) -> Response:
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and (not cursor.isdigit() or len(cursor) > 18):
        raise Invalid("cursor: not a cursor this API gave")
    before = int(cursor) if cursor is not None else None
    async with runtime(request).engine.connect() as conn:
        page = await manage.runs(conn, principal(request).tenant_id, int_param(request, "id"), before=before)
    return JSONResponse(page)


@authenticated("admin")
async def install_presets(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        items = await manage.install_presets(uow, principal(request).tenant_id)
    return JSONResponse({"items": items})


@authenticated(*STAFF)
async def csat_report(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        return JSONResponse(await csat.figures(conn, principal(request).tenant_id))


routes = [
    Route("/api/automations", list_automations, methods=["GET"]),
    Route("/api/automations", create_automation, methods=["POST"]),
    Route("/api/automations/presets", install_presets, methods=["POST"]),
    Route("/api/automations/{id}", get_automation, methods=["GET"]),
    Route("/api/automations/{id}", replace_automation, methods=["PUT"]),
    Route("/api/automations/{id}", delete_automation, methods=["DELETE"]),
    Route("/api/automations/{id}/runs", automation_runs, methods=["GET"]),
    Route("/api/reports/csat", csat_report, methods=["GET"]),
]
