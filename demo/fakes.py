"""The demo's two fake services: a Notifica.me Hub that accepts replies and reports them delivered, and
an OpenAI-compatible model with canned Portuguese answers (a `handoff_to_human` call on "atendente").

Deterministic and local: no network beyond 127.0.0.1. Must not be used by tests (tests/fakes has the
scriptable ones); this one only has to look alive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _plain(text: str) -> str:
    """Lower case without accents, so that "Preço" and "preco" match the same answer."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


# --- the Hub ---------------------------------------------------------------------------------------


class FakeHub:
    """Accepts `POST /v1/channels/{network}/messages`, answers an id, then posts `DELIVERED` for it to
    the inbox's webhook of the channel the reply came from (`webhook_for(hub_channel_id)`)."""

    def __init__(self, webhook_for: Callable[[str], str | None], http: httpx.AsyncClient) -> None:
        self._webhook_for = webhook_for
        self._http = http
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/channels/{network}/messages", self._send, methods=["POST"])])

    async def _send(self, request: Request) -> JSONResponse:
        body = await request.json()
        message_id = f"demo-msg-{next(self._ids)}"
        self.sent += 1
        webhook = self._webhook_for(str(body.get("from", "")))
        if webhook:
            task = asyncio.create_task(self._report(webhook, message_id, str(request.path_params["network"])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse({"id": message_id, **body})

    async def _report(self, webhook: str, message_id: str, network: str) -> None:
        # A phone takes a moment to receive: the status moves sent -> delivered visibly in the page.
        await asyncio.sleep(1.0)
        status = {
            "id": f"st-{message_id}",
            "timestamp": now_iso(),
            "type": "MESSAGE_STATUS",
            "channel": network,
            "messageId": message_id,
            "messageStatus": {"timestamp": now_iso(), "code": "DELIVERED"},
        }
        try:
            await self._http.post(webhook, json=status)
        except httpx.HTTPError:
            pass  # the inbox is stopping; a demo status is not worth a retry


# --- the model ---------------------------------------------------------------------------------------

ANSWERS: list[tuple[tuple[str, ...], str]] = [
    (
        ("agend", "marcar", "consulta", "horario disponivel"),
        "Claro! Temos horários amanhã às 9h, às 14h e às 16h30. Qual fica melhor para você?",
    ),
    (
        ("preco", "valor", "quanto", "custa"),
        "A consulta particular custa R$ 250,00 e o retorno em até 30 dias é gratuito. "
        "Aceitamos Pix e cartão em até 3x.",
    ),
    (
        ("endereco", "onde fica", "localiza", "estacionamento"),
        "Estamos na Rua das Flores, 123, sala 45, Centro. Há estacionamento conveniado no prédio.",
    ),
    (
        ("horario", "abre", "funciona", "fecha", "sabado"),
        "Funcionamos de segunda a sexta, das 8h às 18h, e aos sábados das 8h ao meio-dia.",
    ),
    (
        ("convenio", "plano", "unimed", "amil"),
        "Atendemos Unimed, Amil e SulAmérica. Para outros planos, emitimos recibo para reembolso.",
    ),
    (
        ("terca", "quinta", "amanha", "pode ser", "remarcar", "9h"),
        "Anotado! Deixei o horário reservado para você; a recepção confirma em seguida por aqui.",
    ),
    (("obrigad", "combinado", "ate amanha"), "Por nada! Qualquer coisa, é só chamar. Até logo!"),
]
GREETING = (
    "Olá! Sou a assistente virtual da Clínica Demo. "
    "Posso ajudar com agendamento, preços, endereço ou horários."
)
HANDOFF_WORDS = ("atendente", "humano", "pessoa", "falar com alguem")


def answer_for(text: str) -> tuple[str | None, bool]:
    """(reply, handoff) for the customer's last message."""
    plain = _plain(text)
    if any(w in plain for w in HANDOFF_WORDS):
        return "Vou chamar alguém da nossa equipe para continuar, só um instante.", True
    for words, reply in ANSWERS:
        if any(w in plain for w in words):
            return reply, False
    return GREETING, False


class FakeModel:
    """`POST /v1/chat/completions` (non-streaming), the shape of the official API."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])

    async def _complete(self, request: Request) -> JSONResponse:
        req = await request.json()
        last = ""
        for m in reversed(req.get("messages") or []):
            if isinstance(m, dict) and m.get("role") == "user":
                last = str(m.get("content") or "")
                break
        reply, handoff = answer_for(last)
        n = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": reply, "refusal": None}
        if handoff:
            message["tool_calls"] = [
                {
                    "id": f"call_demo_{n}",
                    "type": "function",
                    "function": {
                        "name": "handoff_to_human",
                        "arguments": json.dumps({"reason": "cliente pediu"}),
                    },
                }
            ]
        return JSONResponse(
            {
                "id": f"chatcmpl-demo-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(req.get("model") or "demo"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if handoff else "stop",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
            }
        )
