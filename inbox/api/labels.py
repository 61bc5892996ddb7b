"""Labels API: every agent lists the tenant's labels and labels what it may read
(`POST /api/conversations/{id}/labels {"labels": [names]}` replaces the set); supervisors and
admins create, change and delete labels. Another tenant's id is 404."""

from __future__ import annotations

import random
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import labels
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.catalog import list_labels

COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# Distinct on both light and dark backgrounds (a label chip is tinted with its colour).
PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d")


def _name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    if len(value) > 50:
        raise ValueError("at most 50 characters")
    return value


def _color(value: str) -> str:
    if not COLOR.fullmatch(value):
        raise ValueError("a colour as #rrggbb")
    return value.lower()


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    color: str | None = None

    @field_validator("name")
    @classmethod
    def _n(cls, value: str) -> str:
        return _name(value)

    @field_validator("color")
    @classmethod
    def _c(cls, value: str | None) -> str | None:
        return None if value is None else _color(value)


class LabelChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    color: str | None = None

    @field_validator("name")
    @classmethod
    def _n(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)

    @field_validator("color")
    @classmethod
    def _c(cls, value: str | None) -> str | None:
        return None if value is None else _color(value)


class ConversationLabelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(max_length=50)

    @field_validator("labels")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return [_name(v) for v in value]


@authenticated()
async def list_(request: Request) -> Response:
    async with runtime(request).engine.connect() as conn:
        return JSONResponse(await list_labels(conn, principal(request).tenant_id))


@authenticated("supervisor", "admin")
async def create(request: Request) -> Response:
    data = await body(request, LabelIn)
    color = data.color or random.choice(PALETTE)
    async with runtime(request).uow() as uow:
        out = await labels.create(uow, principal(request).tenant_id, data.name, color)
    return JSONResponse(out, status_code=201)


@authenticated("supervisor", "admin")
async def change(request: Request) -> Response:
    label_id = int_param(request, "id")
    data = await body(request, LabelChange)
    values = data.model_dump(exclude_none=True)
    async with runtime(request).uow() as uow:
        out = await labels.change(uow, principal(request).tenant_id, label_id, values)
    return JSONResponse(out)


@authenticated("supervisor", "admin")
async def remove(request: Request) -> Response:
    label_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        await labels.remove(uow, principal(request).tenant_id, label_id)
    return Response(status_code=204)


@authenticated()
async def set_conversation_labels(request: Request) -> Response:
    conversation_id = int_param(request, "id")
    data = await body(request, ConversationLabelsIn)
    async with runtime(request).uow() as uow:
        out = await labels.set_on_conversation(uow, principal(request), conversation_id, data.labels)
    return JSONResponse(out)


routes = [
    Route("/api/labels", list_, methods=["GET"]),
    Route("/api/labels", create, methods=["POST"]),
    Route("/api/labels/{id}", change, methods=["PUT"]),
    Route("/api/labels/{id}", remove, methods=["DELETE"]),
    Route("/api/conversations/{id}/labels", set_conversation_labels, methods=["POST"]),
]
