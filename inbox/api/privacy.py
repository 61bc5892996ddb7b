"""LGPD/GDPR over HTTP (admins only): `GET /api/contacts/{id}/export` (everything about a contact as one
JSON document) and `POST /api/contacts/{id}/erase` `{"confirm": true}`.

Routes translate HTTP to inbox/actions/privacy.py, which owns what is exported and erased and audits
both. Another tenant's contact is 404; agents and supervisors get 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import privacy
from inbox.api.common import authenticated, body, int_param, principal, runtime


@authenticated("admin")
async def export_contact(request: Request) -> Response:
    contact_id = int_param(request, "id")
    # A unit of work, not a read: the export is audited, and the row commits with it.
    async with runtime(request).uow() as uow:
        document = await privacy.export_contact(uow, principal(request), contact_id)
    headers = {"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'}
    return JSONResponse(document, headers=headers)


@authenticated("admin")
async def erase_contact(request: Request) -> Response:
    contact_id = int_param(request, "id")
    data = await body(request, privacy.EraseIn)
    async with runtime(request).uow() as uow:
        result = await privacy.erase_contact(uow, principal(request), contact_id, data.confirm)
    return JSONResponse(result)


routes = [
    Route("/api/contacts/{id}/export", export_contact, methods=["GET"]),
    Route("/api/contacts/{id}/erase", erase_contact, methods=["POST"]),
]
