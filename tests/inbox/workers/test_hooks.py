"""Outgoing webhooks end to end, on both databases: a real receiver on 127.0.0.1 checks each signature;
events arrive once each and in order; a receiver failing (500, 503 with Retry-After) is retried and the
event recorded delivered once; a sender stopped mid-call and started again loses nothing; two sender
processes on one database never deliver a (subscription, event) twice; a subscription failing for
longer than the window is disabled with a reason and an audit entry, and enabling it delivers the
backlog; retention keeps what an enabled subscription still needs. Runs on a database of this
module's own: senders claim every subscription of their database."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from inbox import models as m
from inbox.config import Settings
from inbox.runtime import Runtime
from inbox.workers.hooks import hooks_worker
from inbox.workers.retention import prune
from tests.databases import migrated_database
from tests.fakes.receiver import Recorder, Reply, receiver_app, verify
from tests.fakes.serve import serve
from tests.inbox.workers.outbox_support import eventually
from tests.support import App, Tenant, notificame_message, running_app

ws, wd = m.webhook_subscriptions.c, m.webhook_deliveries.c
FAST = {
    "webhook_poll_seconds": 0.05,
    "webhook_backoff_base_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.2,
    "webhook_timeout_seconds": 5.0,
}


@pytest.fixture(scope="module")
async def hooks_db(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database(backend_name, tmp_path_factory.mktemp("hooks")) as url:
        yield url


@pytest.fixture(scope="module")
async def api(settings: Settings, hooks_db: str) -> AsyncIterator[App]:
    """The API side (workers off): tenants, channels, subscriptions, incoming webhooks."""
    async with running_app(settings.but(database_url=hooks_db, workers=False)) as app:
        yield app


@pytest.fixture
async def receiver(api: App) -> AsyncIterator[tuple[str, Recorder]]:
    asgi, rec = receiver_app()
    async with serve(asgi) as url:
        yield url + "/crm/inbox", rec
    # Nothing of this test is delivered by the next one's senders.
    async with api.runtime.engine.begin() as conn:
        await conn.execute(update(m.webhook_subscriptions).values(enabled=False))


@contextlib.asynccontextmanager
async def sender(settings: Settings, db: str, **changes: Any) -> AsyncIterator[Runtime]:
    """A sender process: a runtime running only the webhook worker."""
    rt = Runtime(
        settings.but(database_url=db, workers=True, **{**FAST, **changes}), workers={"webhooks": hooks_worker}
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


async def subscribe(tenant: Tenant, url: str, events: list[str]) -> dict[str, Any]:
    r = await tenant.admin.http.post("/api/admin/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def write(app: App, tenant: Tenant, texts: list[str], *, customers: int = 1) -> None:
    """Customers write in on a new channel of `tenant`, in turn: one text each."""
    ch = await tenant.channel()
    who = [f"55119{secrets.randbelow(10**8):08d}" for _ in range(customers)]
    for i, text in enumerate(texts):
        r = await app.post_webhook(ch, notificame_message(ch, sender=who[i % customers], text=text))
        assert r.status_code == 200, r.text


async def sub_row(app: App, hook_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(select(m.webhook_subscriptions).where(ws.id == hook_id))).one()


async def attempts(app: App, hook_id: int) -> list[Any]:
    async with app.runtime.engine.connect() as conn:
        q = select(m.webhook_deliveries).where(wd.subscription_id == hook_id).order_by(wd.id)
        return list((await conn.execute(q)).all())


async def delivered(app: App, hook_id: int, n: int) -> bool:
    return int((await sub_row(app, hook_id)).delivered) >= n


def first_arrivals(rec: Recorder) -> list[Any]:
    """The bodies as the receiver would process them: each delivery id once, at its first arrival."""
    seen: dict[str, Any] = {}
    for r in rec.requests:
        seen.setdefault(r.headers["x-inbox-delivery"], r.json)
    return list(seen.values())


async def test_each_event_once_in_order_signed(
    api: App,
    hooks_db: str,
    settings: Settings,
    receiver: tuple[str, Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, rec = receiver
    t, other = await api.tenant(), await api.tenant()
    hook = await subscribe(t, url, ["conversation.created", "message.created"])
    secret = hook["secret"]
    texts = [f"mensagem {i}" for i in range(6)]
    await write(api, t, texts, customers=2)
    await write(api, other, ["de outro cliente"] * 3)  # another tenant's events go nowhere here
    with caplog.at_level(logging.DEBUG):
        async with sender(settings, hooks_db) as rt:
            await rec.wait_for(8, within=30)  # two conversations, six messages
            await eventually(lambda: delivered(api, hook["id"], 8), within=30, what="8 recorded")
            scrape = (await rt.metrics.scrape(rt)).decode()
    assert 'inbox_webhook_deliveries_total{outcome="delivered"} 8.0' in scrape

    assert len(rec.requests) == 8
    for r in rec.requests:
        assert verify(secret, r), r.headers
        assert r.method == "POST" and r.path == "/crm/inbox"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-inbox-delivery"] == r.json["id"] == f"{hook['id']}-{r.json['seq']}"
        assert r.headers["x-inbox-event"] == r.json["type"]
        assert r.headers["x-inbox-timestamp"] == str(r.json["timestamp"])
        assert r.json["created_at"].endswith("Z") and isinstance(r.json["data"], dict)
    bodies = [r.json for r in rec.requests]
    seqs = [b["seq"] for b in bodies]
    assert seqs == sorted(set(seqs))  # each once, in the log's order
    assert [b["data"]["text"] for b in bodies if b["type"] == "message.created"] == texts
    convs = {b["data"]["id"] for b in bodies if b["type"] == "conversation.created"}
    assert len(convs) == 2
    assert {b["data"]["conversation_id"] for b in bodies if b["type"] == "message.created"} == convs
    # Each conversation's creation comes before its messages.
    for conv in convs:
        created = next(
            b["seq"] for b in bodies if b["type"] == "conversation.created" and b["data"]["id"] == conv
        )
        assert all(
            b["seq"] > created
            for b in bodies
            if b["type"] == "message.created" and b["data"]["conversation_id"] == conv
        )

    row = await sub_row(api, hook["id"])
    async with api.runtime.engine.connect() as conn:
        last_seq = (
            await conn.execute(select(m.tenants.c.last_seq).where(m.tenants.c.id == t.id))
        ).scalar_one()
    assert row.cursor == last_seq  # passed over the types it does not want, too
    assert (row.last_status, row.last_error, row.consecutive_failures) == (200, None, 0)
    shown = (await t.admin.http.get(f"/api/admin/webhooks/{hook['id']}/deliveries")).json()["items"]
    assert [(d["seq"], d["outcome"], d["attempt"], d["status_code"]) for d in shown] == [
        (s, "delivered", 1, 200) for s in reversed(seqs)
    ]
    assert secret not in caplog.text


async def test_failures_are_retried_and_recorded_once(
    api: App, hooks_db: str, settings: Settings, receiver: tuple[str, Recorder]
) -> None:
    url, rec = receiver
    t = await api.tenant()
    hook = await subscribe(t, url, ["message.created"])
    rec.script(500, Reply.rate_limited(0.3, status=503, json={"error": "busy"}))
    await write(api, t, ["um", "dois", "três"])
    async with sender(settings, hooks_db):
        await rec.wait_for(5, within=30)
        await eventually(lambda: delivered(api, hook["id"], 3), within=30, what="3 recorded")
    ids = [r.headers["x-inbox-delivery"] for r in rec.requests]
    assert ids[0] == ids[1] == ids[2] and len(set(ids)) == 3  # the first event three times, then the rest
    assert [b["data"]["text"] for b in first_arrivals(rec)] == ["um", "dois", "três"]
    rows = await attempts(api, hook["id"])
    assert [(r.attempt, r.outcome, r.status_code) for r in rows] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "delivered", 200),
        (1, "delivered", 200),
        (1, "delivered", 200),
    ]
    assert "busy" in (rows[1].error or "")
    assert Counter(r.seq for r in rows if r.outcome == "delivered") == Counter(set(r.seq for r in rows))
    sub = await sub_row(api, hook["id"])
    assert (sub.consecutive_failures, sub.failing_since, sub.last_error, sub.enabled) == (0, None, None, True)


async def test_a_sender_stopped_mid_call_loses_nothing(
    api: App, hooks_db: str, settings: Settings, receiver: tuple[str, Recorder]
) -> None:
    url, rec = receiver
    t = await api.tenant()
    hook = await subscribe(t, url, ["message.created"])
    texts = [f"pedido {i}" for i in range(6)]
    await write(api, t, texts)
    rec.script(200, 200, Reply(delay=3.0))  # the third call is still waiting when the sender stops
    async with sender(settings, hooks_db):
        await rec.wait_for(3, within=30)
    assert int((await sub_row(api, hook["id"])).delivered) == 2
    async with sender(settings, hooks_db):  # a restart
        await eventually(lambda: delivered(api, hook["id"], 6), within=30, what="6 recorded")
    assert [b["data"]["text"] for b in first_arrivals(rec)] == texts
    # Toward the receiver at least once (the cut-off call is sent again, same delivery id); on our
    # side each event is one delivered row.
    assert len(rec.requests) == 7
    rows = await attempts(api, hook["id"])
    assert sorted(r.seq for r in rows if r.outcome == "delivered") == sorted(
        {b["seq"] for b in first_arrivals(rec)}
    )


async def test_two_senders_never_deliver_a_subscription_event_twice(
    api: App, hooks_db: str, settings: Settings, receiver: tuple[str, Recorder]
) -> None:
    url, rec = receiver
    tenants = [await api.tenant() for _ in range(3)]
    hooks = [await subscribe(t, f"{url}?t={t.id}", ["message.created"]) for t in tenants]
    for t in tenants:
        await write(api, t, [f"{t.id}: {i}" for i in range(8)], customers=3)
    async with sender(settings, hooks_db), sender(settings, hooks_db):
        for hook in hooks:
            await eventually(lambda h=hook: delivered(api, h["id"], 8), within=60, what="8 recorded")
    counts = Counter(r.headers["x-inbox-delivery"] for r in rec.requests)
    assert len(counts) == 24 and set(counts.values()) == {1}, counts
    for t in tenants:  # and in order per subscription
        mine = [r.json["data"]["text"] for r in rec.requests if r.query.get("t") == str(t.id)]
        assert mine == [f"{t.id}: {i}" for i in range(8)]


async def test_failing_for_the_window_disables_then_enabling_delivers_the_backlog(
    api: App, hooks_db: str, settings: Settings, receiver: tuple[str, Recorder]
) -> None:
    url, rec = receiver
    t = await api.tenant()
    hook = await subscribe(t, url, ["message.created"])
    rec.script(*[Reply(500, body=b"down for maintenance")] * 1000)
    await write(api, t, ["primeira"])
    async with sender(settings, hooks_db, webhook_disable_after=0.5):

        async def disabled() -> bool:
            return not (await sub_row(api, hook["id"])).enabled

        await eventually(disabled, within=30, what="auto-disable")
        shown = (await t.admin.http.get(f"/api/admin/webhooks/{hook['id']}")).json()
        assert shown["enabled"] is False
        assert shown["disabled_reason"].startswith("disabled automatically: no delivery succeeded since")
        assert "HTTP 500: down for maintenance" in shown["disabled_reason"]
        coded = shown["disabled_reason_code"]  # the same reason by code, for the admin's language
        assert coded["code"] == "webhook.disabled_auto" and coded["params"]["failures"] >= 2
        assert "HTTP 500: down for maintenance" in coded["params"]["error"]
        assert shown["consecutive_failures"] >= 2 and shown["last_status"] == 500
        audit = (await t.admin.http.get("/api/audit")).json()["items"]
        entry = next(a for a in audit if a["action"] == "webhook.disabled")
        assert entry["actor"] is None and entry["target"] == {"type": "webhook", "id": hook["id"]}

        tried = len(rec.requests)
        await write(api, t, ["segunda"])  # while disabled: kept for later, not sent
        rec.reset()  # the receiver is back
        assert tried >= 2
        r = await t.admin.http.put(f"/api/admin/webhooks/{hook['id']}", json={"enabled": True})
        assert r.json()["enabled"] is True and r.json()["consecutive_failures"] == 0
        await eventually(lambda: delivered(api, hook["id"], 2), within=30, what="the backlog")
    assert [b["data"]["text"] for b in first_arrivals(rec)] == ["primeira", "segunda"]


async def test_retention_keeps_what_an_enabled_subscription_needs(
    api: App, hooks_db: str, settings: Settings, receiver: tuple[str, Recorder]
) -> None:
    url, rec = receiver
    t = await api.tenant()
    hook = await subscribe(t, url, ["message.created"])
    start = int((await sub_row(api, hook["id"])).cursor)
    await write(api, t, ["a", "b", "c"])

    async def kept() -> list[int]:
        async with api.runtime.engine.connect() as conn:
            q = select(m.events.c.seq).where(m.events.c.tenant_id == t.id).order_by(m.events.c.seq)
            return [int(s) for s in (await conn.execute(q)).scalars()]

    async with api.runtime.engine.connect() as conn:
        last = (await conn.execute(select(m.tenants.c.last_seq).where(m.tenants.c.id == t.id))).scalar_one()
    # What prune reads of a runtime: the retention setting and the engine.
    pruner: Any = SimpleNamespace(settings=settings.but(event_retention=1), engine=api.runtime.engine)
    await prune(pruner)
    assert [s for s in await kept() if s > start] == list(range(start + 1, last + 1))
    # Disabled, it holds nothing back; enabled again, it counts what it lost and goes on.
    await t.admin.http.put(f"/api/admin/webhooks/{hook['id']}", json={"enabled": False})
    await prune(pruner)
    assert await kept() == [last]
    await t.admin.http.put(f"/api/admin/webhooks/{hook['id']}", json={"enabled": True})
    async with sender(settings, hooks_db):

        async def caught_up() -> bool:
            return int((await sub_row(api, hook["id"])).cursor) == last

        await eventually(caught_up, within=30, what="the cursor at the end")
    sub = await sub_row(api, hook["id"])
    assert sub.skipped == last - 1 - start
    async with api.runtime.engine.connect() as conn:
        kind = (
            await conn.execute(
                select(m.events.c.type).where(m.events.c.tenant_id == t.id, m.events.c.seq == last)
            )
        ).scalar_one()
    assert len(rec.requests) == (1 if kind == "message.created" else 0)
    assert int(sub.delivered) == len(rec.requests)
    assert (await sub_row(api, hook["id"])).enabled
