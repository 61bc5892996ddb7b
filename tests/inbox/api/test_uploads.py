"""Composer attachments on both databases (issue 15 item 5): a file is uploaded as a raw body, read
back by its tenant's agents only, refused with a clear 413/415/400 when too big, of a type not
taken or empty (nothing stored), attached to replies by `upload_id`, and sent to the provider as a
signed, expiring address on INBOX_PUBLIC_URL that the provider can fetch without a login."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox import models as m
from inbox import uploads
from inbox.config import Settings
from tests.databases import migrated_database
from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.inbox.routing_support import conversation
from tests.support import App, running_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # the bytes need not be a real picture: types are declared


async def _upload(agent_http: object, data: bytes, mime: str = "image/png", name: str = "foto.png") -> dict:
    r = await agent_http.post(  # type: ignore[attr-defined]
        "/api/uploads", params={"name": name}, content=data, headers={"Content-Type": mime}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _count(app: App, tenant_id: int) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(func.count()).select_from(m.uploads).where(m.uploads.c.tenant_id == tenant_id)
        return int((await conn.execute(q)).scalar_one())


async def test_an_upload_is_served_back_to_its_tenant_only(app: App) -> None:
    ours, theirs = await app.tenant("Ours"), await app.tenant("Theirs")
    agent = await ours.agent()
    up = await _upload(agent.http, PNG, name="../../etc/Foto do cliente.png")
    assert up["name"] == "Foto do cliente.png"  # no folders from the client's name
    assert (up["kind"], up["mime_type"], up["size"]) == ("image", "image/png", len(PNG))
    assert up["url"] == f"/api/uploads/{up['id']}"

    r = await ours.admin.http.get(up["url"])  # any agent of the tenant
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.headers["content-disposition"].startswith("inline")

    foreign = await theirs.admin.http.get(up["url"])
    missing = await theirs.admin.http.get("/api/uploads/987654321")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert (await app.http.get(up["url"])).status_code == 401  # no token

    # A document downloads rather than opening in the tab.
    doc = await _upload(agent.http, b"a,b\n1,2\n", "text/csv; charset=utf-8", "planilha.csv")
    r = await agent.http.get(doc["url"])
    assert r.headers["content-disposition"].startswith("attachment")
    assert doc["mime_type"] == "text/csv" and doc["kind"] == "file"


async def test_refused_files_store_nothing(settings: Settings, tmp_path: Path) -> None:
    async with running_app(settings.but(upload_max_bytes=1000, data_dir=tmp_path)) as app:
        tenant = await app.tenant()
        agent = await tenant.agent()
        folder = uploads.folder(app.runtime.settings.data_dir, tenant.id)

        r = await agent.http.post("/api/uploads", content=b"x" * 1001, headers={"Content-Type": "image/png"})
        assert r.status_code == 413
        assert r.json()["error"] == "this file is 1001 bytes; a file may be at most 1000 bytes"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
            for _ in range(5):
                yield b"x" * 300

        r = await agent.http.post("/api/uploads", content=chunks(), headers={"Content-Type": "image/png"})
        assert r.status_code == 413
        assert r.json()["error"] == "this file is over 1000 bytes; a file may be at most 1000 bytes"

        r = await agent.http.post("/api/uploads", content=b"<html>", headers={"Content-Type": "text/html"})
        assert r.status_code == 415 and "text/html cannot be attached" in r.json()["error"]
        svg = {"Content-Type": "image/svg+xml"}
        r = await agent.http.post("/api/uploads", content=b"<svg/>", headers=svg)
        assert r.status_code == 415
        r = await agent.http.post("/api/uploads", content=b"abc")  # no type at all
        assert r.status_code == 415
        r = await agent.http.post("/api/uploads", content=b"", headers={"Content-Type": "image/png"})
        assert r.status_code == 400 and r.json()["error"] == "the file is empty"

        assert await _count(app, tenant.id) == 0
        assert not folder.exists() or list(folder.iterdir()) == []

        ok = await _upload(agent.http, b"y" * 1000)  # exactly the limit is fine
        assert ok["size"] == 1000 and await _count(app, tenant.id) == 1


async def test_a_reply_carries_uploaded_files(app: App) -> None:
    ours, theirs = await app.tenant("Ours"), await app.tenant("Theirs")
    ch = await ours.channel()
    cid = await conversation(app, ch)
    up = await _upload(ours.admin.http, PNG)
    their_up = await _upload(theirs.admin.http, PNG)

    # A private note may carry it now; the timeline gets the app's address for it.
    r = await ours.admin.http.post(
        f"/api/conversations/{cid}/messages",
        json={"text": "foto do orçamento", "private": True, "attachments": [{"upload_id": up["id"]}]},
    )
    assert r.status_code == 202, r.text
    message = r.json()
    assert message["kind"] == "image"
    [att] = message["attachments"]
    assert att == {
        "kind": "image",
        "url": f"/api/uploads/{up['id']}",
        "mime_type": "image/png",
        "name": "foto.png",
        "size": len(PNG),
        "upload_id": up["id"],
    }

    # Sent to the customer, the provider would have to fetch it: not without INBOX_PUBLIC_URL.
    r = await ours.admin.http.post(
        f"/api/conversations/{cid}/messages", json={"attachments": [{"upload_id": up["id"]}]}
    )
    assert r.status_code == 422 and "INBOX_PUBLIC_URL" in r.json()["error"]

    # Another tenant's upload reads exactly like one that does not exist.
    for upload_id in (their_up["id"], 987654321):
        r = await ours.admin.http.post(
            f"/api/conversations/{cid}/messages",
            json={"private": True, "attachments": [{"upload_id": upload_id}]},
        )
        assert r.status_code == 422
        assert r.json()["error"] == f"upload {upload_id} not found: upload the file again"

    r = await ours.admin.http.post(
        f"/api/conversations/{cid}/messages",
        json={"private": True, "attachments": [{"upload_id": up["id"], "url": "https://x.example/a.png"}]},
    )
    assert r.status_code == 400 and "either url or upload_id" in r.json()["error"]


def test_signed_addresses_expire_and_name_their_tenant(app: App) -> None:
    box = app.runtime.box
    now = time.time()
    path = uploads.public_path(box, 7, 42, now=now)
    _, _, upload_id, token = path.split("/")
    assert upload_id == "42"
    assert uploads.signed(box, 7, 42, token, now=now)
    assert not uploads.signed(box, 8, 42, token, now=now)  # another tenant's upload 42
    assert not uploads.signed(box, 7, 43, token, now=now)
    assert not uploads.signed(box, 7, 42, token, now=now + uploads.PUBLIC_URL_SECONDS + 1)
    expires, _, signature = token.partition(".")
    assert not uploads.signed(box, 7, 42, f"{int(expires) + 10}.{signature}", now=now)
    assert not uploads.signed(box, 7, 42, "nonsense", now=now)


@pytest.fixture
async def own_db(backend_name: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own: the outbox worker sends every due row of its database."""
    async with migrated_database(backend_name, tmp_path) as url:
        yield url


