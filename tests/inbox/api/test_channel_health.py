"""Channel health on both databases: webhook counters kept in memory on the hot path (no row per
webhook), flushed by `health.flush`, merged into `GET /api/channels/health` with the send figures
counted from messages (last send, failures in the last hour); channel rename and disable."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path

from sqlalchemy import select

from inbox import health
from inbox import models as m
from inbox.config import Settings
from inbox.workers.outbox import claim, deliver
from tests.databases import migrated_database
from tests.fakes.notificame import Reply
from tests.inbox.setup_support import HUB_TOKEN, setup_app


async def _health_rows(s: object, channel_id: int) -> list[object]:
    async with s.app.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(
            (
                await conn.execute(
                    select(m.channel_health).where(m.channel_health.c.channel_id == channel_id)
                )
            ).all()
        )


async def test_meta_handshake_signatures_and_events_are_counted(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t = await s.app.tenant()
        r = await t.admin.http.post(
            "/api/admin/channels",
            json={
                "kind": "whatsapp",
                "provider": "meta",
                "name": "WA Cloud",
                "options": {
                    "external_id": "5550001",
                    "app_secret": "app-s",
                    "verify_token": "vt",
                    "access_token": "EA",
                },
            },
        )
        ch = r.json()
        path = ch["webhook_path"]
        before = {
            i["channel"]["id"]: i for i in (await t.admin.http.get("/api/channels/health")).json()["items"]
        }
        assert before[ch["id"]]["last_event_at"] is None and before[ch["id"]]["last_handshake_at"] is None
        assert before[ch["id"]]["signature_failures"] == 0
        q = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "c"}
        assert (await s.app.http.get(path, params=q)).status_code == 200
        assert (await s.app.http.get(path, params={**q, "hub.verify_token": "no"})).status_code == 403
        body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
        for _ in range(3):
            bad = await s.app.http.post(path, content=body, headers={"X-Hub-Signature-256": "sha256=00"})
            assert bad.status_code == 401
        good = "sha256=" + hmac.new(b"app-s", body, hashlib.sha256).hexdigest()
        assert (
            await s.app.http.post(path, content=body, headers={"X-Hub-Signature-256": good})
        ).status_code == 200
        # Nothing written per webhook: the counters are in memory until a flush.
        assert await _health_rows(s, ch["id"]) == []
        live = {
            i["channel"]["id"]: i for i in (await t.admin.http.get("/api/channels/health")).json()["items"]
        }
        item = live[ch["id"]]
        assert item["signature_failures"] == 3 and item["last_signature_failure_at"]
        assert item["last_handshake_at"] and item["last_event_at"] and item["webhook_path"] == path
        assert await health.flush(s.app.runtime) >= 1
        rows = await _health_rows(s, ch["id"])
        assert len(rows) == 1 and rows[0].signature_failures == 3  # type: ignore[attr-defined]
        after = {
            i["channel"]["id"]: i for i in (await t.admin.http.get("/api/channels/health")).json()["items"]
        }
        assert after[ch["id"]] == item  # the same figures, now from the table
        # More failures add up across flushes.
        await s.app.http.post(path, content=body, headers={"X-Hub-Signature-256": "sha256=00"})
        await health.flush(s.app.runtime)
        assert (await _health_rows(s, ch["id"]))[0].signature_failures == 4  # type: ignore[attr-defined]
        # Another tenant's channels are not in its report.
        other = await s.app.tenant()
        assert (await other.admin.http.get("/api/channels/health")).json()["items"] == []


async def test_send_figures_come_from_messages(settings: Settings, backend_name: str, tmp_path: Path) -> None:
    # A database of its own: the outbox is claimed across tenants, and other tests leave rows queued.
    async with migrated_database(backend_name, tmp_path) as url, setup_app(settings, database_url=url) as s:
        t = await s.app.tenant()
        made = (await t.admin.http.post("/api/admin/setup/import", json={"token": HUB_TOKEN})).json()
        ch = made["items"][0]["channel"]
        to = made["items"][0]["external_id"]
        message = {
            "id": "h-1",
            "from": "5511955554444",
            "to": to,
            "contents": [{"type": "text", "text": "Oi"}],
        }
        hook = {"type": "MESSAGE", "message": message}
        assert (await s.app.http.post(ch["webhook_path"], json=hook)).status_code == 200
        conv = (await t.admin.http.get("/api/conversations")).json()["items"][0]
        for text in ("primeira", "segunda"):
            r = await t.admin.http.post(f"/api/conversations/{conv['id']}/messages", json={"text": text})
            assert r.status_code == 202
        s.hub.script(200, Reply(400, json={"code": "VALIDATION_ERROR", "message": "Invalid recipient"}))
        for _ in range(2):  # one at a time: a conversation's rows go out in order
            rows = await claim(s.app.runtime, 10)
            assert len(rows) == 1
            await deliver(s.app.runtime, rows[0], asyncio.Event())
        items = {
            i["channel"]["id"]: i for i in (await t.admin.http.get("/api/channels/health")).json()["items"]
        }
        item = items[ch["id"]]
        assert item["last_send_at"] is not None and item["send_failures_last_hour"] == 1
        assert item["last_event_at"] is not None
        others = [i for cid, i in items.items() if cid != ch["id"]]
        assert others and all(i["last_send_at"] is None and i["send_failures_last_hour"] == 0 for i in others)


async def test_rename_and_disable_a_channel(settings: Settings) -> None:
    async with setup_app(settings) as s:
        t, other = await s.app.tenant(), await s.app.tenant()
        ch = await t.channel()
        url = f"/api/admin/channels/{ch.id}"
        r = await t.admin.http.patch(url, json={"name": "  Recepção  "})
        assert r.status_code == 200 and r.json()["name"] == "Recepção" and r.json()["disabled"] is False
        assert (await t.admin.http.patch(url, json={"name": " "})).status_code == 400
        assert (await t.admin.http.patch(url, json={})).status_code == 400
        assert (await other.admin.http.patch(url, json={"disabled": True})).status_code == 404
        hook = {"type": "MESSAGE", "message": {"id": "d-1", "from": "551100", "to": ch.external_id,
                                               "contents": [{"type": "text", "text": "Oi"}]}}  # fmt: skip
        r = await t.admin.http.patch(url, json={"disabled": True})
        assert r.status_code == 200 and r.json()["disabled"] is True
        assert (await s.app.http.post(ch.webhook_path, json=hook)).status_code == 404
        r = await t.admin.http.patch(url, json={"disabled": False})
        assert r.json()["disabled"] is False
        assert (await s.app.http.post(ch.webhook_path, json=hook)).status_code == 200


async def test_the_worker_saves_the_counters_and_flushes_on_the_way_out(
    settings: Settings, backend_name: str, tmp_path: Path
) -> None:
    async with migrated_database(backend_name, tmp_path) as url:
        async with setup_app(settings, database_url=url, workers=True) as s:
            t = await s.app.tenant()
            ch = await t.channel(provider="meta")
            assert (
                await s.app.http.post(ch.webhook_path, content=b"{}", headers={"X-Hub-Signature-256": "x"})
            ).status_code == 401
            s.app.runtime.wake("channel-health")
            deadline = asyncio.get_running_loop().time() + 15
            while not await _health_rows(s, ch.id):
                assert asyncio.get_running_loop().time() < deadline, "the health worker saved nothing"
                await asyncio.sleep(0.05)
            # One more failure, then the app stops before the next periodic flush: saved on the way out.
            assert (
                await s.app.http.post(ch.webhook_path, content=b"{}", headers={"X-Hub-Signature-256": "x"})
            ).status_code == 401
        async with setup_app(settings, database_url=url) as again:
            rows = await _health_rows(again, ch.id)
            assert [r.signature_failures for r in rows] == [2]  # type: ignore[attr-defined]
