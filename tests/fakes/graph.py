"""A fake Meta Graph API for tests: `graph_app()` -> (app, FakeGraph).

It accepts `POST .../{node_id}/messages` under any prefix (so `META_GRAPH_URL` may be the bare base
URL or end in `/v21.0`) and answers like the Send API: a WhatsApp Cloud body (one with
`"messaging_product": "whatsapp"`) gets `{"messaging_product", "contacts": [...], "messages": [{"id":
"wamid.fake.N"}]}`, any other body (Messenger, Instagram) gets `{"recipient_id", "message_id": "m_fake_N"}`.
Every request is recorded. Script failures with `fake.script(...)` (see `tests.fakes._scripted`);
`graph_error(...)` builds a Graph-shaped error answer, and a bare status gets a generic Graph error.

    app, fake = graph_app(access_token="EAAG...")
    fake.script(graph_error("Outside window", code=10, subcode=2018278))
    async with serve(app) as base_url:
        adapter = MetaAdapter(graph_url=base_url + "/v21.0")
        ...
    assert fake.last.path == "/v21.0/PAGE_ID/messages"
    assert fake.last.headers["authorization"] == "Bearer EAAG..."
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from tests.fakes._scripted import RecordedRequest, Recorder, Reply, build_app

__all__ = ["FakeGraph", "RecordedRequest", "Reply", "graph_app", "graph_error"]

_SEND_PATH = re.compile(r"(?:^|/)([^/]+)/messages$")


def graph_error(
    message: str,
    *,
    code: int,
    subcode: int | None = None,
    details: str | None = None,
    error_type: str = "OAuthException",
    status: int = 400,
    headers: dict[str, str] | None = None,
) -> Reply:
    """A Graph error answer.

    Body: `{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}, "fbtrace_id"}}`.
    """
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code, "fbtrace_id": "AbCdEfFake"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return Reply(status=status, json={"error": error}, headers=headers or {})


class FakeGraph(Recorder):
    """The recorder of a fake Graph API, plus the message ids it handed out (`sent_ids`)."""

    def __init__(self, access_token: str | None) -> None:
        super().__init__()
        self.access_token = access_token
        self.sent_ids: list[str] = []
        self._counter = 0

    def default_body(self, request: RecordedRequest, status: int) -> Any:
        if not 200 <= status < 300:
            return {"error": {"message": f"fake error {status}", "type": "OAuthException", "code": 2}}
        sent = request.json if isinstance(request.json, dict) else {}
        self._counter += 1
        if sent.get("messaging_product") == "whatsapp":
            message_id = f"wamid.fake.{self._counter}"
            self.sent_ids.append(message_id)
            to = str(sent.get("to", ""))
            return {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        message_id = f"m_fake_{self._counter}"
        self.sent_ids.append(message_id)
        return {"recipient_id": str((sent.get("recipient") or {}).get("id", "")), "message_id": message_id}

    def guard(self, request: RecordedRequest) -> Response | None:
        if request.method != "POST" or not _SEND_PATH.search(request.path):
            return JSONResponse(
                {"error": {"message": "Unknown path components", "type": "OAuthException", "code": 2500}},
                status_code=400,
            )
        if (
            self.access_token is not None
            and request.headers.get("authorization") != f"Bearer {self.access_token}"
        ):
            return JSONResponse(
                {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}},
                status_code=401,
            )
        if not isinstance(request.json, dict):
            return JSONResponse(
                {"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100}},
                status_code=400,
            )
        return None


def graph_app(*, access_token: str | None = None) -> tuple[Starlette, FakeGraph]:
    """A fake Graph API. With `access_token`, unscripted requests need `Authorization: Bearer <token>`."""
    fake = FakeGraph(access_token)
    return build_app(fake, default_body=fake.default_body, guard=fake.guard), fake
