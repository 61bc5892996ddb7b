"""The audit log on both databases: admin changes and logins recorded with who, what and from which
address; `GET /api/audit` for admins only, tenant-scoped, newest first, cursor-paginated; and no
secret given to a channel ever reaches an audit row."""

from __future__ import annotations

import json

from inbox import audit
from inbox.actions import admin
from inbox.config import Settings
from tests.inbox.setup_support import HUB_TOKEN, audit_rows, setup_app
from tests.support import PASSWORD, App


async def test_admin_changes_are_recorded_with_actor_and_address(app: App) -> None:
    t, other = await app.tenant(), await app.tenant()
    http = t.admin.http
    queue = (await http.post("/api/admin/queues", json={"name": "Vendas"})).json()
    agent = (
        await http.post(
            "/api/admin/agents",
            json={"email": f"ana-{t.id}@example.com", "name": "Ana", "password": PASSWORD},
        )
    ).json()
    await http.patch(f"/api/admin/agents/{agent['id']}", json={"capacity": 2, "role": "supervisor"})
    await http.put(f"/api/admin/queues/{queue['id']}/members", json={"agent_ids": [agent["id"]]})
    await http.patch("/api/admin/routing", json={"auto_assign": False})
    await http.put("/api/settings/bot", json={"max_turns": 4})
    ch = await t.channel()
    await http.patch(f"/api/admin/channels/{ch.id}", json={"queue_id": queue["id"]})
    await http.post(f"/api/admin/agents/{agent['id']}/disable")
    r = await http.get("/api/audit")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    mine = [i for i in items if i["actor"] is not None and not i["action"].startswith("auth.")]
    assert [i["action"] for i in mine] == [
        "agent.disabled",
        "channel.updated",
        "settings.bot_updated",
        "settings.routing_updated",
        "queue.members_set",
        "agent.updated",
        "agent.created",
        "queue.created",
    ]
    assert all(i["actor"]["id"] == t.admin.id and i["address"] == "127.0.0.1" for i in mine)
    assert mine[-2]["target"] == {"type": "agent", "id": agent["id"]}
    assert mine[-2]["details"] == {"email": agent["email"], "name": "Ana", "role": "agent", "capacity": 5}
    assert mine[5]["details"] == {"capacity": 2, "role": "supervisor"}
    assert mine[2]["details"] == {"max_turns": 4}
    # The test's own setup went through the actions without a request: the system did it.
    system = [i["action"] for i in items if i["actor"] is None]
    assert "channel.created" in system and "tenant.created" in system
    # Another tenant sees none of it.
    theirs = (await other.admin.http.get("/api/audit")).json()["items"]
    assert {i["id"] for i in theirs}.isdisjoint({i["id"] for i in items})


async def test_only_admins_read_it(app: App) -> None:
    t = await app.tenant()
    for role in ("agent", "supervisor"):
        who = await t.agent(role=role)
        assert (await who.http.get("/api/audit")).status_code == 403
    assert (await app.http.get("/api/audit")).status_code == 401


async def test_logins_and_failed_logins(app: App) -> None:
    t = await app.tenant()
    a = await t.agent()
    ok = await app.http.post("/api/auth/login", json={"email": a.email, "password": PASSWORD})
    assert ok.status_code == 200
    bad = await app.http.post(
        "/api/auth/login", json={"email": a.email.upper(), "password": "wrong password"}
    )
    assert bad.status_code == 401
    stranger = await app.http.post("/api/auth/login", json={"email": f"nobody-{t.id}@x.org", "password": "x"})
    assert stranger.status_code == 401
    items = (await t.admin.http.get("/api/audit")).json()["items"]
    logins = [i for i in items if i["action"].startswith("auth.")]
    assert [(i["action"], i["target"]) for i in logins[:2]] == [
        ("auth.login_failed", {"type": "agent", "id": a.id}),
        ("auth.login", {"type": "agent", "id": a.id}),
    ]
    assert logins[0]["actor"] is None and logins[1]["actor"]["id"] == a.id
    assert all(i["address"] == "127.0.0.1" for i in logins)
    assert logins[0]["details"] == {"email": a.email}
    assert "wrong password" not in json.dumps(items)
    # An unknown email belongs to no tenant: kept, shown to nobody.
    assert all(f"nobody-{t.id}" not in json.dumps(i) for i in items)
    orphans = [
        r
        for r in await audit_rows(app)
        if r.tenant_id is None and r.details.get("email") == f"nobody-{t.id}@x.org"
    ]
    assert (
        len(orphans) == 1 and orphans[0].action == "auth.login_failed" and orphans[0].address == "127.0.0.1"
    )


