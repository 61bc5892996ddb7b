"""A CRM's webhook receiver for the outgoing webhook tests: `receiver_app()` -> (app, Recorder).

Records every request (headers lower-cased, raw body) and answers 200 `{"ok": true}` unless replies
are scripted (`fake.script(500, 500)`, `Reply(delay=2.0)`, `Reply.rate_limited(3, status=503)`).
`verify(secret, request)` checks `X-Inbox-Signature` the way a receiver would.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from starlette.applications import Starlette

from tests.fakes._scripted import RecordedRequest, Recorder, Reply, build_app

__all__ = ["RecordedRequest", "Recorder", "Reply", "receiver_app", "verify"]


def receiver_app() -> tuple[Starlette, Recorder]:
    recorder = Recorder()

    def default_body(_request: RecordedRequest, status: int) -> Any:
        return {"ok": 200 <= status < 300}

    return build_app(recorder, default_body=default_body, guard=lambda _r: None), recorder


def verify(secret: str, request: RecordedRequest) -> bool:
    """The receiver's check: HMAC-SHA256 of the raw body with the secret, compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers.get("x-inbox-signature", ""))
