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
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from tests.fakes._scripted import RecordedRequest, Recorder, Reply, build_app

__all__ = ["FakeNotificame", "RecordedRequest", "Reply", "notificame_app", "zenvia_error"]

_SEND_PATH = re.compile(r"(?:^|/)channels/(whatsapp|instagram|facebook|telegram)/messages$")


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

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token
        self.sent_ids: list[str] = []
        self._counter = 0

    def next_id(self) -> str:
        self._counter += 1
        message_id = f"nm-msg-{self._counter}"
        self.sent_ids.append(message_id)
        return message_id

    def default_body(self, request: RecordedRequest, status: int) -> Any:
        if 200 <= status < 300:
            sent = request.json if isinstance(request.json, dict) else {}
            return {**sent, "id": self.next_id(), "direction": "OUT"}
        return {"code": "ERROR" if status >= 500 else "BAD_REQUEST", "message": f"fake error {status}"}

    def guard(self, request: RecordedRequest) -> Response | None:
        if request.method != "POST" or not _SEND_PATH.search(request.path):
            return JSONResponse({"code": "NOT_FOUND", "message": "Not found"}, status_code=404)
        if self.token is not None and request.headers.get("x-api-token") != self.token:
            return JSONResponse({"code": "UNAUTHORIZED", "message": "Invalid API token"}, status_code=401)
        if not isinstance(request.json, dict):
            return JSONResponse({"code": "VALIDATION_ERROR", "message": "Body must be JSON"}, status_code=400)
        return None


def notificame_app(*, token: str | None = None) -> tuple[Starlette, FakeNotificame]:
    """A fake Hub. With `token`, unscripted requests need `X-API-Token: token` (else 401)."""
    fake = FakeNotificame(token)
    return build_app(fake, default_body=fake.default_body, guard=fake.guard), fake