async def test_cursor_pages_newest_first(app: App) -> None:
    t = await app.tenant()
    for n in range(audit.PAGE_SIZE + 7):
        assert (
            await t.admin.http.post("/api/admin/queues", json={"name": f"Fila {n:02d}"})
        ).status_code == 201
    first = (await t.admin.http.get("/api/audit")).json()
    assert len(first["items"]) == audit.PAGE_SIZE and first["next_cursor"]
    second = (await t.admin.http.get("/api/audit", params={"cursor": first["next_cursor"]})).json()
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert second["next_cursor"] is None
    assert len(ids) == len(await audit_rows(app, t.id))
    names = [i["details"]["name"] for i in first["items"] + second["items"] if i["action"] == "queue.created"]
    assert names == [f"Fila {n:02d}" for n in reversed(range(audit.PAGE_SIZE + 7))]
    r = await t.admin.http.get("/api/audit", params={"cursor": "not a cursor!"})
    assert r.status_code == 400 and "cursor" in r.json()["error"]


async def test_no_secret_put_into_a_channel_ever_reaches_an_audit_row(settings: Settings) -> None:
    async with setup_app(settings, public_url="https://inbox.example.com") as s:
        t = await s.app.tenant()
        meta = {
            "app_secret": "s3cr3t-app-a1",
            "verify_token": "s3cr3t-verify-b2",
            "access_token": "s3cr3t-EAA-c3",
        }
        r = await t.admin.http.post(
            "/api/admin/channels",
            json={
                "kind": "whatsapp",
                "provider": "meta",
                "name": "WA",
                "options": {"external_id": "99", **meta},
            },
        )
        assert r.status_code == 201, r.text
        # Through the API's import, the CLI's path (actions without a request) and a replaced token.
        assert (
            await t.admin.http.post("/api/admin/setup/import", json={"token": HUB_TOKEN})
        ).status_code == 200
        async with s.app.runtime.uow() as uow:
            await admin.create_channel(
                uow, t.id, kind="instagram", provider="notificame", name="IG", external_id="ig-9",
                secrets_={"notificame_token": "s3cr3t-nm-d4"},
            )  # fmt: skip
        s.hub.token = "s3cr3t-rotated-e5"
        assert (
            await t.admin.http.post("/api/admin/setup/import", json={"token": "s3cr3t-rotated-e5"})
        ).status_code == 200
        await t.admin.http.post(
            f"/api/admin/channels/{r.json()['id']}/test", json={"to": "5511", "text": "x"}
        )
        rows = await audit_rows(s.app, t.id)
        actions = {row.action for row in rows}
        assert {
            "channel.created",
            "account.imported",
            "channel.secret_replaced",
            "channel.test_sent",
        } <= actions
        dumped = json.dumps([[str(v) for v in row] for row in rows])
        for secret in [*meta.values(), HUB_TOKEN, "s3cr3t-nm-d4", "s3cr3t-rotated-e5"]:
            assert secret not in dumped, secret
        assert "s3cr3t" not in json.dumps((await t.admin.http.get("/api/audit")).json())


def test_scrub_keeps_names_and_drops_secret_values() -> None:
    assert audit.scrub(
        {"name": "x", "access_token": "abc", "nested": [{"password": "p", "ok": 1}], "api_key": ""}
    ) == {
        "name": "x",
        "access_token": "set",
        "nested": [{"password": "set", "ok": 1}],
    }
