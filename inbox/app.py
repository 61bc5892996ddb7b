"""The composition: the ASGI app with its routes, lifespan (runtime start/stop), health checks and
static files, and the runtime with its background workers and job handlers.

The one module of the core that knows every part, the bot included (the rest of `inbox/` never
imports `bot/`: a test holds it). Routes only translate HTTP to actions and queries; they never
publish or call providers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from bot import api as bot_api
from bot.responder import bot_job
from inbox import logs
from inbox.api import (
    admin,
    canned,
    conversation_actions,
    hooks,
    labels,
    profiles,
    queues,
    read_marks,
    reads,
    replies,
    search,
    sessions,
    transfer,
    uploads,
    webhooks,
)
from inbox.api import audit as audit_api
from inbox.api import automations as automations_api
from inbox.api import lockouts as lockouts_api
from inbox.api import merge as merge_api
from inbox.api import metrics as metrics_api
from inbox.api import privacy as privacy_api
from inbox.api import setup as setup_api
from inbox.api.common import http_error
from inbox.automations.execute import automation_job
from inbox.automations.schedule import JOB_KIND
from inbox.automations.watch import automations_worker
from inbox.config import Settings
from inbox.openapi import OPERATIONS, endpoint
from inbox.paths import shipped
from inbox.realtime import ws
from inbox.runtime import Runtime
from inbox.static_files import app_files
from inbox.workers import Worker
from inbox.workers.health import health_worker
from inbox.workers.hooks import hooks_worker
from inbox.workers.jobs import Lane, jobs_worker
from inbox.workers.outbox import outbox_worker
from inbox.workers.retention import retention_worker
from inbox.workers.rollup import rollup_worker
from inbox.workers.routing import routing_worker, snooze_job
from inbox.workers.search_index import search_index_worker

log = logging.getLogger(__name__)
# The share of the time a drain of due automation runs may take while webhooks arrive: a twentieth,
# the outbox's sends of what it decides included: each decision counts AUTOMATION_SEND_WEIGHT times
# its own time, as its message's send (claimed, prepared, called, recorded) costs about as much again
# (docs/benchmark.md, "Automations").
AUTOMATION_SHARE = 0.05
AUTOMATION_SEND_WEIGHT = 2.0


async def healthz(request: Request) -> Response:
    """Storage answers and migrations are applied (the tenants table exists)."""
    rt: Runtime = request.app.state.runtime
    try:
        async with rt.engine.connect() as conn:
            await conn.execute(text("SELECT 1 FROM tenants LIMIT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    health = await healthz(request)
    if health.status_code != 200:
        return health
    rt: Runtime = request.app.state.runtime
    if not rt.hub.healthy():
        return JSONResponse({"status": "unavailable", "reason": "event bus"}, status_code=503)
    return JSONResponse({"status": "ok"})


class InboxApp(Starlette):
    """Starlette, but webhook deliveries (the hot path) skip its middleware and router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if await webhooks.fast_path(self.state.runtime, scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def workers() -> dict[str, Worker]:
    """The background loops of `inbox serve`, and the jobs worker's handlers by job kind."""
    return {
        "outbox": outbox_worker,
        "jobs": jobs_worker(
            {"bot": bot_job, "snooze": snooze_job, JOB_KIND: automation_job},
            # A drain of due runs (10,000 reminders at 9:00) takes no more than AUTOMATION_SHARE of
            # the time from webhooks while they arrive (docs/benchmark.md, "Automations").
            [
                Lane(
                    frozenset({JOB_KIND}),
                    lambda s: s.automation_concurrency,
                    share=AUTOMATION_SHARE,
                    weight=AUTOMATION_SEND_WEIGHT,
                )
            ],
        ),
        "routing": routing_worker,
        "automations": automations_worker,
        "events-retention": retention_worker,
        "report-rollup": rollup_worker,
        "channel-health": health_worker,
        "webhooks": hooks_worker,
        "search-index": search_index_worker,
    }


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings, workers=workers())


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    logs.install()
    runtime = build_runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *sessions.routes,
        *reads.routes,
        *replies.routes,
        *conversation_actions.routes,
        *read_marks.routes,
        *queues.routes,
        *admin.routes,
        *bot_api.routes,
        *profiles.routes,
        *automations_api.routes,
        # Agent productivity (issue 15)
        *canned.routes,
        *labels.routes,
        *transfer.routes,
        *search.routes,
        *uploads.routes,
        *audit_api.routes,
        *setup_api.routes,
        *webhooks.routes,
        *ws.routes,
        # Operations (issue 19)
        *metrics_api.routes,
        *lockouts_api.routes,
        # LGPD/GDPR (issue 19 item 6)
        *privacy_api.routes,
        # Outgoing webhooks (issue 19 item 4)
        *hooks.routes,
        # Contact panel: a contact's conversations, merge (issue 15 item 6)
        *merge_api.routes,
        Route("/openapi.json", endpoint({**OPERATIONS, **bot_api.OPERATIONS}), methods=["GET"]),
        Mount("/", app=app_files(shipped("static")), name="static"),
    ]
    # The API's errors answer JSON with a code, Starlette's own (404, 405) and a crash too.
    handlers = {HTTPException: http_error, Exception: http_error}
    app = InboxApp(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.runtime = runtime
    return app
