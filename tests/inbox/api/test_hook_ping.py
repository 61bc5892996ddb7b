"""The outgoing webhooks' test ping on both databases: `POST /api/admin/webhooks/{id}/test` POSTs a
signed `ping` to a real receiver on 127.0.0.1 at once and answers what came back (a 2xx, an error
status, no answer); it leaves the subscription's cursor, counters and delivery list alone, works on a
disabled subscription, is audited without the secret, and is 404 for another tenant's subscription
and 403 for agents and supervisors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.fakes.receiver import Recorder, receiver_app, verify
from tests.fakes.serve import serve
from tests.support import App, Tenant


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Recorder]]:
    asgi, rec = receiver_app()
    async with serve(asgi) as url:
        yield url + "/crm/inbox", rec


async def _subscribe(t: Tenant, url: str) -> dict[str, object]:
    r = await t.admin.http.post("/api/admin/webhooks", json={"url": url, "events": ["message.created"]})
    assert r.status_code == 201, r.text
    created: dict[str, object] = r.json()
    return created


async def test_a_ping_is_signed_answered_and_audited(app: App, receiver: tuple[str, Recorder]) -> None:
    url, rec = receiver
    t = await app.tenant()
    hook = await _subscribe(t, url)
    hook_id, secret = hook["id"], str(hook["secret"])
    before = (await t.admin.http.get(f"/api/admin/webhooks/{hook_id}")).json()

    r = await t.admin.http.post(f"/api/admin/webhooks/{hook_id}/test")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ok"] is True and out["status_code"] == 200 and out["error"] is None, out
    assert out["duration_ms"] >= 0 and out["delivery_id"].startswith(f"{hook_id}-test-")
    [got] = rec.requests
    assert got.path == "/crm/inbox" and verify(secret, got)
    assert got.headers["x-inbox-event"] == "ping" and got.headers["x-inbox-delivery"] == out["delivery_id"]
    body = json.loads(got.body)
    assert body["type"] == "ping" and body["id"] == out["delivery_id"] and body["seq"] is None
    assert body["data"]["subscription_id"] == hook_id
    assert str(body["timestamp"]) == got.headers["x-inbox-timestamp"]
    assert secret not in r.text

    # Not an event: the real deliveries' cursor, counters and list are as they were.
    after = (await t.admin.http.get(f"/api/admin/webhooks/{hook_id}")).json()
    assert {k: after[k] for k in ("cursor", "delivered", "last_status", "consecutive_failures")} == {
        k: before[k] for k in ("cursor", "delivered", "last_status", "consecutive_failures")
    }
    assert (await t.admin.http.get(f"/api/admin/webhooks/{hook_id}/deliveries")).json() == {"items": []}

    # A receiver refusing it, and one that is not there: the reason comes back; nothing is retried.
    rec.script(500)
    failed = (await t.admin.http.post(f"/api/admin/webhooks/{hook_id}/test")).json()
    assert failed["ok"] is False and failed["status_code"] == 500 and failed["error"].startswith("HTTP 500")
    assert len(rec.requests) == 2
    off = await t.admin.http.put(f"/api/admin/webhooks/{hook_id}", json={"enabled": False})
    assert off.status_code == 200
    assert (await t.admin.http.post(f"/api/admin/webhooks/{hook_id}/test")).json()[
        "ok"
    ] is True  # disabled too
    gone = await _subscribe(t, "http://127.0.0.1:9/nobody")
    nobody = (await t.admin.http.post(f"/api/admin/webhooks/{gone['id']}/test")).json()
    assert nobody["ok"] is False and nobody["status_code"] is None and "network" in nobody["error"], nobody
    assert len(rec.requests) == 3

    audit = (await t.admin.http.get("/api/audit")).json()["items"]
    tested = [a for a in audit if a["action"] == "webhook.tested"]
    assert [(a["target"]["id"], a["details"]["ok"], a["details"]["status_code"]) for a in tested] == [
        (gone["id"], False, None),
        (hook_id, True, 200),
        (hook_id, False, 500),
        (hook_id, True, 200),
    ]
    assert tested[0]["actor"]["id"] == t.admin.id and secret not in str(audit)


async def test_admins_only_and_tenant_scoped(app: App, receiver: tuple[str, Recorder]) -> None:
    url, rec = receiver
    t, other = await app.tenant(), await app.tenant()
    hook = await _subscribe(t, url)
    assert (await other.admin.http.post(f"/api/admin/webhooks/{hook['id']}/test")).status_code == 404
    assert (await t.admin.http.post("/api/admin/webhooks/999999999/test")).status_code == 404
    for role in ("agent", "supervisor"):
        who = await t.agent(role=role)
        assert (await who.http.post(f"/api/admin/webhooks/{hook['id']}/test")).status_code == 403
    assert (await app.http.post(f"/api/admin/webhooks/{hook['id']}/test")).status_code == 401
    assert rec.requests == []
