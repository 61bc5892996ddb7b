"""Replies API: post a message (or private note) to a conversation; send a failed message again.

Routes translate HTTP to `inbox.actions.replies` and answer 202 (queued) or 200 (an idempotent
replay); they never call providers: the outbox worker does, after commit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import replies
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.errors import Invalid
from inbox.queries import conversation_for

MAX_TEXT = 10_000  # beyond any network's limit (WhatsApp 4096, Messenger 2000): surely a mistake
MAX_KEY = 100  # messages.client_id


def _kind_from_mime(mime: str | None) -> str:
    """image/*, audio/*, video/* by their major type, anything else a file (as for inbound files)."""
    major = (mime or "").split("/", 1)[0].strip().lower()
    return major if major in ("image", "audio", "video") else "file"


class AttachmentIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000)
    mime_type: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=300)
    kind: Literal["image", "audio", "video", "file", "sticker"] | None = None

    @field_validator("url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        # Providers fetch the file themselves, so it must be a web address they can reach.
        if not value.lower().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    def stored(self) -> dict[str, Any]:
        return {
            "kind": self.kind or _kind_from_mime(self.mime_type),
            "url": self.url,
            "mime_type": self.mime_type,
            "name": self.name,
        }


class ReplyIn(BaseModel):
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    private: bool = False
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)
    client_id: str | None = Field(default=None, min_length=1, max_length=MAX_KEY)


def _idempotency_key(request: Request, data: ReplyIn) -> str | None:
    header = request.headers.get("idempotency-key")
    if header is not None:
        header = header.strip()
        if not header or len(header) > MAX_KEY:
            raise Invalid(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
        if data.client_id is not None and data.client_id != header:
            raise Invalid("Idempotency-Key and client_id differ; send one key")
        return header
    return data.client_id


@authenticated()
async def post_message(request: Request) -> Response:
    p = principal(request)
    conversation_id = int_param(request, "id")
    data = await body(request, ReplyIn)
    key = _idempotency_key(request, data)
    rt = runtime(request)
    try:
        async with rt.uow() as uow:
            await conversation_for(uow.conn, p, conversation_id)  # 404 other tenant, 403 beyond the rule
            message, created = await replies.create_reply(
                uow,
                p.tenant_id,
                conversation_id,
                text=data.text,
                sender_type="agent",
                sender_id=p.agent_id,
                attachments=[a.stored() for a in data.attachments],
                private=data.private,
                client_id=key,
            )
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its message.
        if key is None:
            raise
        async with rt.engine.connect() as conn:
            row = await replies.by_client_id(conn, p.tenant_id, key)
        if row is None:
            raise
        message, created = replies.replayed(row, conversation_id), False
    return JSONResponse(message, status_code=202 if created else 200)


@authenticated()
async def retry_message(request: Request) -> Response:
    p = principal(request)
    conversation_id = int_param(request, "id")
    message_id = int_param(request, "message_id")
    async with runtime(request).uow() as uow:
        await conversation_for(uow.conn, p, conversation_id)
        message = await replies.retry_message(uow, p.tenant_id, conversation_id, message_id)
    return JSONResponse(message, status_code=202)


routes = [
    Route("/api/conversations/{id}/messages", post_message, methods=["POST"]),
    Route("/api/conversations/{id}/messages/{message_id}/retry", retry_message, methods=["POST"]),
]
