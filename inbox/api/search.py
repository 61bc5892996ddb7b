"""Search API: `GET /api/search?q=&cursor=&limit=` -> `{"contacts", "messages", "next_cursor"}`
(inbox/search.py), for any agent, over what it may read."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.api.common import authenticated, principal, runtime
from inbox.errors import Invalid
from inbox.search import search as run_search


@authenticated()
async def search(request: Request) -> Response:
    qp = request.query_params
    try:
        limit = int(qp.get("limit", "30"))
    except ValueError as exc:
        raise Invalid("limit: a number from 1 to 100") from exc
    if not 1 <= limit <= 100:
        raise Invalid("limit: a number from 1 to 100")
    async with runtime(request).engine.connect() as conn:
        data = await run_search(conn, principal(request), qp.get("q"), cursor=qp.get("cursor"), limit=limit)
    return JSONResponse(data)


routes = [Route("/api/search", search, methods=["GET"])]
