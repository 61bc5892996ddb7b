"""One call to an OpenAI-compatible Chat Completions server through the official SDK.

Owns the client (one per runtime, created on first use, sharing the runtime's httpx client so it is
closed with the app) and turns every way a call can go wrong into an `Answer` instead of an exception:
the caller only decides between replying and handing off. No retries: a customer waiting for an
answer is better served by a human than by a second slow attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast
from weakref import WeakKeyDictionary

import openai
from openai import AsyncOpenAI

from bot.prompt import HANDOFF_TOOL, TOOLS
from inbox.texts import Text

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

# WhatsApp refuses text over 4096 characters; a longer answer is cut rather than lost.
MAX_REPLY_CHARS = 4000
# The reason is shown to agents in a system line; the model does not get to write an essay there.
MAX_REASON_CHARS = 500

_clients: WeakKeyDictionary[Runtime, AsyncOpenAI] = WeakKeyDictionary()


@dataclass(frozen=True)
class Answer:
    """`reply`: send `text`. `handoff`: the model called the tool (`reason`; `text` if it also spoke).
    `error` / `timeout`: nothing usable (`reason` says what, for the agent)."""

    kind: Literal["reply", "handoff", "error", "timeout"]
    text: str | None = None
    reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None


def client_for(rt: Runtime) -> AsyncOpenAI:
    client = _clients.get(rt)
    if client is None:
        s = rt.settings
        client = _clients[rt] = AsyncOpenAI(
            api_key=s.openai_api_key,
            base_url=s.openai_base_url,
            timeout=20.0,
            max_retries=0,
            # The runtime's shared client (closed with the app). Newer SDKs type it as httpx2's client
            # but still accept httpx's.
            http_client=cast(Any, rt.http),
        )
    return client


def _handoff_reason(arguments: str | None) -> str:
    try:
        reason = json.loads(arguments or "{}").get("reason")
    except (ValueError, AttributeError):
        reason = None
    if not (isinstance(reason, str) and reason.strip()):
        return Text("handoff.model_asked")
    return reason.strip()[:MAX_REASON_CHARS]


def _read(completion: Any) -> Answer:
    """The completion -> reply / handoff / error (unusable shapes included)."""
    choices = getattr(completion, "choices", None)
    if not choices:
        return Answer("error", reason=Text("handoff.bot_no_choices"))
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        return Answer("error", reason=Text("handoff.bot_no_message"))
    text = message.content.strip() if isinstance(message.content, str) else ""
    for call in message.tool_calls or []:
        fn = getattr(call, "function", None)
        if fn is not None and fn.name == HANDOFF_TOOL:
            return Answer(
                "handoff", text=text[:MAX_REPLY_CHARS] or None, reason=_handoff_reason(fn.arguments)
            )
    if choice.finish_reason == "content_filter":
        return Answer("error", reason=Text("handoff.bot_filtered"))
    if not text:
        return Answer("error", reason=Text("handoff.bot_empty"))
    return Answer("reply", text=text[:MAX_REPLY_CHARS])


async def ask(rt: Runtime, messages: list[dict[str, Any]], *, within: float) -> Answer:
    """Ask the model once, bounded by `within` seconds in total."""
    started = time.monotonic()
    usage = None
    try:
        async with asyncio.timeout(within):
            completion = await client_for(rt).chat.completions.create(
                model=rt.settings.bot_model,
                messages=cast(Any, messages),
                tools=cast(Any, TOOLS),
                tool_choice="auto",
                timeout=within,
            )
        usage = getattr(completion, "usage", None)
        answer = _read(completion)
    except (TimeoutError, openai.APITimeoutError):
        answer = Answer("timeout", reason=Text("handoff.bot_timeout"))
    except openai.APIStatusError as exc:
        answer = Answer("error", reason=Text("handoff.bot_http", status=exc.status_code))
    except openai.APIConnectionError:
        answer = Answer("error", reason=Text("handoff.bot_unreachable"))
    except Exception as exc:  # a body the SDK could not parse, or any other surprise from the server
        log.warning("bot model call failed: %s", type(exc).__name__)
        answer = Answer("error", reason=Text("handoff.bot_unusable"))
    latency_ms = int((time.monotonic() - started) * 1000)
    return Answer(
        answer.kind,
        text=answer.text,
        reason=answer.reason,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency_ms=latency_ms,
    )
