"""The bot's turn: the `bot` job that answers a conversation's latest customer messages, or hands off.

Owns the sequence read -> decide -> (ask the model) -> write. The model is asked outside any
transaction; the write then re-checks under the conversation's lock that the bot still owns the
conversation (an agent who took over meanwhile wins and the answer is dropped) and that no newer
customer message arrived (the job runs again for it, so a burst gets one answer to the latest context).
Must not send anything itself: replies go through `create_reply` and the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from bot import model, policy
from bot.config import BotConfig, bot_layer, effective
from bot.policy import Turn
from bot.prompt import build_messages, turn_text
from inbox import models as m
from inbox.actions import conversations
from inbox.actions.replies import create_reply
from inbox.jobs import job_handler
from inbox.uow import UnitOfWork

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
cv, ch, msg = m.conversations.c, m.channels.c, m.messages.c

_conversation = (
    select(
        cv.id,
        cv.tenant_id,
        cv.status,
        cv.bot_turns,
        ch.bot_enabled,
        ch.settings.label("channel_settings"),
        m.tenants.c.settings.label("tenant_settings"),
    )
    .join(m.channels, ch.id == cv.channel_id)
    .join(m.tenants, m.tenants.c.id == cv.tenant_id)
)
# What the model may see: the customer, the bot, and humans' sent replies (never notes or system lines).
# A reaction (a thumbs-up to an answer) asks for nothing: it neither triggers nor interrupts an answer.
_visible = (
    msg.sender_type.in_(("contact", "bot", "agent")),
    msg.status != "note",
    msg.deleted.is_(False),
    msg.kind != "reaction",
)


@dataclass(frozen=True)
class Snapshot:
    tenant_id: int
    conversation_id: int
    bot_turns: int
    bot_enabled: bool
    config: BotConfig
    history: list[Turn]

    @property
    def last_id(self) -> int:
        return self.history[-1].id if self.history else 0


async def _snapshot(rt: Runtime, tenant_id: int, conversation_id: int) -> Snapshot | None:
    """The conversation and its recent history, or None when the bot has nothing to do there."""
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(_conversation.where(cv.id == conversation_id, cv.tenant_id == tenant_id))
        ).first()
        # After a handoff (or any change of hands) the bot is silent: it only ever speaks in `bot`.
        if row is None or row.status != "bot":
            return None
        config = effective(
            bot_layer(row.tenant_settings),
            bot_layer(row.channel_settings),
            where=f"conversation {conversation_id}",
        )
        rows = (
            await conn.execute(
                select(msg.id, msg.sender_type, msg.kind, msg.text)
                .where(msg.conversation_id == conversation_id, msg.tenant_id == tenant_id, *_visible)
                .order_by(msg.id.desc())
                .limit(config.history_messages)
            )
        ).all()
    history = [Turn(r.id, r.sender_type, turn_text(r.kind, r.text)) for r in reversed(rows)]
    return Snapshot(tenant_id, conversation_id, row.bot_turns, bool(row.bot_enabled), config, history)


def _agent_spoke(history: list[Turn]) -> bool:
    """A human reply after the bot's last one: someone on the team is answering here."""
    for turn in reversed(history):
        if turn.sender_type == "bot":
            return False
        if turn.sender_type == "agent":
            return True
    return False


async def respond(rt: Runtime, tenant_id: int, conversation_id: int) -> str:
    """Run one bot turn; returns what happened (answered, handoff, error, timeout, dropped, idle)."""
    snap = await _snapshot(rt, tenant_id, conversation_id)
    if snap is None:
        return "idle"
    agent_spoke = _agent_spoke(snap.history)
    if not agent_spoke and not policy.pending(snap.history):
        return "idle"  # nothing new from the customer since the last answer
    rule = policy.before_model(
        snap.config,
        has_api_key=bool(rt.settings.openai_api_key),
        channel_bot_enabled=snap.bot_enabled,
        bot_turns=snap.bot_turns,
        history=snap.history,
        agent_spoke=agent_spoke,
        now=m.utcnow(),
    )
    if rule is not None:
        return await _hand_off(rt, snap, rule.reason, rule.message, rule.outcome, None)
    answer = await model.ask(
        rt, build_messages(snap.config, snap.history), within=snap.config.reply_timeout_seconds
    )
    if answer.kind == "reply":
        return await _answer(rt, snap, answer)
    holding = snap.config.holding_message
    if answer.kind == "handoff":
        # The model's own words to the customer when it gave some, else the holding message.
        return await _hand_off(rt, snap, answer.reason or "", answer.text or holding, "handoff", answer)
    return await _hand_off(rt, snap, answer.reason or "bot error", holding, answer.kind, answer)


