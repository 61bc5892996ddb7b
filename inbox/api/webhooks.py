"""Public webhook endpoints: look the channel up, verify, parse, ingest. Nothing else.

Answers per CONTRACT.md: 200 after commit, 400 bad body, 401 bad signature, 404 unknown key,
413 over 1 MiB, 503 when storage is down (so the provider retries and nothing is lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from channels.base import ChannelConfig, InvalidPayload, Unauthorized
from inbox import health
from inbox.api.common import runtime
from inbox.db import StorageUnavailable, is_connection_error
from inbox.sanitize import clean_all

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


class TooLarge(Exception):
    pass


class _Answer(Exception):
    """Ends a delivery early with this status and text."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text


async def _read_body(headers: Headers, chunks: AsyncIterator[bytes]) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        parts.append(chunk)
    return b"".join(parts)


async def _channel(rt: Runtime, key: str, provider: str) -> ChannelConfig:
    try:
        channel = await rt.directory.by_key(key)
    except Exception as exc:
        if is_connection_error(exc):
            raise _Answer(503, "storage unavailable") from exc
        raise
    if channel is None or channel.provider != provider:
        raise _Answer(404, "unknown webhook")
    return channel


async def deliver(
    rt: Runtime, provider: str, key: str, headers: Headers, chunks: AsyncIterator[bytes]
) -> tuple[int, str, str]:
    """One webhook delivery, start to commit: (status, text) to answer with, and what it came to
    (an outcome of `inbox.metrics.WEBHOOK_OUTCOMES`)."""
    try:
        channel = await _channel(rt, key, provider)
        adapter = rt.adapters[provider]
        try:
            raw = await _read_body(headers, chunks)
        except TooLarge:
            return 413, "body over 1 MiB", "rejected"
        except ClientDisconnect:
            return 400, "client went away", "rejected"
        try:
            adapter.verify(channel, headers, raw)
        except Unauthorized as exc:
            health.signature_failure(rt, channel)  # memory only; flushed every few seconds
            return 401, f"unauthorized: {exc}", "rejected"
        try:
            events = adapter.parse(channel, raw)
        except InvalidPayload as exc:
            return 400, f"invalid payload: {exc}", "rejected"
        if not events:
            health.webhook_event(rt, channel)
            return 200, "ok", "ignored"
        try:
            new = await rt.ingestor.submit(channel, clean_all(events))
        except StorageUnavailable:
            return 503, "storage unavailable, retry later", "unavailable"
        health.webhook_event(rt, channel)
        return 200, "ok", "stored" if new else "duplicate"
    except _Answer as answer:
        return answer.status, answer.text, "unavailable" if answer.status == 503 else "rejected"


async def _asgi_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def fast_path(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> bool:
    """POST /webhooks/{provider}/{key} straight from the server, past Starlette's middleware and
    router: the hot path's share of the HTTP framework was larger than the bare baseline's whole
    request. Returns False for anything else, which the app then routes as usual."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    parts = scope["path"].split("/")
    if len(parts) != 4 or parts[1] != "webhooks" or parts[2] not in rt.adapters or not parts[3]:
        return False
    started = time.perf_counter()
    try:
        status, text, outcome = await deliver(
            rt, parts[2], parts[3], Headers(scope=scope), _asgi_chunks(receive)
        )
    except Exception:
        log.exception("webhook %s failed", parts[2])
        status, text, outcome = 500, "internal error", "error"
    rt.metrics.webhook(parts[2], outcome, started)
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return True


async def handshake(request: Request) -> Response:
    """A provider's GET verification of a webhook URL, answered by its adapter (403 when it refuses,
    or when the provider has no such step)."""
    rt = runtime(request)
    provider = request.path_params["provider"]
    adapter = rt.adapters.get(provider)
    if adapter is None:
        return PlainTextResponse("unknown webhook", status_code=404)
    try:
        found = await _channel(rt, request.path_params["key"], provider)
    except _Answer as answer:
        return PlainTextResponse(answer.text, status_code=answer.status)
    challenge = adapter.handshake(found, request.query_params)
    if challenge is None:
        return PlainTextResponse("forbidden", status_code=403)
    health.handshake(rt, found)
    return PlainTextResponse(challenge)


# POST deliveries are answered by `fast_path`, ahead of the router (see inbox/app.py).
routes = [Route("/webhooks/{provider}/{key}", handshake, methods=["GET"])]
