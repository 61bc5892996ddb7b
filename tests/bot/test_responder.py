"""The bot end to end: webhook -> bot job -> real `openai` SDK -> fake model server -> reply or handoff.

Every test runs on SQLite and PostgreSQL against the module's app with workers on (tests/bot/conftest.py).
"""

from __future__ import annotations

import asyncio
import json

from bot.responder import respond
from inbox import models as m
from inbox.actions import conversations
from inbox.actions.replies import create_reply
from tests.bot.support import BotEnv, eventually, sender
from tests.fakes.openai_server import Completion
from tests.support import App, notificame_message, notificame_status, whatsapp_cloud_message

HOLDING = "Um momento, vou chamar um atendente."


async def handed_off(env: BotEnv, cid: int) -> object:
    async def check() -> object:
        conv = await env.conversation(cid)
        return conv if conv.status != "bot" and not await env.pending_job(cid) else None

    return await eventually(check, what=f"handoff of conversation {cid}")


async def test_bot_answers_a_customer_through_the_outbox(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True)
    env.model.script(Completion(text="Abrimos às 8h.", prompt_tokens=120, completion_tokens=9))
    cid = await env.say(ch, "Que horas vocês abrem?", sender())

    [reply] = await env.bot_said(cid)
    assert (reply.text, reply.direction, reply.sender_id) == ("Abrimos às 8h.", "out", None)
    request = env.model.last
    assert request.headers["authorization"] == "Bearer test"
    body = request.json
    assert body["model"] == env.app.runtime.settings.bot_model
    assert body["messages"][0]["role"] == "system"
    assert "português" in body["messages"][0]["content"]
    assert body["messages"][1:] == [{"role": "user", "content": "Que horas vocês abrem?"}]
    assert [t["function"]["name"] for t in body["tools"]] == ["handoff_to_human"]
    assert body["tools"][0]["function"]["parameters"]["required"] == ["reason"]
    assert body["tool_choice"] == "auto"
    assert not body.get("stream")

    [turn] = await env.settled(cid)
    assert (turn.outcome, turn.prompt_tokens, turn.completion_tokens) == ("answered", 120, 9)
    assert turn.latency_ms is not None and turn.latency_ms >= 0
    conv = await env.conversation(cid)
    assert (conv.status, conv.bot_turns) == ("bot", 1)

    # Agents see it as a bot message.
    r = await tenant.admin.http.get(f"/api/conversations/{cid}/messages")
    assert [(x["sender"]["type"], x["text"]) for x in r.json()["items"]] == [
        ("contact", "Que horas vocês abrem?"),
        ("bot", "Abrimos às 8h."),
    ]
    r = await tenant.admin.http.get("/api/bot/usage")
    assert r.json()["turns"]["answered"]["count"] == 1
    assert (r.json()["prompt_tokens"], r.json()["completion_tokens"]) == (120, 9)
    # The outbox worker sends it to the provider.
    [sent] = await env.provider.wait_for(1)
    assert sent.json["contents"] == [{"type": "text", "text": "Abrimos às 8h."}]


async def test_tool_call_hands_off_with_the_models_reason(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True)
    env.model.script(Completion(text=None, handoff="Cliente quer renegociar uma dívida"))
    cid = await env.say(ch, "Preciso renegociar meu boleto atrasado", sender())

    conv = await handed_off(env, cid)
    assert conv.status == "queued"  # type: ignore[attr-defined]
    assert conv.handoff_reason == "Cliente quer renegociar uma dívida"  # type: ignore[attr-defined]
    assert [x.text for x in await env.messages(cid, "bot")] == [HOLDING]
    [note] = await env.messages(cid, "system")
    assert "Cliente quer renegociar uma dívida" in note.text
    [turn] = await env.turns(cid)
    assert (turn.outcome, turn.prompt_tokens, turn.completion_tokens) == ("handoff", 42, 7)
    # Agents are told: conversation.updated with the new status.
    events = await env.rows(
        m.events, m.events.c.conversation_id == cid, m.events.c.type == "conversation.updated"
    )
    assert json.loads(events[-1].frame)["data"]["status"] == "queued"


