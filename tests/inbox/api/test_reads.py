"""Read API: filters, cursor pagination, visibility per role, tenant isolation on every route."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from inbox import models as m
from tests.support import App, Tenant, notificame_message


async def _conversations(app: App, tenant: Tenant, n: int) -> list[int]:
    ch = await tenant.channel()
    for i in range(n):
        r = await app.post_webhook(ch, notificame_message(ch, text=f"cliente {i}", name=f"Cliente {i}"))
        assert r.status_code == 200
    async with app.runtime.engine.begin() as conn:
        ids = (
            (
                await conn.execute(
                    select(m.conversations.c.id)
                    .where(m.conversations.c.tenant_id == tenant.id)
                    .order_by(m.conversations.c.id)
                )
            )
            .scalars()
            .all()
        )
        # Distinct, known activity times: conversation i is i minutes old... except two share one time,
        # so the cursor must break ties by id.
        base = m.utcnow()
        for i, cid in enumerate(ids):
            at = base - timedelta(minutes=i if i != 3 else 2)
            await conn.execute(
                update(m.conversations).where(m.conversations.c.id == cid).values(last_message_at=at)
            )
    return list(ids)


async def test_pagination_walks_every_conversation_once_newest_first(app: App) -> None:
    tenant = await app.tenant()
    ids = await _conversations(app, tenant, 7)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await tenant.admin.http.get("/api/conversations", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Newest activity first; the tie (i=2 and i=3) ordered by id, descending.
    assert seen == [ids[0], ids[1], ids[3], ids[2], ids[4], ids[5], ids[6]]
    bad = await tenant.admin.http.get("/api/conversations", params={"cursor": "%%%"})
    assert bad.status_code == 400


async def test_conversation_shape_and_filters(app: App) -> None:
    tenant = await app.tenant()
    ids = await _conversations(app, tenant, 3)
    agent = await tenant.agent()
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            update(m.conversations)
            .where(m.conversations.c.id == ids[0])
            .values(status="assigned", assignee_id=agent.id)
        )
    conv = (await tenant.admin.http.get(f"/api/conversations/{ids[0]}")).json()
    assert {
        "id",
        "status",
        "channel",
        "contact",
        "assignee_id",
        "created_at",
        "last_message_at",
        "unread_count",
    } <= set(conv)
    assert conv["channel"]["kind"] == "whatsapp" and conv["contact"]["name"] == "Cliente 0"
    assert conv["unread_count"] == 1 and conv["created_at"].endswith("Z")

    def ids_of(resp: object) -> list[int]:
        return [c["id"] for c in resp.json()["items"]]  # type: ignore[attr-defined]

    admin = tenant.admin.http
    assert ids_of(await admin.get("/api/conversations", params={"status": "assigned"})) == [ids[0]]
    assert ids_of(await admin.get("/api/conversations", params={"assignee": "unassigned"})) == [
        ids[1],
        ids[2],
    ]
    assert ids_of(await admin.get("/api/conversations", params={"assignee": str(agent.id)})) == [ids[0]]
    assert ids_of(await agent.http.get("/api/conversations", params={"assignee": "me"})) == [ids[0]]
    assert (
        ids_of(await admin.get("/api/conversations", params={"channel": str(conv["channel"]["id"])})) == ids
    )
    assert (await admin.get("/api/conversations", params={"assignee": "x"})).status_code == 400


async def test_agents_see_their_own_and_unassigned_only(app: App) -> None:
    tenant = await app.tenant()
    ids = await _conversations(app, tenant, 3)
    alice, bob = await tenant.agent(), await tenant.agent()
    supervisor = await tenant.agent(role="supervisor")
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            update(m.conversations)
            .where(m.conversations.c.id == ids[0])
            .values(status="assigned", assignee_id=bob.id)
        )
    alice_list = [c["id"] for c in (await alice.http.get("/api/conversations")).json()["items"]]
    assert sorted(alice_list) == sorted(ids[1:])
    assert (await alice.http.get(f"/api/conversations/{ids[0]}")).status_code == 403
    assert (await alice.http.get(f"/api/conversations/{ids[0]}/messages")).status_code == 403
    assert (await bob.http.get(f"/api/conversations/{ids[0]}/messages")).status_code == 200
    sup_list = [c["id"] for c in (await supervisor.http.get("/api/conversations")).json()["items"]]
    assert sorted(sup_list) == sorted(ids)


async def test_another_tenants_objects_are_404(app: App) -> None:
    ours, theirs = await app.tenant("Ours"), await app.tenant("Theirs")
    their_ids = await _conversations(app, theirs, 1)
    await _conversations(app, ours, 1)
    async with app.runtime.engine.connect() as conn:
        their_contact = (
            await conn.execute(select(m.contacts.c.id).where(m.contacts.c.tenant_id == theirs.id))
        ).scalar_one()
    http = ours.admin.http
    assert (await http.get(f"/api/conversations/{their_ids[0]}")).status_code == 404
    assert (await http.get(f"/api/conversations/{their_ids[0]}/messages")).status_code == 404
    assert (await http.get(f"/api/contacts/{their_contact}")).status_code == 404
    assert (await http.get("/api/conversations/not-a-number")).status_code == 404
    listed = (await http.get("/api/conversations")).json()["items"]
    assert their_ids[0] not in [c["id"] for c in listed]
    contacts = (await http.get("/api/contacts")).json()["items"]
    assert their_contact not in [c["id"] for c in contacts]
    # Filtering by their channel shows nothing either.
    their_channel = (await theirs.admin.http.get(f"/api/conversations/{their_ids[0]}")).json()["channel"][
        "id"
    ]
    assert (await http.get("/api/conversations", params={"channel": str(their_channel)})).json()[
        "items"
    ] == []


async def test_contact_search_by_name_and_identity(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel()
    await app.post_webhook(ch, notificame_message(ch, sender="5511977778888", name="Beatriz Souza"))
    await app.post_webhook(ch, notificame_message(ch, sender="5511966665555", name="Carlos Lima"))
    http = tenant.admin.http
    by_name = (await http.get("/api/contacts", params={"q": "beatriz"})).json()["items"]
    assert [c["name"] for c in by_name] == ["Beatriz Souza"]
    assert by_name[0]["lead_status"] == "new"
    by_phone = (await http.get("/api/contacts", params={"q": "66665"})).json()["items"]
    assert [c["name"] for c in by_phone] == ["Carlos Lima"]
    one = (await http.get(f"/api/contacts/{by_phone[0]['id']}")).json()
    assert one["identities"] == [{"kind": "whatsapp", "external_id": "5511966665555"}]
    assert len((await http.get("/api/contacts")).json()["items"]) == 2
