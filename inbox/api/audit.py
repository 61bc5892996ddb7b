"""`GET /api/audit?cursor=`: the tenant's audit log, newest first (admins only).

Reads only; the rows are written by actions through inbox/audit.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import audit
from inbox.api.common import authenticated, principal, runtime


@authenticated("admin")
async def list_audit(request: Request) -> Response:
    cursor = request.query_params.get("cursor") or None
    async with runtime(request).engine.connect() as conn:
        return JSONResponse(await audit.page(conn, principal(request).tenant_id, cursor))


routes = [Route("/api/audit", list_audit, methods=["GET"])]
