"""Login lockouts for admins: `GET /api/admin/lockouts` (the emails and addresses locked out now that
involve the tenant's agents) and `POST /api/admin/lockouts/clear {"scope", "key"}` to lift one.
Writes go through inbox/actions/lockouts.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import lockouts
from inbox.api.common import authenticated, body, principal, runtime
from inbox.serialize import iso


class ClearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["email", "address"]
    key: str = Field(min_length=1, max_length=320)


@authenticated("admin")
async def list_lockouts(request: Request) -> Response:
    rt = runtime(request)
    async with rt.engine.connect() as conn:
        items = await lockouts.lockouts(conn, rt.settings, principal(request).tenant_id)
    return JSONResponse(
        {
            "items": [
                {**lo, "last_failure_at": iso(lo["last_failure_at"]), "locked_until": iso(lo["locked_until"])}
                for lo in items
            ]
        }
    )


@authenticated("admin")
async def clear_lockout(request: Request) -> Response:
    data = await body(request, ClearIn)
    key = data.key.strip().lower() if data.scope == "email" else data.key.strip()
    async with runtime(request).uow() as uow:
        cleared = await lockouts.clear(uow, principal(request).tenant_id, data.scope, key)
    return JSONResponse({"cleared": cleared})


routes = [
    Route("/api/admin/lockouts", list_lockouts, methods=["GET"]),
    Route("/api/admin/lockouts/clear", clear_lockout, methods=["POST"]),
]
