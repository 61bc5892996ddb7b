"""Account setup over the admin API, on both databases, against the fake Hub and fake Graph over real
HTTP: check, import (idempotent, subscriptions at the public URL or the path to paste), test send,
Meta channels from a form (secrets in, never out), webhook key rotation, roles, tenant scoping, and a
slow or dead Hub that neither blocks the server nor leaves anything half-stored."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from inbox import models as m
from inbox.config import Settings
from tests.fakes.notificame import Reply
from tests.inbox.setup_support import HUB_TOKEN, audit_rows, setup_app

PUBLIC = "https://inbox.example.com"


async def test_check_lists_the_account_and_what_is_already_here(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t = await s.app.tenant()
        r = await t.admin.http.post("/api/admin/setup/check", json={"token": HUB_TOKEN})
        assert r.status_code == 200, r.text
        listed = r.json()
        assert listed["provider"] == "notificame"
        assert [(c["network"], c["kind"], c["supported"], c["channels"]) for c in listed["channels"]] == [
            ("whatsapp", "whatsapp", True, []),
            ("instagram", "instagram", True, []),
            ("facebook", "messenger", True, []),
            ("email", None, False, []),
        ]
        assert HUB_TOKEN not in r.text  # never echoed
        await t.admin.http.post("/api/admin/setup/import", json={"token": HUB_TOKEN})
        again = (await t.admin.http.post("/api/admin/setup/check", json={"token": HUB_TOKEN})).json()
        assert [len(c["channels"]) for c in again["channels"]] == [1, 1, 1, 0]
        # Another tenant's channels on the same Hub account are not revealed.
        other = await s.app.tenant()
        theirs = (await other.admin.http.post("/api/admin/setup/check", json={"token": HUB_TOKEN})).json()
        assert [c["channels"] for c in theirs["channels"]] == [[], [], [], []]


async def test_import_is_idempotent_and_subscribes_at_the_public_url(settings: Settings) -> None:
    async with setup_app(settings, public_url=PUBLIC) as s:
        t = await s.app.tenant()
        r = await t.admin.http.post("/api/admin/setup/import", json={"token": HUB_TOKEN})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["public_url"] == PUBLIC and result["note"] is None
        made = [i for i in result["items"] if "channel" in i]
        assert [i["channel"]["kind"] for i in made] == ["whatsapp", "instagram", "messenger"]
        assert all(i["created"] and i["error"] is None for i in made)
        assert next(i for i in result["items"] if "skipped" in i)["network"] == "email"
        for i in made:
            assert i["webhook_url"] == PUBLIC + i["channel"]["webhook_path"]
            assert i["subscriptions"] == {"MESSAGE": "created", "MESSAGE_STATUS": "created"}
        subs = {
            (v["criteria"]["channel"], v["eventType"], v["webhook"]["url"])
            for v in s.hub.subscriptions.values()
        }
        assert subs == {
            (i["external_id"], e, i["webhook_url"]) for i in made for e in ("MESSAGE", "MESSAGE_STATUS")
        }
        assert HUB_TOKEN not in r.text
        # The token is sealed at rest and the channels send with it.
        async with s.app.runtime.engine.connect() as conn:
            stored = (
                (await conn.execute(select(m.channels.c.secrets).where(m.channels.c.tenant_id == t.id)))
                .scalars()
                .all()
            )
        assert len(stored) == 3 and all(HUB_TOKEN not in v for v in stored)
        assert s.app.runtime.box.open(stored[0]) == {"notificame_token": HUB_TOKEN}
        # Again: nothing new on our side or on the Hub's.
        again = (await t.admin.http.post("/api/admin/setup/import", json={"token": HUB_TOKEN})).json()
        assert [i["created"] for i in again["items"] if "channel" in i] == [False, False, False]
        assert [i["channel"]["id"] for i in again["items"] if "channel" in i] == [
            i["channel"]["id"] for i in made
        ]
        assert all(
            i["subscriptions"] == {"MESSAGE": "existing", "MESSAGE_STATUS": "existing"}
            for i in again["items"]
            if "channel" in i
        )
        assert len(s.hub.subscriptions) == 6
        # A message the Hub delivers to a subscribed URL lands in the inbox.
        path = made[0]["channel"]["webhook_path"]
        message = {"id": "in-1", "from": "5511999990000", "to": made[0]["external_id"], "direction": "IN",
                   "channel": "whatsapp", "contents": [{"type": "text", "text": "Oi"}]}  # fmt: skip
        hook = {"type": "MESSAGE", "message": message}
        assert (await s.app.http.post(path, json=hook)).status_code == 200
        convs = (await t.admin.http.get("/api/conversations")).json()["items"]
        assert [c["channel"]["id"] for c in convs] == [made[0]["channel"]["id"]]
        actions = [r.action for r in await audit_rows(s.app, t.id)]
        assert actions.count("channel.created") == 3 and actions.count("account.imported") == 2


async def test_without_a_public_url_nothing_is_subscribed_and_the_path_is_given(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t = await s.app.tenant()
        result = (await t.admin.http.post("/api/admin/setup/import", json={"token": HUB_TOKEN})).json()
        assert result["public_url"] is None and "INBOX_PUBLIC_URL" in result["note"]
        made = [i for i in result["items"] if "channel" in i]
        assert made and all(i["webhook_url"] is None and i["subscriptions"] is None for i in made)
        assert all(i["channel"]["webhook_path"].startswith("/webhooks/notificame/") for i in made)
        assert s.hub.subscriptions == {}
        # The request may name the public URL itself.
        r = await t.admin.http.post(
            "/api/admin/setup/import", json={"token": HUB_TOKEN, "public_url": "ftp://x"}
        )
        assert r.status_code == 400 and "public_url" in r.json()["error"]
        r = await t.admin.http.post(
            "/api/admin/setup/import", json={"token": HUB_TOKEN, "public_url": PUBLIC + "/"}
        )
        assert r.json()["items"][0]["webhook_url"] == PUBLIC + made[0]["channel"]["webhook_path"]
        assert len(s.hub.subscriptions) == 6


async def test_bad_token_down_or_nonsense_hub_give_one_line_and_store_nothing(settings: Settings) -> None:
    async with setup_app(settings, public_url=PUBLIC) as s:
        t = await s.app.tenant()
        cases = [
            ({"token": "wrong"}, None, 422, "refused the token"),
            ({"token": HUB_TOKEN}, Reply(500), 502, "unavailable (HTTP 500)"),
            ({"token": HUB_TOKEN}, Reply(200, json={"what": 1}), 502, "not a channel list"),
            ({"token": ""}, None, 400, "token"),
            ({"token": HUB_TOKEN, "provider": "carrier-pigeon"}, None, 400, "provider must be one of"),
            ({"token": HUB_TOKEN, "colour": "red"}, None, 400, "colour"),
        ]
        for payload, reply, status, words in cases:
            for route in ("check", "import"):
                if reply is not None:
                    s.hub.script(reply)
                r = await t.admin.http.post(f"/api/admin/setup/{route}", json=payload)
                assert r.status_code == status, (route, payload, r.text)
                assert words in r.json()["error"] and "\n" not in r.json()["error"]
        async with s.app.runtime.engine.connect() as conn:
            n = (await conn.execute(select(m.channels.c.id).where(m.channels.c.tenant_id == t.id))).all()
        assert n == [] and s.hub.subscriptions == {}


async def test_a_slow_hub_times_out_and_the_server_keeps_serving(settings: Settings) -> None:
    async with setup_app(settings, setup_timeout_seconds=1.0) as s:
        t = await s.app.tenant()
        agent = await t.agent()
        s.hub.script(Reply(delay=4.0))
        slow = asyncio.create_task(t.admin.http.post("/api/admin/setup/check", json={"token": HUB_TOKEN}))
        await s.hub.wait_for(1)  # the Hub holds the call now
        # Meanwhile the rest of the app answers (these do not wait for the Hub).
        assert not slow.done()
        assert (await agent.http.get("/api/auth/me")).status_code == 200
        assert (await s.app.http.get("/healthz")).status_code == 200
        r = await slow
        assert r.status_code == 504 and "did not answer within 1 s" in r.json()["error"]


async def test_test_send_shows_the_providers_answer_as_is(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t, other = await s.app.tenant(), await s.app.tenant()
        made = (await t.admin.http.post("/api/admin/setup/import", json={"token": HUB_TOKEN})).json()
        channel = made["items"][0]["channel"]
        url = f"/api/admin/channels/{channel['id']}/test"
        r = await t.admin.http.post(url, json={"to": "5511988887777", "text": "Teste"})
        assert r.status_code == 200 and r.json() == {"ok": True, "provider_message_id": s.hub.sent_ids[-1]}
        sent = s.hub.last
        assert sent.path == "/v1/channels/whatsapp/messages" and sent.headers["x-api-token"] == HUB_TOKEN
        assert sent.json == {"from": made["items"][0]["external_id"], "to": "5511988887777",
                             "contents": [{"type": "text", "text": "Teste"}]}  # fmt: skip
        s.hub.script(Reply(400, json={"code": "VALIDATION_ERROR", "message": "Invalid recipient"}))
        r = await t.admin.http.post(url, json={"to": "x", "text": "Teste"})
        assert r.json() == {
            "ok": False,
            "reason": "Notifica.me: Invalid recipient (VALIDATION_ERROR, HTTP 400)",
        }
        assert (await t.admin.http.post(url, json={"to": "", "text": "x"})).status_code == 400
        assert (await other.admin.http.post(url, json={"to": "1", "text": "x"})).status_code == 404
        # Nothing is stored as a message: a test send is not a conversation.
        async with s.app.runtime.engine.connect() as conn:
            assert (
                await conn.execute(select(m.messages.c.id).where(m.messages.c.tenant_id == t.id))
            ).all() == []
        assert [r.action for r in await audit_rows(s.app, t.id)].count("channel.test_sent") == 2


async def test_meta_channel_from_a_form_secrets_in_never_out(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t = await s.app.tenant()
        secrets = {
            "app_secret": "app-secret-0a1b2c3d",
            "verify_token": "verify-9f8e",
            "access_token": "EAAGtoken77",
        }
        r = await t.admin.http.post(
            "/api/admin/channels",
            json={
                "kind": "messenger",
                "provider": "meta",
                "name": "Página",
                "options": {"external_id": "1234", **secrets},
            },
        )
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["secrets"] == {"app_secret": "set", "verify_token": "set", "access_token": "set"}
        assert made["paste"] == {"verify_token": "verify-9f8e"}  # to paste in Meta's panel, this once
        assert "app-secret-0a1b2c3d" not in r.text and "EAAGtoken77" not in r.text
        listing = (await t.admin.http.get("/api/admin/channels")).text
        assert all(v not in listing for v in secrets.values())
        # Meta's handshake and a signed event work with what was typed.
        path = made["webhook_path"]
        q = {"hub.mode": "subscribe", "hub.verify_token": "verify-9f8e", "hub.challenge": "42"}
        assert (await s.app.http.get(path, params=q)).text == "42"
        bad = [
            (
                {"kind": "messenger", "provider": "meta", "name": "x", "options": {"external_id": "1"}},
                "--app-secret",
            ),
            ({"kind": "messenger", "provider": "meta", "name": "x", "options": {"nope": "1"}}, "nope"),
            ({"kind": "fax", "provider": "meta", "name": "x", "options": {}}, "kind"),
            ({"kind": "messenger", "provider": "meta", "name": "", "options": {}}, "name"),
        ]
        for payload, words in bad:
            r = await t.admin.http.post("/api/admin/channels", json=payload)
            assert r.status_code == 400 and words in r.json()["error"], r.text
        async with s.app.runtime.engine.connect() as conn:
            rows = (await conn.execute(select(m.channels.c.id).where(m.channels.c.tenant_id == t.id))).all()
        assert len(rows) == 1


async def test_rotating_the_webhook_key_retires_the_old_url(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t, other = await s.app.tenant(), await s.app.tenant()
        ch = await t.channel()
        hook = {"type": "MESSAGE", "message": {"id": "r-1", "from": "551100", "to": ch.external_id,
                                               "contents": [{"type": "text", "text": "Oi"}]}}  # fmt: skip
        assert (await s.app.http.post(ch.webhook_path, json=hook)).status_code == 200
        assert (await other.admin.http.post(f"/api/admin/channels/{ch.id}/rotate-key")).status_code == 404
        r = await t.admin.http.post(f"/api/admin/channels/{ch.id}/rotate-key")
        assert r.status_code == 200
        new_path = r.json()["webhook_path"]
        assert new_path != ch.webhook_path
        assert (await s.app.http.post(ch.webhook_path, json=hook)).status_code == 404
        assert (
            await s.app.http.post(new_path, json={**hook, "message": {**hook["message"], "id": "r-2"}})
        ).status_code == 200
        rows = [r for r in await audit_rows(s.app, t.id) if r.action == "channel.webhook_key_rotated"]
        assert [(r.target_id, r.actor_id) for r in rows] == [(ch.id, t.admin.id)]


async def test_agents_and_supervisors_get_403_on_every_admin_route(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t = await s.app.tenant()
        ch = await t.channel()
        sup, agent = await t.agent(role="supervisor"), await t.agent()
        admin_only = [
            ("GET", "/api/admin/setup"),
            ("POST", "/api/admin/setup/check"),
            ("POST", "/api/admin/setup/import"),
            ("POST", "/api/admin/channels"),
            ("POST", f"/api/admin/channels/{ch.id}/test"),
            ("POST", f"/api/admin/channels/{ch.id}/rotate-key"),
            ("PATCH", f"/api/admin/channels/{ch.id}"),
            ("POST", "/api/admin/agents"),
            ("POST", "/api/admin/queues"),
            ("PATCH", "/api/admin/routing"),
            ("GET", "/api/audit"),
        ]
        for who in (sup, agent):
            for method, url in admin_only:
                r = await who.http.request(method, url, json={"token": HUB_TOKEN, "to": "1", "text": "x"})
                assert r.status_code == 403, (who.role, method, url, r.status_code)
        assert s.hub.requests == []
        assert (await agent.http.get("/api/channels/health")).status_code == 403
        assert (await sup.http.get("/api/channels/health")).status_code == 200
        assert (await s.app.http.get("/api/admin/setup")).status_code == 401


async def test_describe_lists_providers_and_their_options(settings: Settings) -> None:
    async with setup_app(settings, public_url=PUBLIC) as s:
        t = await s.app.tenant()
        d = (await t.admin.http.get("/api/admin/setup")).json()
        assert d["public_url"] == PUBLIC
        by = {p["provider"]: p for p in d["providers"]}
        assert by["notificame"]["account_import"] is True and by["meta"]["account_import"] is False
        assert {o["dest"] for o in by["meta"]["options"]} >= {
            "external_id",
            "app_secret",
            "verify_token",
            "access_token",
        }


async def test_a_dead_hub_gives_its_reason(settings: Settings) -> None:
    """Nothing listening: a connection error, told as such (not dressed up as a timeout)."""
    async with setup_app(settings) as s:
        s.app.runtime.adapters["notificame"].api_url = "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
        t = await s.app.tenant()
        for route in ("check", "import"):
            r = await t.admin.http.post(f"/api/admin/setup/{route}", json={"token": HUB_TOKEN})
            assert r.status_code == 502 and "cannot reach Notifica.me (ConnectError)" == r.json()["error"]


async def test_an_invite_without_a_password_answers_a_generated_one_once(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t = await s.app.tenant()
        email = f"convite-{t.id}@example.com"
        r = await t.admin.http.post(
            "/api/admin/agents", json={"email": email, "name": "Convidada", "role": "supervisor"}
        )
        assert r.status_code == 201, r.text
        password = r.json()["password"]
        assert len(password) >= 12 and r.json()["role"] == "supervisor"
        assert (
            await s.app.http.post("/api/auth/login", json={"email": email, "password": password})
        ).status_code == 200
        listed = (await t.admin.http.get("/api/agents")).text
        assert password not in listed and "password" not in listed
        assert all(password not in str(row) for row in await audit_rows(s.app, t.id))
        # A password given by the admin is never echoed.
        r = await t.admin.http.post(
            "/api/admin/agents",
            json={"email": f"x-{t.id}@example.com", "name": "X", "password": "chosen password"},
        )
        assert r.status_code == 201 and "password" not in r.json()