async def test_tool_call_with_words_sends_the_models_words(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True)
    env.model.script(Completion(text="Vou te passar para o financeiro.", handoff="assunto financeiro"))
    cid = await env.say(ch, "Quero falar sobre a fatura", sender())
    await handed_off(env, cid)
    assert [x.text for x in await env.messages(cid, "bot")] == ["Vou te passar para o financeiro."]


async def test_keyword_hands_off_without_asking_the_model(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True)
    cid = await env.say(ch, "Quero falar com um ATENDÊNTE, por favor", sender())

    conv = await handed_off(env, cid)
    assert conv.handoff_reason == 'customer asked for a person ("atendente")'  # type: ignore[attr-defined]
    assert env.model.requests == []
    assert [x.text for x in await env.messages(cid, "bot")] == [HOLDING]
    [turn] = await env.turns(cid)
    assert (turn.outcome, turn.prompt_tokens, turn.latency_ms) == ("handoff", None, None)


FAILURES = [
    # (the model's answer, the handoff reason the agent sees, the bot_turns outcome)
    (Completion(status=500), "bot error: model answered HTTP 500", "error"),
    (Completion(delay=1.5), "bot error: timeout", "timeout"),
    (Completion(body=b"<html>Bad gateway</html>"), "bot error: unusable answer (no choices)", "error"),
    (
        Completion(json={"object": "chat.completion", "choices": []}),
        "bot error: unusable answer (no choices)",
        "error",
    ),
    (Completion(text="   "), "bot error: empty answer", "error"),
    (Completion(text=None), "bot error: empty answer", "error"),
]


