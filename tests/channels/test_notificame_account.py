"""The Notifica.me adapter's account capability against the fake Hub over real HTTP: listing the
account's channels, subscribing webhooks idempotently, replacing only our own stale subscriptions,
and one readable `SetupError` for a bad token, a Hub that fails, times out or answers nonsense."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from channels.base import AccountChannel, AccountSetup, SetupError
from channels.notificame import NotificameAdapter
from channels.registry import account_options, account_setups, build_adapters
from tests.fakes.notificame import FakeNotificame, Reply, hub_channel, notificame_app
from tests.fakes.serve import serve

TOKEN = "hub-token-8c1d"
URL = "https://inbox.example.com/webhooks/notificame/key-1"


@pytest.fixture
async def hub() -> AsyncIterator[tuple[NotificameAdapter, FakeNotificame, httpx.AsyncClient]]:
    app, fake = notificame_app(
        token=TOKEN,
        channels=[hub_channel("whatsapp", id="wa-1", name="WA"), hub_channel("facebook", id="fb-1"),
                  hub_channel("email", id="em-1")],
    )  # fmt: skip
    async with serve(app) as base, httpx.AsyncClient(timeout=2.0) as http:
        yield NotificameAdapter(api_url=base + "/v1"), fake, http


def test_the_registry_finds_the_capability() -> None:
    setups = account_setups(build_adapters({}))
    assert list(setups) == ["notificame"] and isinstance(setups["notificame"], AccountSetup)
    assert account_options()["notificame"].flag == "--notificame-token"


async def test_lists_the_accounts_channels_with_their_kind(
    hub: tuple[NotificameAdapter, FakeNotificame, httpx.AsyncClient],
) -> None:
    adapter, fake, http = hub
    listed = await adapter.list_account_channels(http, TOKEN)
    assert [(c.external_id, c.kind, c.network) for c in listed] == [
        ("wa-1", "whatsapp", "whatsapp"),
        ("fb-1", "messenger", "facebook"),
        ("em-1", None, "email"),
    ]
    assert listed[0].name == "WA"
    assert fake.last.path == "/v1/channels" and fake.last.headers["x-api-token"] == TOKEN


async def test_subscribes_both_event_types_once(
    hub: tuple[NotificameAdapter, FakeNotificame, httpx.AsyncClient],
) -> None:
    adapter, fake, http = hub
    wa = AccountChannel("wa-1", "whatsapp", "WA", "whatsapp")
    done = await adapter.subscribe(http, TOKEN, wa, URL)
    assert dict(done.outcomes) == {"MESSAGE": "created", "MESSAGE_STATUS": "created"}
    posted = [r.json for r in fake.requests if r.method == "POST"]
    assert posted == [
        {"eventType": t, "webhook": {"url": URL}, "criteria": {"channel": "wa-1"}}
        for t in ("MESSAGE", "MESSAGE_STATUS")
    ]
    # Again: the Hub answers 409, which counts as done; nothing is duplicated.
    again = await adapter.subscribe(http, TOKEN, wa, URL)
    assert dict(again.outcomes) == {"MESSAGE": "existing", "MESSAGE_STATUS": "existing"}
    assert len(fake.subscriptions) == 2


async def test_replaces_our_stale_subscription_but_not_someone_elses(
    hub: tuple[NotificameAdapter, FakeNotificame, httpx.AsyncClient],
) -> None:
    adapter, fake, http = hub
    wa = AccountChannel("wa-1", "whatsapp", "WA", "whatsapp")
    old = "https://old-host.example.com/webhooks/notificame/old-key"
    crm = "https://crm.example.com/hooks/notificame"
    await adapter.subscribe(http, TOKEN, wa, old)
    for event_type in ("MESSAGE", "MESSAGE_STATUS"):
        r = await http.post(
            f"{adapter.api_url}/subscriptions",
            headers={"X-API-Token": TOKEN},
            json={"eventType": event_type, "webhook": {"url": crm}, "criteria": {"channel": "wa-1"}},
        )
        assert r.status_code == 201
    done = await adapter.subscribe(http, TOKEN, wa, URL)
    assert dict(done.outcomes) == {"MESSAGE": "replaced", "MESSAGE_STATUS": "replaced"}
    urls = sorted((s["eventType"], s["webhook"]["url"]) for s in fake.subscriptions.values())
    assert urls == sorted([(t, u) for t in ("MESSAGE", "MESSAGE_STATUS") for u in (URL, crm)])


@pytest.mark.parametrize(
    ("reply", "cause", "words"),
    [
        (
            Reply(401, json={"code": "UNAUTHORIZED", "message": "Invalid API token"}),
            "unauthorized",
            "refused the token",
        ),
        (Reply(503), "unavailable", "unavailable (HTTP 503)"),
        (Reply(200, json={"unexpected": True}), "unexpected", "not a channel list"),
        (Reply(200, body=b"<html>maintenance</html>"), "unexpected", "not a channel list"),
        (Reply(200, json=[{"name": "no id"}]), "unexpected", "without an id"),
        (Reply(404), "unexpected", "HTTP 404"),
        (Reply(delay=3.0), "unavailable", "did not answer in time"),
    ],
)
async def test_failures_are_one_readable_line(
    hub: tuple[NotificameAdapter, FakeNotificame, httpx.AsyncClient], reply: Reply, cause: str, words: str
) -> None:
    adapter, fake, http = hub
    fake.script(reply)
    with pytest.raises(SetupError) as caught:
        await adapter.list_account_channels(http, TOKEN)
    assert caught.value.cause == cause and words in caught.value.reason
    assert "\n" not in caught.value.reason and TOKEN not in caught.value.reason


async def test_a_wrong_token_is_refused_by_the_fake(
    hub: tuple[NotificameAdapter, FakeNotificame, httpx.AsyncClient],
) -> None:
    adapter, _, http = hub
    with pytest.raises(SetupError) as caught:
        await adapter.list_account_channels(http, "wrong-token")
    assert caught.value.cause == "unauthorized"
    with pytest.raises(SetupError):
        await adapter.subscribe(
            http, "wrong-token", AccountChannel("wa-1", "whatsapp", "WA", "whatsapp"), URL
        )


@pytest.mark.parametrize("token", ["senha é", "日本", "a\nb", " ", ""])
async def test_a_token_no_header_can_carry_is_refused_before_any_call(
    hub: tuple[NotificameAdapter, FakeNotificame, httpx.AsyncClient], token: str
) -> None:
    """Found by schemathesis: a non-ASCII token made httpx raise while encoding the header (a 500)."""
    adapter, fake, http = hub
    with pytest.raises(SetupError) as caught:
        await adapter.list_account_channels(http, token)
    assert caught.value.cause == "unauthorized" and fake.requests == []


async def test_a_dead_hub_is_unavailable() -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        with pytest.raises(SetupError) as caught:
            await NotificameAdapter(api_url="http://127.0.0.1:9/v1").list_account_channels(http, TOKEN)
    assert caught.value.cause == "unavailable" and "cannot reach" in caught.value.reason
