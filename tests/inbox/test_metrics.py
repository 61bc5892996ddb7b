"""`GET /metrics`: scraped after real traffic (webhooks new, repeated and bad, replies sent and failed
through the fake Notifica.me, a bot turn through the fake model, an automatic assignment, a socket),
parsed with prometheus_client's own parser; every figure moved by exactly what happened."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inbox.config import Settings
from tests.databases import migrated_database
from tests.fakes.notificame import zenvia_error
from tests.fakes.openai_server import Completion, openai_app
from tests.fakes.serve import serve
from tests.inbox.realtime.client import WsClient
from tests.inbox.workers.outbox_support import (
    World,
    conversation,
    eventually,
    reply,
    wait_status,
    world,
)
from tests.support import App, notificame_message

TOKEN = "scrape-token-1234"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(app: App, token: str | None = TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await app.http.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def val(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def webhooks(samples: Samples, outcome: str, provider: str = "notificame") -> float:
    return val(samples, "inbox_webhooks_total", provider=provider, outcome=outcome)


@pytest.fixture(scope="module")
async def metrics_db(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database of the module's own: its workers send every due row of it."""
    async with migrated_database(backend_name, tmp_path_factory.mktemp("metrics")) as url:
        yield url


@pytest.fixture
async def w(settings: Settings, metrics_db: str) -> AsyncIterator[tuple[World, object]]:
    model_asgi, model = openai_app()
    async with serve(model_asgi) as model_url:
        async with world(
            settings,
            metrics_db,
            metrics_token=TOKEN,
            openai_api_key="test",
            openai_base_url=model_url + "/v1",
        ) as wd:
            yield wd, model


async def test_the_token_guards_the_scrape(w: tuple[World, object]) -> None:
    app = w[0].app
    assert (await app.http.get("/metrics")).status_code == 401
    wrong = await app.http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert "inbox_webhooks_total" not in wrong.text
    await scrape(app)


async def test_an_open_scrape_without_a_token(app: App) -> None:
    """The session app has no INBOX_METRICS_TOKEN: the scrape is open; queued outbox rows (its
    workers are off) show with their age."""
    tenant = await app.tenant()
    ch = await tenant.channel()
    assert (await app.post_webhook(ch, notificame_message(ch, text="oi"))).status_code == 200
    conv = (await tenant.admin.http.get("/api/conversations")).json()["items"][0]
    r = await tenant.admin.http.post(f"/api/conversations/{conv['id']}/messages", json={"text": "olá"})
    assert r.status_code == 202, r.text
    s = await scrape(app, token=None)
    assert val(s, "inbox_outbox_rows", state="queued") >= 1
    assert val(s, "inbox_outbox_oldest_queued_seconds") >= 0
    assert webhooks(s, "stored") >= 1


async def test_counters_follow_the_traffic(w: tuple[World, object]) -> None:
    wd, model = w
    app = wd.app
    before = await scrape(app)
    tenant = await app.tenant()
    ch = await tenant.channel()

    # Someone online to take the conversation: routing assigns it (one routing wait).
    agent = await tenant.agent(capacity=5)
    online = await agent.http.put("/api/agents/me/status", json={"status": "online"})
    assert online.status_code in (200, 204), online.text
    sock = WsClient(app, tenant.admin.token)
    await sock.connect()
    await sock.ready()

    # A new message (stored), the same delivery again (duplicate), a body that is not JSON and an
    # unknown key (rejected).
    payload = notificame_message(ch, text="Oi, quero marcar")
    assert (await app.post_webhook(ch, payload)).status_code == 200
    assert (await app.post_webhook(ch, payload)).status_code == 200
    assert (await app.http.post(ch.webhook_path, content=b"{not json")).status_code == 400
    assert (await app.http.post("/webhooks/notificame/no-such-key", json={})).status_code == 404

    conv_id, _ = await conversation(app, ch)  # a second customer: stored
    sent = await reply(tenant.admin, conv_id, "Olá!")
    await wait_status(app, sent["id"], "sent")
    wd.nm.script(zenvia_error("invalid number"))
    failed = await reply(tenant.admin, conv_id, "De novo")
    await wait_status(app, failed["id"], "failed")

    # A bot turn: a customer on a bot channel, answered through the fake model.
    model.script(Completion(text="Olá! Em que posso ajudar?"))  # type: ignore[attr-defined]
    bot_ch = await tenant.channel(bot=True)
    assert (await app.post_webhook(bot_ch, notificame_message(bot_ch, text="bom dia"))).status_code == 200

    async def settled() -> Samples | None:
        s = await scrape(app)
        moved = val(s, "inbox_bot_turns_total", outcome="answered") - val(
            before, "inbox_bot_turns_total", outcome="answered"
        )
        waits = val(s, "inbox_routing_wait_seconds_count") - val(before, "inbox_routing_wait_seconds_count")
        sends = val(s, "inbox_send_attempts_total", outcome="sent") - val(
            before, "inbox_send_attempts_total", outcome="sent"
        )
        unsent = sum(val(s, "inbox_outbox_rows", state=st) for st in ("queued", "sending", "retrying"))
        return s if moved >= 1 and waits >= 1 and sends >= 2 and unsent == 0 else None

    after = await eventually(
        settled, within=20, what="a bot turn, its answer sent, an assignment and the outbox empty"
    )

    def delta(outcome: str) -> float:
        return webhooks(after, outcome) - webhooks(before, outcome)

    assert delta("stored") == 3  # two customers, one bot customer
    assert delta("duplicate") == 1
    assert delta("rejected") == 2
    assert delta("unavailable") == 0 and delta("error") == 0
    hist = val(after, "inbox_ingest_seconds_count") - val(before, "inbox_ingest_seconds_count")
    assert hist == 6  # every delivery, whatever it came to
    for outcome, n in (("sent", 2), ("failed", 1), ("retry", 0)):  # the reply and the bot's answer
        assert (
            val(after, "inbox_send_attempts_total", outcome=outcome)
            - val(before, "inbox_send_attempts_total", outcome=outcome)
            == n
        ), outcome
    assert val(after, "inbox_bot_turn_seconds_count") - val(before, "inbox_bot_turn_seconds_count") == 1
    assert val(after, "inbox_events_published_total") > val(before, "inbox_events_published_total")
    assert val(after, "inbox_sockets_open") == 1
    assert val(after, "inbox_outbox_oldest_queued_seconds") == 0
    # No tenant label anywhere: series per provider and outcome only.
    assert not any("tenant" in dict(labels) for _, labels in after)

    await sock.close()

    async def closed() -> bool:
        return val(await scrape(app), "inbox_sockets_open") == 0

    await eventually(closed, what="the socket gone from the gauge")


async def test_metrics_off_records_nothing(settings: Settings, metrics_db: str) -> None:
    async with world(settings, metrics_db, workers=False, metrics=False) as wd:
        tenant = await wd.app.tenant()
        ch = await tenant.channel()
        assert (await wd.app.post_webhook(ch, notificame_message(ch))).status_code == 200
        s = await scrape(wd.app, token=None)
        assert webhooks(s, "stored") == 0
        assert val(s, "inbox_ingest_seconds_count") == 0
