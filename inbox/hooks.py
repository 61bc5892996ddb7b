"""Outgoing webhooks, the wire: which event types may be subscribed, what a receiver URL must look
like, the body of a delivery, its headers and signature, and the one POST.

Owns the format CRMs rely on (CONTRACT.md "Operations"). Pure but for `post`, which makes the call
and reports what came back without ever raising; it reads and writes no database (the worker,
inbox/workers/hooks.py, and the actions, inbox/actions/hooks.py, do).

What a delivery looks like:

    POST <url>
    Content-Type: application/json
    User-Agent: inbox-webhooks/1
    X-Inbox-Delivery: 12-4107           stable across retries: "<subscription id>-<event seq>"
    X-Inbox-Event: message.created
    X-Inbox-Timestamp: 1733828400       this attempt's time (Unix seconds), also in the body
    X-Inbox-Signature: sha256=<hex>     HMAC-SHA256 of the raw body bytes with the subscription's secret

    {"id": "12-4107", "type": "message.created", "seq": 4107, "created_at": "2026-12-10T10:00:00Z",
     "timestamp": 1733828400, "data": {...a Message...}}

The signature covers the body and the body carries the attempt's `timestamp`, so one HMAC over the
body (as the contract says) also dates the request: a receiver may refuse a body whose timestamp is
more than a few minutes old (a replay) and drop a delivery id it has already processed (a retry of
one it answered after our timeout).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

# The adapters' Retry-After parser (seconds or an HTTP-date): one parser for every caller.
from channels._common import retry_after as parse_retry_after

# What a subscription may ask for: the event log's types, without the supervisors' live queue figures
# (`queue.updated`, a refresh of numbers several times a minute, of no use to a CRM).
EVENT_TYPES = (
    "conversation.created",
    "conversation.updated",
    "message.created",
    "message.updated",
    "agent.updated",
    "sla.breached",
)
MAX_URL = 2000
ERROR_TEXT = 300  # how much of a receiver's answer is kept as the error shown to admins
USER_AGENT = "inbox-webhooks/1"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive webhooks (None when it can): http(s), a host, no credentials in it."""
    if len(url) > MAX_URL:
        return f"at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry credentials (the signature authenticates us)"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    return None


def events_problem(events: list[str]) -> str | None:
    if not events:
        return "choose at least one event type"
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        return f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}"
    return None


def delivery_id(subscription_id: int, seq: int) -> str:
    return f"{subscription_id}-{seq}"


def body(subscription_id: int, seq: int, type_: str, created_at: str | None, frame: str, now: int) -> bytes:
    """The JSON body of one delivery; `frame` is the event log's text (`{"seq", "type", "data"}`)."""
    data = json.loads(frame).get("data")
    doc = {
        "id": delivery_id(subscription_id, seq),
        "type": type_,
        "seq": seq,
        "created_at": created_at,
        "timestamp": now,
        "data": data,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def headers(secret: str, raw: bytes, delivery: str, type_: str, now: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Inbox-Delivery": delivery,
        "X-Inbox-Event": type_,
        "X-Inbox-Timestamp": str(now),
        "X-Inbox-Signature": signature(secret, raw),
    }


@dataclass(frozen=True)
class Outcome:
    """What one POST came to. `ok`: a 2xx; `status`: None when no answer came (network, timeout)."""

    ok: bool
    status: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None


async def post(http: httpx.AsyncClient, url: str, raw: bytes, hdrs: dict[str, str], within: float) -> Outcome:
    """POST `raw` to `url`; never raises (but for cancellation). `within` seconds bound the whole call
    (httpx's timeouts are per phase: a receiver trickling bytes would hold it for ever)."""
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        async with asyncio.timeout(within):
            response = await http.post(url, content=raw, headers=hdrs, follow_redirects=False)
    except TimeoutError:
        return Outcome(False, None, f"no answer within {within:g} s", took())
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"network error ({type(exc).__name__})", took())
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code, None, took())
    text = " ".join(response.text[:ERROR_TEXT].split())
    return Outcome(
        False,
        response.status_code,
        f"HTTP {response.status_code}" + (f": {text}" if text else ""),
        took(),
        parse_retry_after(response.headers.get("retry-after")),
    )


def parse_events(value: Any) -> list[str]:
    """A stored `events` column as a list of strings (JSON on both databases)."""
    return [str(v) for v in value] if isinstance(value, list) else []
