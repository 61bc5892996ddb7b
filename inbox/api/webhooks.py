"""Public webhook routes: look the channel up, verify, parse, ingest. Nothing else.

Answers per CONTRACT.md: 200 after commit, 400 bad body, 401 bad signature, 404 unknown key,
413 over 1 MiB, 503 when storage is down (so the provider retries and nothing is lost).
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from channels.base import ChannelConfig, InvalidPayload, Unauthorized
from inbox.api.common import runtime
from inbox.db import StorageUnavailable, is_connection_error
from inbox.sanitize import clean_all

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
_OK = PlainTextResponse("ok")


class TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _channel(request: Request, provider: str) -> ChannelConfig | Response:
    try:
        channel = await runtime(request).directory.by_key(request.path_params["key"])
    except Exception as exc:
        if is_connection_error(exc):
            return PlainTextResponse("storage unavailable", status_code=503)
        raise
    if channel is None or channel.provider != provider:
        return PlainTextResponse("unknown webhook", status_code=404)
    return channel


def _post(provider: str) -> Route:
    async def receive(request: Request) -> Response:
        found = await _channel(request, provider)
        if isinstance(found, Response):
            return found
        channel = found
        rt = runtime(request)
        adapter = rt.adapters[provider]
        try:
            raw = await _read_body(request)
        except TooLarge:
            return PlainTextResponse("body over 1 MiB", status_code=413)
        except ClientDisconnect:
            return PlainTextResponse("client went away", status_code=400)
        try:
            adapter.verify(channel, request.headers, raw)
        except Unauthorized as exc:
            return PlainTextResponse(f"unauthorized: {exc}", status_code=401)
        try:
            events = adapter.parse(channel, raw)
        except InvalidPayload as exc:
            return PlainTextResponse(f"invalid payload: {exc}", status_code=400)
        if events:
            try:
                await rt.ingestor.submit(channel, clean_all(events))
            except StorageUnavailable:
                return PlainTextResponse("storage unavailable, retry later", status_code=503)
        return _OK

    return Route(f"/webhooks/{provider}/{{key}}", receive, methods=["POST"])


async def meta_handshake(request: Request) -> Response:
    found = await _channel(request, "meta")
    if isinstance(found, Response):
        return found
    challenge = runtime(request).adapters["meta"].handshake(found, request.query_params)
    if challenge is None:
        return PlainTextResponse("forbidden", status_code=403)
    return PlainTextResponse(challenge)


routes = [
    _post("notificame"),
    _post("meta"),
    Route("/webhooks/meta/{key}", meta_handshake, methods=["GET"]),
]