async def _lock_if_bot(uow: UnitOfWork, snap: Snapshot) -> bool:
    """Take the conversation's row lock (PostgreSQL) or the write lock (SQLite) as the transaction's
    first statement, and tell whether the bot still owns the conversation."""
    result = await uow.conn.execute(
        update(m.conversations)
        .where(cv.id == snap.conversation_id, cv.tenant_id == snap.tenant_id, cv.status == "bot")
        .values(bot_turns=cv.bot_turns)
    )
    return result.rowcount > 0


async def _newer(uow: UnitOfWork, snap: Snapshot) -> Any:
    """The newest visible message written after the snapshot (customer or human), if any."""
    q = (
        select(msg.id, msg.sender_type)
        .where(msg.conversation_id == snap.conversation_id, msg.id > snap.last_id, *_visible)
        .where(msg.sender_type != "bot")
        .order_by(msg.id.desc())
        .limit(1)
    )
    return (await uow.conn.execute(q)).first()


async def _answer(rt: Runtime, snap: Snapshot, answer: model.Answer) -> str:
    async with rt.uow() as uow:
        outcome = "dropped"  # unless the bot still owns the conversation and nothing newer arrived
        if await _lock_if_bot(uow, snap):
            newer = await _newer(uow, snap)
            if newer is None:
                assert answer.text
                await create_reply(
                    uow,
                    snap.tenant_id,
                    snap.conversation_id,
                    text=answer.text,
                    sender_type="bot",
                    sender_id=None,
                )
                await uow.conn.execute(
                    update(m.conversations)
                    .where(cv.id == snap.conversation_id)
                    .values(bot_turns=cv.bot_turns + 1)
                )
                outcome = "answered"
            elif newer.sender_type == "agent":
                # A human replied while the model was thinking: they own the conversation now.
                await conversations.handoff(
                    uow, snap.tenant_id, snap.conversation_id, reason="an agent replied in the conversation"
                )
            # else the customer wrote again: the job runs again with the full context.
        await _record(uow, snap, outcome, answer)
    return outcome


async def _hand_off(
    rt: Runtime,
    snap: Snapshot,
    reason: str,
    message: str | None,
    outcome: str,
    answer: model.Answer | None,
) -> str:
    async with rt.uow() as uow:
        if not await _lock_if_bot(uow, snap):
            await _record(uow, snap, "dropped", answer)
            return "dropped"
        if message:
            await create_reply(
                uow, snap.tenant_id, snap.conversation_id, text=message, sender_type="bot", sender_id=None
            )
        await conversations.handoff(uow, snap.tenant_id, snap.conversation_id, reason=reason)
        await _record(uow, snap, outcome, answer)
    log.info("bot handed conversation %s to a human: %s", snap.conversation_id, reason)
    return outcome


async def _record(uow: UnitOfWork, snap: Snapshot, outcome: str, answer: model.Answer | None) -> None:
    """One `bot_turns` row per turn: the supervisor figures count outcomes, tokens and latency."""
    await uow.conn.execute(
        insert(m.bot_turns).values(
            tenant_id=snap.tenant_id,
            conversation_id=snap.conversation_id,
            outcome=outcome,
            prompt_tokens=answer.prompt_tokens if answer else None,
            completion_tokens=answer.completion_tokens if answer else None,
            latency_ms=answer.latency_ms if answer else None,
            created_at=m.utcnow(),
        )
    )


@job_handler("bot")
async def bot_job(rt: Runtime, job: Row[Any]) -> None:
    await respond(rt, job.tenant_id, int(job.key))
