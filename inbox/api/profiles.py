"""Contacts' profiles, the lead pipeline, appointments and message templates over HTTP.

Routes translate HTTP to inbox/actions/contacts.py, appointments.py and templates.py. Agents keep
profiles and appointments; supervisors and admins manage templates (everyone may read and preview
them); admins set the pipeline's stages. Everything is the caller's tenant (another tenant's ids 404).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import models as m
from inbox import templates as renderer
from inbox.actions import appointments, contacts, templates
from inbox.api.common import authenticated, int_param, json_body, principal, runtime
from inbox.queries import contact_for


@authenticated()
async def patch_contact(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        data = await contacts.update_contact(uow, principal(request), int_param(request, "id"), raw)
    return JSONResponse(data)


@authenticated()
async def get_pipeline(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        return JSONResponse({"stages": await contacts.pipeline(uow, principal(request).tenant_id)})


@authenticated("admin")
async def put_pipeline(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        stages = await contacts.set_pipeline(uow, principal(request).tenant_id, raw)
    return JSONResponse({"stages": stages})


@authenticated()
async def create_appointment(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        data = await appointments.create(uow, principal(request), int_param(request, "id"), raw)
    return JSONResponse(data, status_code=201)


@authenticated()
async def change_appointment(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        data = await appointments.change(uow, principal(request), int_param(request, "id"), raw)
    return JSONResponse(data)


@authenticated()
async def list_appointments(request: Request) -> Response:
    qp = request.query_params
    start = appointments.parse_instant(qp.get("from"), "from") or m.utcnow().replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    end = appointments.parse_instant(qp.get("to"), "to") or start + timedelta(days=7)
    async with runtime(request).engine.connect() as conn:
        items = await appointments.between(conn, principal(request), start, end)
    return JSONResponse({"items": items})


@authenticated()
async def contact_appointments(request: Request) -> Response:
    p = principal(request)
    contact_id = int_param(request, "id")
    async with runtime(request).engine.connect() as conn:
        await contact_for(conn, p, contact_id)  # 404 unless the tenant's
        start = m.utcnow() - timedelta(days=180)
        items = await appointments.between(conn, p, start, start + timedelta(days=366), contact_id=contact_id)
    return JSONResponse({"items": items})


@authenticated()
async def list_templates(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        return JSONResponse({"items": await templates.listing(conn, principal(request))})


@authenticated()
async def template_variables(request: Request) -> Response:
    """The variables a template may use, with what each means in PT and EN: the renderer's own table,
    the same for every tenant."""
    return JSONResponse({"items": [v.to_json() for v in renderer.CATALOG]})


@authenticated()
async def get_template(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        return JSONResponse(await templates.one(conn, principal(request), int_param(request, "id")))


@authenticated("supervisor", "admin")
async def create_template(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        data = await templates.create(uow, principal(request), raw)
    return JSONResponse(data, status_code=201)


@authenticated("supervisor", "admin")
async def replace_template(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).uow() as uow:
        data = await templates.replace(uow, principal(request), int_param(request, "id"), raw)
    return JSONResponse(data)


@authenticated("supervisor", "admin")
async def delete_template(request: Request) -> Response:
    async with runtime(request).uow() as uow:
        await templates.remove(uow, principal(request), int_param(request, "id"))
    return Response(status_code=204)


@authenticated()
async def preview_template(request: Request) -> Response:
    raw = await json_body(request)
    async with runtime(request).engine.connect() as conn:
        data = await templates.preview(conn, principal(request), int_param(request, "id"), raw)
    return JSONResponse(data)


routes = [
    Route("/api/contacts/{id}", patch_contact, methods=["PATCH"]),
    Route("/api/settings/pipeline", get_pipeline, methods=["GET"]),
    Route("/api/settings/pipeline", put_pipeline, methods=["PUT"]),
    Route("/api/contacts/{id}/appointments", create_appointment, methods=["POST"]),
    Route("/api/contacts/{id}/appointments", contact_appointments, methods=["GET"]),
    Route("/api/appointments", list_appointments, methods=["GET"]),
    Route("/api/appointments/{id}", change_appointment, methods=["PATCH"]),
    Route("/api/templates", list_templates, methods=["GET"]),
    Route("/api/templates", create_template, methods=["POST"]),
    Route("/api/templates/variables", template_variables, methods=["GET"]),  # before /{id}
    Route("/api/templates/{id}", get_template, methods=["GET"]),
    Route("/api/templates/{id}", replace_template, methods=["PUT"]),
    Route("/api/templates/{id}", delete_template, methods=["DELETE"]),
    Route("/api/templates/{id}/preview", preview_template, methods=["POST"]),
]
