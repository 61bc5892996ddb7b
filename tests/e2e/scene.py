"""A believable tenant for the browser tests and the README screenshots: a few agents, three
channels, customers writing Portuguese, replies with delivery ticks, a private note, a queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from inbox import models as m
from tests.e2e.support import E2E
from tests.support import Agent, Channel, Tenant, notificame_message, notificame_status


async def set_routing(e2e: E2E, tenant: Tenant, **values: Any) -> None:
    """Change the tenant's routing settings (auto_assign, sla_first_response_seconds, ...)."""
    t = m.tenants.c
    async with e2e.app.runtime.uow() as uow:
        current = (await uow.conn.execute(select(t.settings).where(t.id == tenant.id))).scalar_one()
        settings = dict(current or {})
        settings["routing"] = {**settings.get("routing", {}), **values}
        await uow.conn.execute(update(m.tenants).where(t.id == tenant.id).values(settings=settings))


@dataclass
class Scene:
    tenant: Tenant
    lead: Agent  # the supervisor-admin whose screen is photographed
    agents: list[Agent]
    channels: dict[str, Channel]
    conversations: dict[str, int] = field(default_factory=dict)  # contact name -> conversation id


async def say(e2e: E2E, ch: Channel, sender: str, name: str, text: str) -> None:
    r = await e2e.app.post_webhook(ch, notificame_message(ch, text=text, sender=sender, name=name))
    assert r.status_code == 200, r.text


async def conversation_of(agent: Agent, name: str) -> int:
    items = (await agent.http.get("/api/conversations?limit=200")).json()["items"]
    return next(c["id"] for c in items if c["contact"]["name"] == name)


async def reply(e2e: E2E, agent: Agent, conv_id: int, text: str, *, private: bool = False) -> dict[str, Any]:
    r = await agent.http.post(
        f"/api/conversations/{conv_id}/messages", json={"text": text, "private": private}
    )
    assert r.status_code == 202, r.text
    message: dict[str, Any] = r.json()
    if private:
        return message
    for _ in range(200):  # bounded wait: the outbox worker sends within moments
        got = (await agent.http.get(f"/api/conversations/{conv_id}/messages")).json()["items"]
        mine = next(x for x in got if x["id"] == message["id"])
        if mine["provider_message_id"]:
            return mine
        await asyncio.sleep(0.05)
    raise AssertionError(f"reply {text!r} was not sent")


