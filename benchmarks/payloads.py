"""Realistic webhook requests (Notifica.me and WhatsApp Cloud), built ahead of the timed phase.

Owns the exact bytes the load generator writes: a full HTTP/1.1 request per webhook, signed with the
channel's app secret for Meta. Pure: no network, no database, so both the bench and its test use it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Target:
    """A channel as the load generator sees it."""

    provider: str  # notificame | meta
    path: str  # /webhooks/{provider}/{key}
    external_id: str  # Notifica.me channel UUID or the WhatsApp phone number id
    app_secret: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Target:
        return cls(data["provider"], data["path"], data["external_id"], data.get("app_secret"))

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "path": self.path,
            "external_id": self.external_id,
            "app_secret": self.app_secret,
        }


# One webhook: (index into the targets, the customer's phone number, the message text).
Message = tuple[int, str, str]


def _stamp() -> str:
    """Now, as the provider stamps a message: a message's time counts for the messaging window, so a
    fixed date would close it on Meta channels (and the outbound phase would measure refusals)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def notificame_body(t: Target, sender: str, text: str, mid: str) -> bytes:
    """A Notifica.me Hub MESSAGE event (Zenvia v2 shape) as it arrives from WhatsApp."""
    body = {
        "id": f"ev-{mid}",
        "timestamp": _stamp(),
        "type": "MESSAGE",
        "subscriptionId": "8f1c2a7e-bench",
        "channel": "whatsapp",
        "direction": "IN",
        "message": {
            "id": mid,
            "from": sender,
            "to": t.external_id,
            "direction": "IN",
            "channel": "whatsapp",
            "contents": [{"type": "text", "text": text}],
            "visitor": {"name": f"Cliente {sender[-4:]}", "firstName": "Cliente", "lastName": sender[-4:]},
            "timestamp": _stamp(),
        },
    }
    return json.dumps(body).encode()


def whatsapp_body(t: Target, wa_id: str, text: str, mid: str) -> bytes:
    """A WhatsApp Cloud API `messages` webhook with one text message."""
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "5511900000000",
                                "phone_number_id": t.external_id,
                            },
                            "contacts": [{"profile": {"name": f"Cliente {wa_id[-4:]}"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": f"wamid.{mid}",
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body).encode()


def http_post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "User-Agent: inbox-bench",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def webhook_request(t: Target, sender: str, text: str, mid: str) -> bytes:
    if t.provider == "meta":
        body = whatsapp_body(t, sender, text, mid)
        assert t.app_secret is not None
        digest = hmac.new(t.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return http_post(t.path, body, {"X-Hub-Signature-256": f"sha256={digest}"})
    return http_post(t.path, notificame_body(t, sender, text, mid))


def build_requests(targets: list[Target], messages: list[Message], run_id: str) -> list[bytes]:
    """One request per message; provider message ids are unique per run and index."""
    return [
        webhook_request(targets[ti], sender, text, f"{run_id}-{i}")
        for i, (ti, sender, text) in enumerate(messages)
    ]


def sender(target_index: int, n: int) -> str:
    """A Brazilian mobile number, distinct per channel so each (channel, number) is one contact."""
    return f"55{11 + target_index}9{n:08d}"


def mixed_messages(
    n_targets: int, known: list[tuple[int, str]], count: int, new_ratio: float, seed: int, first_new: int
) -> list[Message]:
    """`count` customer messages: `new_ratio` of them from numbers never seen, the rest from `known`."""
    rng = random.Random(seed)
    out: list[Message] = []
    fresh = first_new
    for i in range(count):
        if not known or rng.random() < new_ratio:
            ti = i % n_targets
            out.append((ti, sender(ti, fresh), f"Oi, quero saber do meu pedido {i}"))
            fresh += 1
        else:
            ti, who = known[rng.randrange(len(known))]
            out.append((ti, who, f"Alguma novidade? ({i})"))
    return out
