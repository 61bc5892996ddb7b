"""Automations with the workers running, against the fake providers on 127.0.0.1: what the customer
receives, how often, and in which shape."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from inbox import models as m
from inbox.config import Settings
from tests.inbox.automations.automation_support import automation, runs, template
from tests.inbox.workers.outbox_support import conversation, eventually, set_last_inbound, world
from tests.support import notificame_message, running_app

rn = m.automation_runs.c


async def test_a_welcome_reaches_the_customer_once_whatever_the_provider_repeats(
    settings: Settings, automations_db: str
) -> None:
    async with world(settings, automations_db) as w:
        tenant = await w.app.tenant()
        ch = await tenant.channel()
        welcome = await automation(
            tenant, "contact.created", await template(tenant, "Bem-vinda, {{contact.first_name}}!")
        )
        first = notificame_message(ch, text="Oi! Quero agendar", name="Joana Prado")
        answers = await asyncio.gather(*(w.app.post_webhook(ch, first) for _ in range(5)))
        assert {r.status_code for r in answers} == {200}
        sent = await w.nm.wait_for(1, within=20)
        assert sent[0].json["contents"] == [{"type": "text", "text": "Bem-vinda, Joana!"}]

        async def settled() -> bool:
            made = await runs(w.app, welcome["id"])
            async with w.app.runtime.engine.connect() as conn:
                left = (await conn.execute(select(m.outbox.c.id))).all()
            return len(made) == 1 and made[0].status == "sent" and not left

        await eventually(settled, what="the welcome run sent and the outbox empty")
        await asyncio.sleep(1.5)  # another watcher pass: nothing new is planned or sent
        assert len(await runs(w.app, welcome["id"])) == 1 and len(w.nm.requests) == 1


async def test_a_reminder_fires_once_across_two_servers_and_goes_as_the_approved_template(
    settings: Settings, automations_db: str
) -> None:
    async with world(settings, automations_db) as w:
        second_settings = w.settings
        async with running_app(second_settings):
            tenant = await w.app.tenant()
            ch = await tenant.channel("whatsapp", "meta")
            conv_id, customer = await conversation(w.app, ch)
            await set_last_inbound(w.app, conv_id, timedelta(hours=30))  # the window is closed
            body = await template(
                tenant, "Lembrete: {{appointment.title}} amanhã às {{appointment.time}}",
                provider={"name": "lembrete_24h", "language": "pt_BR"},
            )  # fmt: skip
            reminder = await automation(tenant, "appointment.reminder", body, offset_seconds=86_400)
            async with w.app.runtime.engine.connect() as conn:
                contact_id = (
                    await conn.execute(
                        select(m.conversations.c.contact_id).where(m.conversations.c.id == conv_id)
                    )
                ).scalar_one()
            # Starts a day and two seconds from now: the reminder is due in two seconds.
            starts = datetime.now(UTC) + timedelta(days=1, seconds=2)
            r = await tenant.admin.http.post(
                f"/api/contacts/{contact_id}/appointments",
                json={"starts_at": starts.isoformat(), "title": "Consulta"},
            )
            assert r.status_code == 201, r.text
            sent = await w.graph.wait_for(1, within=20)
            body_sent = sent[0].json
            assert body_sent["type"] == "template" and body_sent["to"] == customer
            assert body_sent["template"]["name"] == "lembrete_24h"
            assert body_sent["template"]["language"] == {"code": "pt_BR"}
            assert body_sent["template"]["components"][0]["parameters"][0] == {
                "type": "text",
                "text": "Consulta",
            }

            async def done() -> bool:
                made = await runs(w.app, reminder["id"])
                return len(made) == 1 and made[0].status == "sent"

            await eventually(done, what="the reminder run sent")
            await asyncio.sleep(1.5)  # both servers' jobs workers had their turn
            assert len(w.graph.requests) == 1
            r = await tenant.admin.http.get(f"/api/automations/{reminder['id']}/runs")
            assert [x["status"] for x in r.json()["items"]] == ["sent"]