async def test_model_failure_sends_the_holding_message_and_hands_off(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(
        bot=True, settings={"bot": {"reply_timeout_seconds": 0.4, "holding_message": "Só um instante!"}}
    )

    async def case(i: int, completion: Completion, reason: str, outcome: str) -> None:
        question = f"Vocês entregam em Niterói? (caso {i})"
        env.model.on(question, completion)
        cid = await env.say(ch, question, sender())
        conv = await handed_off(env, cid)
        assert (conv.status, conv.handoff_reason) == ("queued", reason), completion  # type: ignore[attr-defined]
        # Never silence, never an error text: the configured holding message.
        assert [x.text for x in await env.messages(cid, "bot")] == ["Só um instante!"], completion
        assert [t.outcome for t in await env.turns(cid)] == [outcome], completion

    # All cases at once, each its own customer: the fake answers by the customer's words.
    await asyncio.gather(*(case(i, *f) for i, f in enumerate(FAILURES)))
    assert len(env.model.requests) == len(FAILURES)  # one call each: no retries


async def test_turn_limit_hands_off_and_history_is_bounded(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True, settings={"bot": {"max_turns": 2, "history_messages": 2}})
    s = sender()
    cid = await env.say(ch, "pergunta 1", s)
    await env.bot_said(cid, 1)
    await env.say(ch, "pergunta 2", s)
    await env.bot_said(cid, 2)
    second = env.model.last.json["messages"]
    # System prompt + the last 2 messages: bot answer 1 is kept, "pergunta 1" is cut off.
    assert [x["role"] for x in second] == ["system", "assistant", "user"]
    assert second[-1]["content"] == "pergunta 2"

    await env.say(ch, "pergunta 3", s)
    conv = await handed_off(env, cid)
    assert conv.handoff_reason == "bot turn limit reached (2)"  # type: ignore[attr-defined]
    assert len(env.model.requests) == 2
    assert [t.outcome for t in await env.turns(cid)] == ["answered", "answered", "handoff"]


async def test_silence_after_handoff(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True)
    s = sender()
    cid = await env.say(ch, "preciso de um humano", s)
    await handed_off(env, cid)

    await env.say(ch, "alô? ainda está aí?", s)
    assert not await env.pending_job(cid)  # nothing is even scheduled
    # A barrier: another customer's turn on the same channel runs after anything still due.
    other = await env.say(ch, "bom dia", sender())
    await env.bot_said(other)
    assert len(env.model.requests) == 1
    assert env.model.last.json["messages"][-1]["content"] == "bom dia"
    assert [x.text for x in await env.messages(cid, "bot")] == [HOLDING]
    assert len(await env.turns(cid)) == 1


async def test_agent_takeover_while_the_model_thinks_wins(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    agent = tenant.admin
    ch = await tenant.channel(bot=True)
    env.model.script(Completion(text="resposta atrasada", delay=1.0))
    cid = await env.say(ch, "qual o preço do plano?", sender())
    await env.model.wait_for(1)
    async with env.app.runtime.uow() as uow:
        await conversations.handoff(uow, tenant.id, cid, reason="taken over", assign_to=agent.id)

    [turn] = await env.settled(cid)
    assert turn.outcome == "dropped"
    assert turn.prompt_tokens == 42  # spent all the same
    assert await env.messages(cid, "bot") == []
    conv = await env.conversation(cid)
    assert (conv.status, conv.assignee_id) == ("assigned", agent.id)


async def test_agent_reply_while_the_model_thinks_wins(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    agent = tenant.admin
    ch = await tenant.channel(bot=True)
    env.model.script(Completion(text="resposta atrasada", delay=1.0))
    cid = await env.say(ch, "vocês abrem sábado?", sender())
    await env.model.wait_for(1)
    async with env.app.runtime.uow() as uow:
        await create_reply(
            uow, tenant.id, cid, text="Oi! Aqui é a Ana.", sender_type="agent", sender_id=agent.id
        )

    [turn] = await env.settled(cid)
    assert turn.outcome == "dropped"
    assert await env.messages(cid, "bot") == []
    assert (await handed_off(env, cid)).status in ("queued", "assigned")  # type: ignore[attr-defined]


async def test_burst_gets_one_answer_to_the_latest_context(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True)
    # A slow model: messages arriving while it thinks must not produce a second answer.
    env.model.default = Completion(text="Uma resposta só.", delay=0.5)
    s = sender()
    cid = 0
    for i in range(5):
        cid = await env.say(ch, f"mensagem {i}", s)

    await env.bot_said(cid)
    turns = await env.settled(cid)
    assert [x.text for x in await env.messages(cid, "bot")] == ["Uma resposta só."]
    assert 1 <= len(env.model.requests) <= 2
    assert [t.outcome for t in turns][-1] == "answered"
    last_user = env.model.last.json["messages"][-1]
    assert last_user["role"] == "user"
    assert last_user["content"].endswith("mensagem 4")
    assert "mensagem 0" in last_user["content"]  # consecutive customer messages merged


async def test_echoes_statuses_notes_and_non_bot_channels_never_trigger_the_bot(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    plain = await tenant.channel(bot=False)
    cid = await env.say(plain, "oi, canal sem bot", sender())
    assert (await env.conversation(cid)).status == "queued"
    assert not await env.pending_job(cid)

    ch = await tenant.channel(bot=True)
    s = sender()
    cid = await env.say(ch, "primeira pergunta", s)
    await env.bot_said(cid)
    await env.settled(cid)
    # A private note is for the team: it is never shown to the model.
    async with env.app.runtime.uow() as uow:
        await create_reply(
            uow,
            tenant.id,
            cid,
            text="nota interna: cliente VIP",
            sender_type="agent",
            sender_id=tenant.admin.id,
            private=True,
        )
    # A delivery status and an echo of the business's own message schedule nothing.
    r = await env.app.post_webhook(ch, notificame_status("nm-unknown-1", "DELIVERED"))
    assert r.status_code == 200
    assert not await env.pending_job(cid)
    echo = notificame_message(ch, text="Respondido pelo celular", sender=s, direction="OUT")
    assert (await env.app.post_webhook(ch, echo)).status_code == 200
    assert not await env.pending_job(cid)
    assert len(env.model.requests) == 1
    assert all("cliente VIP" not in x["content"] for x in env.model.last.json["messages"])

    # Someone answered from the phone: the next customer message goes to a human, silently.
    await env.say(ch, "obrigado!", s)
    conv = await handed_off(env, cid)
    assert conv.handoff_reason == "an agent replied in the conversation"  # type: ignore[attr-defined]
    assert len(env.model.requests) == 1
    assert len(await env.messages(cid, "bot")) == 1


async def test_outside_business_hours_answers_and_queues(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True)
    r = await tenant.admin.http.put(
        "/api/settings/bot",
        json={
            "business_hours": {"tz": "America/Sao_Paulo", "days": {}},  # closed every day
            "out_of_hours_message": "Voltamos amanhã às 8h.",
        },
    )
    assert r.status_code == 200, r.text
    cid = await env.say(ch, "Vocês estão abertos?", sender())
    conv = await handed_off(env, cid)
    assert (conv.status, conv.handoff_reason) == ("queued", "outside business hours")  # type: ignore[attr-defined]
    assert [x.text for x in await env.messages(cid, "bot")] == ["Voltamos amanhã às 8h."]
    assert env.model.requests == []


async def test_tenant_prompt_and_knowledge_reach_the_model(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(bot=True, settings={"bot": {"knowledge": "Frete grátis acima de R$ 200."}})
    r = await tenant.admin.http.put("/api/settings/bot", json={"system_prompt": "Você é a Bia, da Loja X."})
    assert r.status_code == 200, r.text
    cid = await env.say(ch, "Tem frete grátis?", sender())
    await env.bot_said(cid)
    system = env.model.last.json["messages"][0]["content"]
    assert system.startswith("Você é a Bia, da Loja X.")
    assert "Frete grátis acima de R$ 200." in system


async def test_without_an_api_key_every_message_hands_off(app: App) -> None:
    """The session app has no OPENAI_API_KEY and no workers: run the turn by hand."""
    assert not app.runtime.settings.openai_api_key
    tenant = await app.tenant()
    ch = await tenant.channel(bot=True)
    r = await app.post_webhook(ch, notificame_message(ch, text="Olá, bom dia"))
    assert r.status_code == 200
    async with app.runtime.engine.connect() as conn:
        from sqlalchemy import select

        cid = (
            await conn.execute(select(m.conversations.c.id).where(m.conversations.c.channel_id == ch.id))
        ).scalar_one()

    assert await respond(app.runtime, tenant.id, cid) == "error"
    async with app.runtime.engine.connect() as conn:
        conv = (await conn.execute(select(m.conversations).where(m.conversations.c.id == cid))).one()
        bot_texts = (
            (
                await conn.execute(
                    select(m.messages.c.text).where(
                        m.messages.c.conversation_id == cid, m.messages.c.sender_type == "bot"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert conv.status == "queued"
    assert "OPENAI_API_KEY" in conv.handoff_reason
    assert bot_texts == [HOLDING]
    assert await respond(app.runtime, tenant.id, cid) == "idle"  # silent from now on


async def test_a_reaction_alone_asks_nothing(env: BotEnv) -> None:
    tenant = await env.app.tenant()
    ch = await tenant.channel(provider="meta", bot=True)
    payload = whatsapp_cloud_message(ch)
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0] = {
        **{k: value["messages"][0][k] for k in ("from", "id", "timestamp")},
        "type": "reaction",
        "reaction": {"message_id": "wamid.earlier", "emoji": "👍"},
    }
    assert (await env.app.post_webhook(ch, payload)).status_code == 200
    [msg] = await env.rows(m.messages, m.messages.c.channel_id == ch.id)
    assert msg.kind == "reaction"

    async def job_done() -> bool:
        return not await env.pending_job(msg.conversation_id)

    await eventually(job_done, what="the bot job to finish")
    assert env.model.requests == []
    assert await env.turns(msg.conversation_id) == []
    assert (await env.conversation(msg.conversation_id)).status == "bot"
