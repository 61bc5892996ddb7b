"""The machinery shared by the fake provider servers: a request recorder and a queue of scripted replies.

A fake is a small Starlette app plus a `Recorder`. Every request the app receives is recorded; the
answer is the next scripted `Reply` if any is queued, else the provider's normal success answer.
Provider modules (`tests.fakes.notificame`, `tests.fakes.graph`) add the provider-shaped bodies.

    app, fake = notificame_app(token="t")
    fake.script(500, 500, 200)                  # two server errors, then a normal success
    fake.script(Reply.rate_limited(7))          # 429 with Retry-After: 7
    fake.script(Reply(delay=2.0))               # a success that arrives too late for a short timeout
    async with serve(app) as base_url:
        ...
    assert fake.requests[0].json == {...}
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it.

    Header names are lower-case; `json` is None when the body was not JSON.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes


@dataclass(frozen=True)
class Reply:
    """A scripted answer.

    `status` alone (e.g. `Reply(500)`, or just `500` in `Recorder.script`) gets the provider's usual
    body for that status: a success body with a fresh message id for 2xx, the provider's error shape
    otherwise. Give `json` (any JSON value) or `body` (raw bytes, e.g. not-JSON) to control the body;
    `headers` are added; `delay` seconds pass before the answer (use it to trigger client timeouts;
    keep it short, since the server waits for the handler when the test ends).
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def rate_limited(cls, retry_after: str | float, *, status: int = 429, json: Any = None) -> Reply:
        """A 429 (or `status`) with `Retry-After` (seconds, or an HTTP-date string)."""
        value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        return cls(status=status, json=json, headers={"Retry-After": value})


# (recorded request, status) -> default JSON body for a reply that did not give one.
DefaultBody = Callable[[RecordedRequest, int], Any]
# A route check that may answer instead of the default (e.g. 401 on a wrong token, 404 on a bad path).
Guard = Callable[[RecordedRequest], Response | None]


class Recorder:
    """What a fake received, and what it will answer next."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._arrival = asyncio.Event()

    def script(self, *replies: Reply | int) -> None:
        """Queue answers, used in order by the next requests (an int is a status with the default body).
        When the queue is empty the fake answers with its normal success."""
        self._replies.extend(r if isinstance(r, Reply) else Reply(status=r) for r in replies)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._replies)

    @property
    def last(self) -> RecordedRequest:
        if not self.requests:
            raise AssertionError("the fake received no request")
        return self.requests[-1]

    def reset(self) -> None:
        """Forget recorded requests and scripted replies (the fake keeps its message id counter)."""
        self.requests.clear()
        self._replies.clear()

    async def wait_for(self, count: int, within: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least `count` requests have arrived (for background workers); returns them."""
        try:
            async with asyncio.timeout(within):
                while len(self.requests) < count:
                    await self._arrival.wait()
                    self._arrival.clear()
        except TimeoutError:
            got = len(self.requests)
            raise AssertionError(f"expected {count} requests, got {got}: {self.requests!r}") from None
        return list(self.requests)

    def _received(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        self._arrival.set()

    def _next(self) -> Reply | None:
        return self._replies.popleft() if self._replies else None


async def _record(request: Request) -> RecordedRequest:
    body = await request.body()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return RecordedRequest(
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        json=parsed,
        body=body,
    )


def build_app(recorder: Recorder, *, default_body: DefaultBody, guard: Guard) -> Starlette:
    """A catch-all Starlette app: record, then answer scripted reply > guard > default success."""

    async def handle(request: Request) -> Response:
        recorded = await _record(request)
        recorder._received(recorded)
        reply = recorder._next()
        if reply is None:
            guarded = guard(recorded)
            if guarded is not None:
                return guarded
            reply = Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.body is not None:
            return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))
        payload = reply.json if reply.json is not None else default_body(recorded, reply.status)
        return JSONResponse(payload, status_code=reply.status, headers=dict(reply.headers))

    handler: Callable[[Request], Awaitable[Response]] = handle
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[Route("/", handler, methods=methods), Route("/{path:path}", handler, methods=methods)]
    )