async def test_the_provider_gets_a_signed_address_it_can_fetch(settings: Settings, own_db: str) -> None:
    fake_asgi, fake = notificame_app()
    async with serve(fake_asgi) as fake_url:
        app_settings = settings.but(
            database_url=own_db,
            workers=True,
            provider_env={"NOTIFICAME_API_URL": fake_url},
            public_url="https://inbox.example.test/",
        )
        async with running_app(app_settings) as app:
            tenant = await app.tenant()
            ch = await tenant.channel()
            cid = await conversation(app, ch)
            up = await _upload(tenant.admin.http, b"%PDF-1.4 orcamento", "application/pdf", "Orçamento.pdf")
            r = await tenant.admin.http.post(
                f"/api/conversations/{cid}/messages",
                json={"text": "Segue o orçamento", "attachments": [{"upload_id": up["id"]}]},
            )
            assert r.status_code == 202, r.text
            [sent] = await fake.wait_for(1, within=10)
            [content] = sent.json["contents"]
            assert content["type"] == "file" and content["fileMimeType"] == "application/pdf"
            assert content["fileCaption"] == "Segue o orçamento"
            url = content["fileUrl"]
            assert url.startswith(f"https://inbox.example.test/media/{up['id']}/")

            # What the provider fetches, without a login: the file.
            path = url.removeprefix("https://inbox.example.test")
            got = await app.http.get(path)
            assert got.status_code == 200 and got.content == b"%PDF-1.4 orcamento"
            assert got.headers["content-type"] == "application/pdf"
            tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
            assert (await app.http.get(tampered)).status_code == 404
            other = path.replace(f"/media/{up['id']}/", f"/media/{up['id'] + 1}/")
            assert (await app.http.get(other)).status_code == 404
