"""The outgoing webhooks' test ping (issue 19 item 4): an admin checks that a receiver is reachable and
verifies our signature before real events flow, from the admin page or
`POST /api/admin/webhooks/{id}/test`.

Owns the ping's body and the one direct call. The ping is signed and shaped like any delivery
(inbox/hooks.py: the same headers, `X-Inbox-Event: ping`), but it is not an event of the tenant: it is
sent at once, outside the event log and the subscription's cursor, so it neither holds up nor
reorders the real deliveries, counts in no figure, and is not retried; its outcome is answered to
the admin and audited. Works on a disabled subscription too (to test a fix before enabling it).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from inbox import audit, hooks
from inbox import models as m
from inbox.actions.hooks import mine
from inbox.serialize import iso

if TYPE_CHECKING:
    from inbox.runtime import Runtime

PING = "ping"


def ping_body(subscription_id: int, delivery: str, created_at: str | None, now: int) -> bytes:
    doc = {
        "id": delivery,
        "type": PING,
        "seq": None,
        "created_at": created_at,
        "timestamp": now,
        "data": {"subscription_id": subscription_id, "text": "A test from the inbox: your receiver works."},
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


async def ping(rt: Runtime, tenant_id: int, sub_id: int) -> dict[str, Any]:
    """POST a signed ping to the subscription's URL now: `{"ok", "delivery_id", "status_code", "error",
    "duration_ms"}`. 404 for another tenant's subscription."""
    async with rt.uow() as uow:
        sub = await mine(uow, tenant_id, sub_id)
    secret = rt.box.open(sub.secret).get("secret", "")
    now = int(time.time())
    delivery = f"{sub.id}-test-{secrets.token_hex(4)}"
    raw = ping_body(sub.id, delivery, iso(m.utcnow()), now)
    hdrs = hooks.headers(secret, raw, delivery, PING, now)
    outcome = await hooks.post(rt.http, sub.url, raw, hdrs, rt.settings.webhook_timeout_seconds)
    result = {
        "ok": outcome.ok,
        "delivery_id": delivery,
        "status_code": outcome.status,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    async with rt.uow() as uow:
        details = {"url": sub.url, "ok": outcome.ok, "status_code": outcome.status}
        await audit.record(
            uow, tenant_id, "webhook.tested", target_type="webhook", target_id=sub.id, details=details
        )
    return result
