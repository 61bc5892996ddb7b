"""A fake Notifica.me Hub API (Zenvia v2 shape) for tests: `notificame_app()` -> (app, FakeNotificame).

It accepts `POST .../channels/{whatsapp|instagram|facebook|telegram}/messages` under any prefix (so
`NOTIFICAME_API_URL` may be the bare base URL or end in `/v1`), answers 200 with
`{"id": "nm-msg-N", ...the request body}` and records every request. Script failures with
`fake.script(...)` (see `tests.fakes._scripted`): a bare status gets a Zenvia-style error body.

    app, fake = notificame_app(token="secret-token")
    fake.script(500, Reply.rate_limited(3), 200)
    async with serve(app) as base_url:
        adapter = NotificameAdapter(api_url=base_url)
        ...
    assert fake.last.path == "/channels/whatsapp/messages"
    assert fake.last.headers["x-api-token"] == "secret-token"
    assert fake.sent_ids == ["nm-msg-1"]          # ids handed out by successful answers

The account side (issue 14): `GET .../channels` lists `fake.channels` (set them with
`notificame_app(channels=[hub_channel("whatsapp"), ...])` or assign the list), and
`POST/GET .../subscriptions`, `DELETE .../subscriptions/{id}` keep `fake.subscriptions` (id -> the
subscription as created; a second POST of the same eventType + channel + url is 409). A wrong
`X-API-Token` is 401 on every path when the fake has a token. Scripted replies apply here too.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from tests.fakes._scripted import RecordedRequest, Recorder, Reply, build_app

__all__ = ["FakeNotificame", "RecordedRequest", "Reply", "hub_channel", "notificame_app", "zenvia_error"]

_SEND_PATH = re.compile(r"(?:^|/)channels/(whatsapp|instagram|facebook|telegram)/messages$")
_CHANNELS_PATH = re.compile(r"(?:^|/)channels$")
_SUBSCRIPTIONS_PATH = re.compile(r"(?:^|/)subscriptions(?:/(?P<id>[^/]+))?$")


def hub_channel(kind: str = "whatsapp", *, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    """A channel as the Hub lists it: `kind` is the Hub's network name (whatsapp, instagram,
    facebook, telegram)."""
    channel_id = id or f"hub-{secrets.token_hex(8)}"
    return {"id": channel_id, "channel": kind, "name": name or f"{kind.capitalize()} {channel_id[-4:]}"}


def zenvia_error(
    message: str,
    *,
    code: str = "VALIDATION_ERROR",
    details: list[dict[str, Any]] | None = None,
    status: int = 400,
) -> Reply:
    """An error answer shaped like Zenvia v2's.

    Body: `{"code", "message", "details": [{"code", "path", "message"}]}`.
    """
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return Reply(status=status, json=body)


class FakeNotificame(Recorder):
    """The recorder of a fake Notifica.me, plus the message ids it handed out (`sent_ids`)."""

    def __init__(self, token: str | None, channels: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.token = token
        self.sent_ids: list[str] = []
        self._counter = 0
        self.channels: list[dict[str, Any]] = list(channels or [])
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._sub_counter = 0

    @staticmethod
    def is_account_path(request: RecordedRequest) -> bool:
        return bool(_CHANNELS_PATH.search(request.path) or _SUBSCRIPTIONS_PATH.search(request.path))

    def account_answer(self, request: RecordedRequest) -> tuple[int, Any]:
        """The Hub's answer to an account call (and its effect on `subscriptions`)."""
        if self.token is not None and request.headers.get("x-api-token") != self.token:
            return 401, {"code": "UNAUTHORIZED", "message": "Invalid API token"}
        if _CHANNELS_PATH.search(request.path):
            if request.method != "GET":
                return 405, {"code": "METHOD_NOT_ALLOWED", "message": "Method not allowed"}
            return 200, list(self.channels)
        match = _SUBSCRIPTIONS_PATH.search(request.path)
        assert match is not None
        sub_id = match.group("id")
        if sub_id is not None:
            if request.method != "DELETE":
                return 405, {"code": "METHOD_NOT_ALLOWED", "message": "Method not allowed"}
            if self.subscriptions.pop(sub_id, None) is None:
                return 404, {"code": "NOT_FOUND", "message": "Subscription not found"}
            return 204, None
        if request.method == "GET":
            return 200, list(self.subscriptions.values())
        if request.method != "POST":
            return 405, {"code": "METHOD_NOT_ALLOWED", "message": "Method not allowed"}
        body = request.json if isinstance(request.json, dict) else {}
        url = (body.get("webhook") or {}).get("url") if isinstance(body.get("webhook"), dict) else None
        event_type = body.get("eventType")
        channel = (
            (body.get("criteria") or {}).get("channel") if isinstance(body.get("criteria"), dict) else None
        )
        if event_type not in ("MESSAGE", "MESSAGE_STATUS") or not url or not channel:
            return 400, {
                "code": "VALIDATION_ERROR",
                "message": "eventType, webhook.url and criteria.channel needed",
            }
        for sub in self.subscriptions.values():
            if (sub["eventType"], sub["criteria"]["channel"], sub["webhook"]["url"]) == (
                event_type,
                channel,
                url,
            ):
                return 409, {"code": "ALREADY_EXISTS", "message": "Subscription already exists"}
        self._sub_counter += 1
        sub = {
            "id": f"sub-{self._sub_counter}",
            "eventType": event_type,
            "webhook": {"url": url},
            "criteria": {"channel": channel},
            "status": "ACTIVE",
        }
        self.subscriptions[sub["id"]] = sub
        return 201, sub

    def next_id(self) -> str:
        self._counter += 1
        message_id = f"nm-msg-{self._counter}"
        self.sent_ids.append(message_id)
        return message_id

    def default_body(self, request: RecordedRequest, status: int) -> Any:
        if 200 <= status < 300 and self.is_account_path(request):
            return self.account_answer(request)[1]
        if 200 <= status < 300:
            sent = request.json if isinstance(request.json, dict) else {}
            return {**sent, "id": self.next_id(), "direction": "OUT"}
        return {"code": "ERROR" if status >= 500 else "BAD_REQUEST", "message": f"fake error {status}"}

    def guard(self, request: RecordedRequest) -> Response | None:
        if self.is_account_path(request):
            status, answer = self.account_answer(request)
            return Response(status_code=204) if status == 204 else JSONResponse(answer, status_code=status)
        if request.method != "POST" or not _SEND_PATH.search(request.path):
            return JSONResponse({"code": "NOT_FOUND", "message": "Not found"}, status_code=404)
        if self.token is not None and request.headers.get("x-api-token") != self.token:
            return JSONResponse({"code": "UNAUTHORIZED", "message": "Invalid API token"}, status_code=401)
        if not isinstance(request.json, dict):
            return JSONResponse({"code": "VALIDATION_ERROR", "message": "Body must be JSON"}, status_code=400)
        return None


def notificame_app(
    *, token: str | None = None, channels: list[dict[str, Any]] | None = None
) -> tuple[Starlette, FakeNotificame]:
    """A fake Hub. With `token`, unscripted requests need `X-API-Token: token` (else 401);
    `channels` (see `hub_channel`) are what `GET /channels` lists."""
    fake = FakeNotificame(token, channels)
    return build_app(fake, default_body=fake.default_body, guard=fake.guard), fake
