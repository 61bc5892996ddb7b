"""`GET /metrics`: this process's Prometheus metrics (inbox/metrics.py), in the text format.

With `INBOX_METRICS_TOKEN` set the scrape needs `Authorization: Bearer <token>` (compared in constant
time); unset, it is open, for a scraper on a private network. It reads, never writes.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.api.common import bearer, error, runtime
from inbox.metrics import CONTENT_TYPE


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    expected = rt.settings.metrics_token
    if expected and not hmac.compare_digest(bearer(request).encode(), expected.encode()):
        response = error(401, "a valid metrics token is required", "unauthenticated")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return Response(await rt.metrics.scrape(rt), media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics, methods=["GET"])]
