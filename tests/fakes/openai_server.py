"""A fake OpenAI-compatible server: `POST /v1/chat/completions`, plain JSON or `stream: true` (SSE).

`openai_app()` -> (app, FakeOpenAI). Every request is recorded; the answer is the next scripted
`Completion` if one is queued, else `fake.default` (a short Portuguese reply). Script what a test needs:

    app, fake = openai_app()
    fake.script(Completion(text="Olá!"))                        # a reply
    fake.script(Completion(handoff="cliente quer cancelar"))    # a handoff_to_human tool call
    fake.script(Completion(status=500))                         # a server error
    fake.script(Completion(delay=2.0))                          # too slow for a short timeout
    fake.script(Completion(text=""), Completion(body=b"<html>"))  # empty content; not JSON at all
    fake.on("boleto", Completion(handoff="financeiro"))          # for requests whose last message has it
    async with serve(app) as base_url:
        client = AsyncOpenAI(api_key="test", base_url=base_url + "/v1")
        ...
    assert fake.last.json["messages"][-1]["content"] == "..."
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes._scripted import RecordedRequest, _record

__all__ = ["Completion", "FakeOpenAI", "openai_app"]


@dataclass(frozen=True)
class Completion:
    """One scripted answer.

    `text` is the assistant's content (None: no content); `handoff` adds a `handoff_to_human` tool call
    with that reason (`tool_arguments` overrides the raw arguments string, e.g. invalid JSON). A
    non-2xx `status` answers an OpenAI-shaped error. `json` replaces the whole body; `body` sends raw
    bytes (garbage). `delay` seconds pass before answering (keep it short: the server waits for it
    when the test ends).
    """

    text: str | None = "Olá! Como posso ajudar?"
    handoff: str | None = None
    tool_arguments: str | None = None
    status: int = 200
    json: Any = None
    body: bytes | None = None
    delay: float = 0.0
    prompt_tokens: int = 42
    completion_tokens: int = 7


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.default = Completion()
        self._script: deque[Completion] = deque()
        self._keyed: dict[str, deque[Completion]] = {}
        self._arrival = asyncio.Event()
        self._counter = 0
        self.answered = 0  # requests whose answer was fully sent (delays included)

    def script(self, *completions: Completion) -> None:
        """Answers for the next requests, in order (after those, `default`)."""
        self._script.extend(completions)

    def on(self, text: str, *completions: Completion) -> None:
        """Answers for requests whose last message contains `text`, in order; they take precedence over
        `script`, so concurrent conversations in one test each get their own answers."""
        self._keyed.setdefault(text, deque()).extend(completions)

    def reset(self) -> None:
        self.requests.clear()
        self._script.clear()
        self._keyed.clear()
        self.default = Completion()
        self.answered = 0

    @property
    def last(self) -> RecordedRequest:
        if not self.requests:
            raise AssertionError("the fake OpenAI server received no request")
        return self.requests[-1]

    @property
    def pending(self) -> int:
        return len(self._script) + sum(len(q) for q in self._keyed.values())

    async def wait_for(self, count: int, within: float = 10.0) -> list[RecordedRequest]:
        try:
            async with asyncio.timeout(within):
                while len(self.requests) < count:
                    await self._arrival.wait()
                    self._arrival.clear()
        except TimeoutError:
            raise AssertionError(f"expected {count} model calls, got {len(self.requests)}") from None
        return list(self.requests)

    # ---- answers ----

    def _next(self, recorded: RecordedRequest) -> Completion:
        req = recorded.json if isinstance(recorded.json, dict) else {}
        messages = req.get("messages") or [{}]
        last = str(messages[-1].get("content") or "") if isinstance(messages[-1], dict) else ""
        for text, queue in self._keyed.items():
            if text in last and queue:
                return queue.popleft()
        return self._script.popleft() if self._script else self.default

    def _ids(self) -> tuple[str, str]:
        self._counter += 1
        return f"chatcmpl-fake-{self._counter}", f"call_fake_{self._counter}"

    def _tool_calls(self, c: Completion, call_id: str) -> list[dict[str, Any]] | None:
        if c.handoff is None and c.tool_arguments is None:
            return None
        arguments = c.tool_arguments if c.tool_arguments is not None else json.dumps({"reason": c.handoff})
        return [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "handoff_to_human", "arguments": arguments},
            }
        ]

    def completion_body(self, c: Completion, model: str) -> dict[str, Any]:
        cid, call_id = self._ids()
        tool_calls = self._tool_calls(c, call_id)
        message: dict[str, Any] = {"role": "assistant", "content": c.text, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": cid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "total_tokens": c.prompt_tokens + c.completion_tokens,
            },
        }

    def stream_chunks(self, c: Completion, model: str, include_usage: bool) -> list[dict[str, Any]]:
        """The same answer as Chat Completions chunks: role, content pieces, tool call, finish, usage."""
        cid, call_id = self._ids()
        base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        text = c.text or ""
        for i in range(0, len(text), 8):
            chunks.append(chunk({"content": text[i : i + 8]}))
        tool_calls = self._tool_calls(c, call_id)
        if tool_calls:
            call = tool_calls[0]
            chunks.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            )
            arguments = call["function"]["arguments"]
            for i in range(0, len(arguments), 10):
                chunks.append(
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + 10]}}]})
                )
        chunks.append(chunk({}, "tool_calls" if tool_calls else "stop"))
        if include_usage:
            chunks.append(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": c.prompt_tokens,
                        "completion_tokens": c.completion_tokens,
                        "total_tokens": c.prompt_tokens + c.completion_tokens,
                    },
                }
            )
        return chunks

    async def handle(self, request: Request) -> Response:
        recorded = await _record(request)
        self.requests.append(recorded)
        self._arrival.set()
        c = self._next(recorded)
        if c.delay:
            await asyncio.sleep(c.delay)
        response = self._respond(recorded, c)
        self.answered += 1
        return response

    def _respond(self, recorded: RecordedRequest, c: Completion) -> Response:
        if c.body is not None:
            return Response(c.body, status_code=c.status, media_type="text/html")
        if c.json is not None:
            return JSONResponse(c.json, status_code=c.status)
        if c.status >= 300:
            err = {"message": f"fake error {c.status}", "type": "server_error", "param": None, "code": None}
            return JSONResponse({"error": err}, status_code=c.status)
        req = recorded.json if isinstance(recorded.json, dict) else {}
        model = str(req.get("model") or "fake-model")
        if not req.get("stream"):
            return JSONResponse(self.completion_body(c, model))
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        chunks = self.stream_chunks(c, model, include_usage)

        async def sse() -> AsyncIterator[bytes]:
            for ch in chunks:
                yield f"data: {json.dumps(ch)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")


def openai_app() -> tuple[Starlette, FakeOpenAI]:
    """The fake under any prefix ending in `/chat/completions` (base URL `.../v1` as the SDK expects)."""
    fake = FakeOpenAI()

    async def not_found(request: Request) -> Response:
        await _record(request)
        return JSONResponse({"error": {"message": "not found", "type": "invalid_request_error"}}, 404)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", fake.handle, methods=["POST"]),
            Route("/{path:path}", not_found, methods=["GET", "POST"]),
        ]
    )
    return app, fake