async def backdate(e2e: E2E, conv_id: int, minutes: float, *, step: float = 2.0) -> None:
    """Move a conversation into the past (never before today's midnight, UTC: the tenant's "today"):
    its first message `minutes` ago, each next one `step` minutes later, and its own timestamps
    following its messages. For pictures that look like a working day, not like a test."""
    now = m.utcnow()
    minutes = min(
        minutes, (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60 - 1
    )
    cv, msg = m.conversations.c, m.messages.c
    async with e2e.app.runtime.uow() as uow:
        rows = (
            await uow.conn.execute(select(m.messages).where(msg.conversation_id == conv_id).order_by(msg.id))
        ).all()
        when = {}
        for i, r in enumerate(rows):
            when[r.id] = now - timedelta(minutes=max(minutes - i * step, 0.2))
            await uow.conn.execute(update(m.messages).where(msg.id == r.id).values(created_at=when[r.id]))
        conv = (await uow.conn.execute(select(m.conversations).where(cv.id == conv_id))).one()
        first = when[rows[0].id]
        answered = [when[r.id] for r in rows if r.sender_type == "agent" and r.status != "note"]
        inbound = [when[r.id] for r in rows if r.direction == "in"]
        values: dict[str, Any] = {"created_at": first, "last_message_at": when[rows[-1].id]}
        if inbound:
            values["last_inbound_at"] = inbound[-1]
        if conv.queued_at is not None:
            values["queued_at"] = first
        if conv.assigned_at is not None:
            values["assigned_at"] = answered[0] - timedelta(seconds=30) if answered else first
        if conv.first_response_at is not None and answered:
            values["first_response_at"] = answered[0]
        if conv.resolved_at is not None:
            values["resolved_at"] = when[rows[-1].id] + timedelta(minutes=step)
        await uow.conn.execute(update(m.conversations).where(cv.id == conv_id).values(**values))
        ct = m.contacts.c
        contact = (await uow.conn.execute(select(ct.created_at).where(ct.id == conv.contact_id))).scalar_one()
        if first < contact:
            await uow.conn.execute(
                update(m.contacts).where(ct.id == conv.contact_id).values(created_at=first)
            )


HISTORY = [
    ("Camila Rocha", "Qual o horário de vocês?", "Das 9h às 18h, de segunda a sábado."),
    ("Diego Martins", "Chegou amassado o produto", "Sinto muito! Já enviei a etiqueta de troca."),
    ("Elisa Prado", "Tem cupom para primeira compra?", "Tem sim: PRIMEIRA10 dá 10% de desconto."),
    ("Felipe Nogueira", "Posso retirar na loja?", "Pode! Fica pronto em 2 horas."),
    ("Gabriela Reis", "Vocês entregam em Sorocaba?", "Entregamos, em até 3 dias úteis."),
    ("Henrique Lopes", "Aceitam Pix?", "Aceitamos Pix, cartão e boleto."),
    ("Isabela Cunha", "Meu pedido está atrasado", "Verifiquei: ele sai hoje para entrega."),
    ("Kaio Ferreira", "Tem garantia?", "Sim, 12 meses direto com a gente."),
]


async def build(e2e: E2E, *, history: bool = False) -> Scene:
    tenant = await e2e.app.tenant("Loja Aurora")
    await set_routing(e2e, tenant, auto_assign=False)
    lead = await tenant.agent(role="admin", name="Rafael Souza", capacity=6)
    async with e2e.app.runtime.uow() as uow:  # the fixture's admin gets a person's name too
        await uow.conn.execute(
            update(m.agents).where(m.agents.c.id == tenant.admin.id).values(name="Paula Mendes")
        )
    ana = await tenant.agent(name="Ana Lima", capacity=5)
    bruno = await tenant.agent(name="Bruno Costa", capacity=4)
    sofia = await tenant.agent(role="supervisor", name="Sofia Ramos", capacity=3)
    channels = {
        "whatsapp": await tenant.channel("whatsapp"),
        "instagram": await tenant.channel("instagram"),
        "messenger": await tenant.channel("messenger"),
    }
    scene = Scene(tenant, lead, [ana, bruno, sofia], channels)
    wa, ig, fb = channels["whatsapp"], channels["instagram"], channels["messenger"]

    # Answered and assigned to others (older activity first, so the list reads newest on top).
    await say(e2e, fb, "fb-7001", "Fernanda Alves", "Vocês abrem no feriado?")
    await say(e2e, wa, "5511987650004", "Lucas Oliveira", "Consigo pagar no boleto?")
    for name, who, text in (
        ("Fernanda Alves", ana, "Abrimos sim, das 10h às 16h."),
        ("Lucas Oliveira", bruno, "Pode sim! O boleto vence em 3 dias úteis."),
    ):
        cid = await conversation_of(lead, name)
        await lead.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": who.id})
        await reply(e2e, who, cid, text)

    # Waiting in the queue.
    await say(e2e, ig, "ig-5003", "Beatriz Santos", "Meu cupom PRIMEIRA10 não funcionou")
    await say(e2e, ig, "ig-5002", "João Pereira", "Vocês têm esse modelo no 42?")

    # The open conversation on screen: Rafael's, with ticks, a note, and a fresh customer message.
    await say(
        e2e,
        wa,
        "5511912345678",
        "Maria Silva",
        "Olá! Comprei um tênis ontem. Qual o prazo de entrega para Campinas?",
    )
    maria = await conversation_of(lead, "Maria Silva")
    await lead.http.post(f"/api/conversations/{maria}/assign", json={"agent_id": lead.id})
    first = await reply(e2e, lead, maria, "Oi Maria! Para Campinas o prazo é de 2 dias úteis.")
    for code in ("DELIVERED", "READ"):
        await e2e.app.post_webhook(wa, notificame_status(first["provider_message_id"], code))
    await say(
        e2e,
        wa,
        "5511912345678",
        "Maria Silva",
        "Perfeito, obrigada! E se não servir, consigo trocar o tamanho?",
    )
    await reply(e2e, lead, maria, "Cliente recorrente: oferecer frete grátis na troca.", private=True)
    second = await reply(
        e2e, lead, maria, "Consegue sim! A troca é grátis em até 30 dias, é só responder aqui."
    )
    await e2e.app.post_webhook(wa, notificame_status(second["provider_message_id"], "DELIVERED"))
    await say(e2e, wa, "5511912345678", "Maria Silva", "Ótimo, muito obrigada pela ajuda!")
    scene.conversations["Maria Silva"] = maria

    # A working morning: when each conversation started (minutes ago).
    for name, ago, step in (
        ("Fernanda Alves", 190, 4),
        ("Lucas Oliveira", 125, 3),
        ("Maria Silva", 38, 4),
        ("Beatriz Santos", 21, 1),
        ("João Pereira", 6, 1),
    ):
        await backdate(e2e, await conversation_of(lead, name), ago, step=step)
    if history:
        await _history(e2e, scene)
    return scene


async def _history(e2e: E2E, scene: Scene) -> None:
    """Resolved conversations spread over the last hours, for the chart."""
    wa, lead = scene.channels["whatsapp"], scene.lead
    helpers = scene.agents[:2]
    for i, (name, question, answer) in enumerate(HISTORY):
        await say(e2e, wa, f"55119000{i:05d}", name, question)
        cid = await conversation_of(lead, name)
        who = helpers[i % 2]
        await lead.http.post(f"/api/conversations/{cid}/assign", json={"agent_id": who.id})
        await reply(e2e, who, cid, answer)
        await who.http.post(f"/api/conversations/{cid}/resolve")
        await backdate(e2e, cid, 60 * (8 - i) - 17 * (i % 3), step=2 + 3 * (i % 3))
