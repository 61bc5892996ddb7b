"""A contact's conversations across channels, the contacts that may be the same person, and the merge
of two contacts, over HTTP (issue 15 item 6).

Routes translate HTTP to inbox/contact_reads.py and inbox/actions/merge.py. Everything is the
caller's tenant (another tenant's ids 404) and what the caller may read (inbox/access.py's rule).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import contact_reads, queries
from inbox.actions import merge
from inbox.api.common import authenticated, body, int_param, principal, runtime


@authenticated()
async def contact_conversations(request: Request) -> Response:
    """The contact's conversations on every channel that the caller may read, newest activity first."""
    p = principal(request)
    contact_id = int_param(request, "id")
    qp = request.query_params
    async with runtime(request).engine.connect() as conn:
        await queries.contact_for(conn, p, contact_id)  # 404 unless the tenant's
        page = await queries.list_conversations(
            conn, p, contact_id=contact_id, cursor=qp.get("cursor") or None, status=qp.get("status") or None
        )
    return JSONResponse(page)


@authenticated()
async def merge_candidates(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        items = await contact_reads.merge_candidates(
            conn, principal(request), int_param(request, "id"), request.query_params.get("q")
        )
    return JSONResponse({"items": items})


@authenticated()
async def merge_contacts(request: Request) -> Response:
    data = await body(request, merge.MergeIn)
    async with runtime(request).uow() as uow:
        result = await merge.merge(uow, principal(request), int_param(request, "id"), data.other_id)
    return JSONResponse(result)


routes = [
    Route("/api/contacts/{id}/conversations", contact_conversations, methods=["GET"]),
    Route("/api/contacts/{id}/merge-candidates", merge_candidates, methods=["GET"]),
    Route("/api/contacts/{id}/merge", merge_contacts, methods=["POST"]),
]
