"""Canned responses API: every agent lists them (`?q=` filters by short code or text); supervisors
and admins create, change and delete them, with files (`upload_ids`, from POST /api/uploads; on a
change, leaving it out keeps the files). Another tenant's id is 404, another tenant's upload 422."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import canned
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.catalog import list_canned
from inbox.validation import DbId

# What follows the `/` in the reply box: no spaces (a space ends the code), nothing a URL would mangle.
SHORT_CODE = re.compile(r"[\w.-]{1,50}")
# As many as the composer takes on one reply.
MAX_FILES = 10


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    short_code: str
    body: str = Field(min_length=1, max_length=4096)
    upload_ids: list[DbId] | None = Field(default=None, max_length=MAX_FILES)

    @field_validator("short_code")
    @classmethod
    def _code(cls, value: str) -> str:
        value = value.strip().removeprefix("/")
        if not SHORT_CODE.fullmatch(value):
            raise ValueError("1 to 50 letters, digits, '_', '-' or '.', without spaces")
        return value

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


@authenticated()
async def list_(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        data = await list_canned(conn, principal(request).tenant_id, request.query_params.get("q"))
    return JSONResponse(data)


@authenticated("supervisor", "admin")
async def create(request: Request) -> Response:
    data = await body(request, CannedIn)
    p = principal(request)
    async with runtime(request).uow() as uow:
        out = await canned.create(uow, p.tenant_id, p.agent_id, data.short_code, data.body, data.upload_ids)
    return JSONResponse(out, status_code=201)


@authenticated("supervisor", "admin")
async def change(request: Request) -> Response:
    canned_id = int_param(request, "id")
    data = await body(request, CannedIn)
    async with runtime(request).uow() as uow:
        out = await canned.change(
            uow, principal(request).tenant_id, canned_id, data.short_code, data.body, data.upload_ids
        )
    return JSONResponse(out)


@authenticated("supervisor", "admin")
async def remove(request: Request) -> Response:
    canned_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        await canned.remove(uow, principal(request).tenant_id, canned_id)
    return Response(status_code=204)


routes = [
    Route("/api/canned-responses", list_, methods=["GET"]),
    Route("/api/canned-responses", create, methods=["POST"]),
    Route("/api/canned-responses/{id}", change, methods=["PUT"]),
    Route("/api/canned-responses/{id}", remove, methods=["DELETE"]),
]
