"""Simulated customers writing to the demo clinic in Portuguese, as Notifica.me webhooks over HTTP.

Owns the personas, their scripts and the pace. Bounded: each persona writes its script once, then the
stream ends. Must not write to the database: everything enters through the inbox's webhook route.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass

import httpx

from demo.fakes import now_iso


@dataclass(frozen=True)
class Persona:
    name: str
    network: str  # "whatsapp" or "instagram": the Hub channel the persona writes to
    address: str  # phone number or Instagram id
    script: tuple[str, ...]


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "Maria Souza",
        "whatsapp",
        "5511987650001",
        (
            "Bom dia! Gostaria de agendar uma consulta para a próxima semana.",
            "Pode ser na terça à tarde?",
            "Perfeito, obrigada!",
        ),
    ),
    Persona(
        "@joao.pereira",
        "instagram",
        "ig-17841400000000001",
        (
            "Oi, vocês atendem aos sábados?",
            "E qual o endereço da clínica?",
        ),
    ),
    Persona(
        "Ana Lima",
        "whatsapp",
        "5521998760002",
        (
            "Olá, quanto custa a consulta?",
            "Aceitam convênio Unimed?",
            "Quero falar com um atendente, por favor.",
        ),
    ),
    Persona(
        "@carla.mendes",
        "instagram",
        "ig-17841400000000002",
        (
            "Boa tarde! Queria saber o preço da limpeza de pele.",
            "Tem horário disponível amanhã?",
        ),
    ),
    Persona(
        "Pedro Santos",
        "whatsapp",
        "5531987650003",
        (
            "Boa tarde, onde fica a clínica? Tem estacionamento?",
            "Obrigado!",
        ),
    ),
    Persona(
        "Lucia Ferreira",
        "whatsapp",
        "5541976540004",
        (
            "Preciso remarcar minha consulta de quinta, pode ser?",
            "Prefiro falar com uma pessoa, atendente por favor.",
        ),
    ),
    Persona(
        "@rafa.oliveira",
        "instagram",
        "ig-17841400000000003",
        (
            "Olá! Vocês fazem avaliação gratuita?",
            "Qual o horário de funcionamento?",
        ),
    ),
    Persona(
        "Fernanda Costa",
        "whatsapp",
        "5511965430005",
        (
            "Oi! Qual o horário de vocês amanhã?",
            "Consigo agendar às 9h?",
            "Combinado, até amanhã.",
        ),
    ),
)


def message_event(persona: Persona, hub_channel: str, text: str, serial: int) -> dict[str, object]:
    """A Notifica.me `MESSAGE` event (Zenvia v2 shape) from the persona."""
    message_id = f"demo-in-{persona.address}-{serial}"
    return {
        "id": f"evt-{message_id}",
        "timestamp": now_iso(),
        "type": "MESSAGE",
        "channel": persona.network,
        "direction": "IN",
        "message": {
            "id": message_id,
            "from": persona.address,
            "to": hub_channel,
            "direction": "IN",
            "channel": persona.network,
            "contents": [{"type": "text", "text": text}],
            "timestamp": now_iso(),
            "visitor": {"name": persona.name},
        },
    }


def schedule(rng: random.Random) -> list[tuple[Persona, int]]:
    """The order in which (persona, line) are written: personas start in turn, lines of one persona
    stay in order, conversations interleave as real ones do."""
    pending = {p: 0 for p in PERSONAS}
    started: list[Persona] = []
    order: list[tuple[Persona, int]] = []
    waiting = list(PERSONAS)
    while waiting or any(pending[p] < len(p.script) for p in started):
        ongoing = [p for p in started if pending[p] < len(p.script)]
        if waiting and (not ongoing or rng.random() < 0.45):
            p = waiting.pop(0)
            started.append(p)
        else:
            p = rng.choice(ongoing)
        order.append((p, pending[p]))
        pending[p] += 1
    return order


async def simulate(
    http: httpx.AsyncClient,
    webhooks: dict[str, tuple[str, str]],
    *,
    interval: float,
    stop: asyncio.Event,
    seed: int | None = None,
) -> int:
    """Post the schedule, one message every ~`interval` seconds (jittered), until done or `stop`.
    `webhooks` maps a network to (the inbox's webhook URL, the Hub channel id). Returns how many went in."""
    rng = random.Random(seed)
    sent = 0
    for serial, (persona, line) in zip(itertools.count(), schedule(rng)):
        # The first message comes at once, so that a newcomer sees the inbox move straight away.
        delay = 0.5 if serial == 0 else interval * rng.uniform(0.6, 1.4)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
            return sent
        except TimeoutError:
            pass
        url, hub_channel = webhooks[persona.network]
        try:
            r = await http.post(url, json=message_event(persona, hub_channel, persona.script[line], serial))
            sent += r.status_code == 200
        except httpx.HTTPError:
            continue  # the inbox is restarting or stopping: the demo just skips that line
    return sent
