"""Read API: conversations (filters, cursor pagination), one conversation, its messages, contacts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import queries
from inbox.api.common import authenticated, int_param, principal, runtime
from inbox.catalog import attach_labels
from inbox.serialize import conversation_json


@authenticated()
async def list_conversations(request: Request) -> Response:
    qp = request.query_params
    try:
        limit = max(1, min(int(qp.get("limit", "50")), 200))
    except ValueError:
        limit = 50
    async with runtime(request).engine.connect() as conn:
        page = await queries.list_conversations(
            conn,
            principal(request),
            status=qp.get("status") or None,
            assignee=qp.get("assignee") or None,
            channel=qp.get("channel") or None,
            cursor=qp.get("cursor") or None,
            limit=limit,
            label=qp.get("label") or None,
        )
    return JSONResponse(page)


@authenticated()
async def get_conversation(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        row = await queries.conversation_for(conn, principal(request), int_param(request, "id"))
        data = conversation_json(row._mapping)
        await attach_labels(conn, [data])
    return JSONResponse(data)


@authenticated()
async def list_messages(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        page = await queries.list_messages(conn, principal(request), int_param(request, "id"))
    return JSONResponse(page)


@authenticated()
async def list_assignments(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        data = await queries.assignment_history(conn, principal(request), int_param(request, "id"))
    return JSONResponse(data)


@authenticated()
async def list_contacts(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        page = await queries.search_contacts(conn, principal(request), request.query_params.get("q"))
    return JSONResponse(page)


@authenticated()
async def get_contact(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        data = await queries.contact_for(conn, principal(request), int_param(request, "id"))
    return JSONResponse(data)


routes = [
    Route("/api/conversations", list_conversations, methods=["GET"]),
    Route("/api/conversations/{id}", get_conversation, methods=["GET"]),
    Route("/api/conversations/{id}/messages", list_messages, methods=["GET"]),
    Route("/api/conversations/{id}/assignments", list_assignments, methods=["GET"]),
    Route("/api/contacts", list_contacts, methods=["GET"]),
    Route("/api/contacts/{id}", get_contact, methods=["GET"]),
]
