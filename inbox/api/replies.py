"""Replies API: post a message (or private note) to a conversation, with web or uploaded files; send
a failed message again; whether the provider's messaging window lets a reply out now.

Routes translate HTTP to `inbox.actions.replies` and answer 202 (queued) or 200 (an idempotent
replay); they never call providers: the outbox worker does, after commit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.registry import window_closes_at
from inbox.actions import replies
from inbox.actions import uploads as upload_actions
from inbox.actions.conversations import load
from inbox.api.common import authenticated, body, int_param, principal, runtime
from inbox.errors import Invalid
from inbox.queries import conversation_for
from inbox.serialize import iso
from inbox.validation import DbId

MAX_TEXT = 10_000  # beyond any network's limit (WhatsApp 4096, Messenger 2000): surely a mistake
MAX_KEY = 100  # messages.client_id


def _kind_from_mime(mime: str | None) -> str:
    """image/*, audio/*, video/* by their major type, anything else a file (as for inbound files)."""
    major = (mime or "").split("/", 1)[0].strip().lower()
    return major if major in ("image", "audio", "video") else "file"


class AttachmentIn(BaseModel):
    """A file on the web (`url`), or one uploaded here (`upload_id`, from POST /api/uploads)."""

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    upload_id: DbId | None = None
    mime_type: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=300)
    kind: Literal["image", "audio", "video", "file", "sticker"] | None = None

    @field_validator("url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        # Providers fetch the file themselves, so it must be a web address they can reach.
        if value is not None and not value.lower().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> AttachmentIn:
        if (self.url is None) == (self.upload_id is None):
            raise ValueError("give either url or upload_id")
        return self

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
            uploaded = await upload_actions.attachments(
                uow.conn, p.tenant_id, [a.upload_id for a in data.attachments if a.upload_id is not None]
            )
            attachments = [
                uploaded.pop(0) if a.upload_id is not None else a.stored() for a in data.attachments
            ]
            message, created = await replies.create_reply(
                uow,
                p.tenant_id,
                conversation_id,
                text=data.text,
                sender_type="agent",
                sender_id=p.agent_id,
                attachments=attachments,
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


@authenticated()
async def get_window(request: Request) -> Response:
    """Whether a free-form reply may go out now, and if not why (the refusal a reply would get), so
    the reply box can say so before the agent writes. `closes_at` is the conversation's
    `window_closes_at`; `tag` a message tag the provider allows past the window."""
    p = principal(request)
    conversation_id = int_param(request, "id")
    async with runtime(request).uow() as uow:
        await conversation_for(uow.conn, p, conversation_id)
        conv = await load(uow, p.tenant_id, conversation_id)
        rule = await replies.window(uow, conv)
    closes = iso(window_closes_at(conv.channel_provider, conv.last_inbound_at))
    return JSONResponse(
        {"open": rule.refusal is None, "closes_at": closes, "refusal": rule.refusal, "tag": rule.tag}
    )


routes = [
    Route("/api/conversations/{id}/window", get_window, methods=["GET"]),
    Route("/api/conversations/{id}/messages", post_message, methods=["POST"]),
    Route("/api/conversations/{id}/messages/{message_id}/retry", retry_message, methods=["POST"]),
]
