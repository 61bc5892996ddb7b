"""The bot's turn: the `bot` job that answers a conversation's latest customer messages, or hands off.

Owns the sequence read -> decide -> (ask the model) -> write. The model is asked outside any
transaction; the write then re-checks under the conversation's lock that the bot still owns the
conversation (an agent who took over meanwhile wins and the answer is dropped) and that no newer
customer message arrived (the job runs again for it, so a burst gets one answer to the latest context).
Must not send or write anything itself: the writes are bot/actions.py (replies through `create_reply`
and the outbox).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Row

from bot import actions, model, policy
from bot.actions import VISIBLE
from bot.config import BotConfig, bot_layer, effective
from bot.policy import Turn
from bot.prompt import build_messages, turn_text
from inbox import models as m
from inbox.texts import Text

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
                .where(msg.conversation_id == conversation_id, msg.tenant_id == tenant_id, *VISIBLE)
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
    return await _hand_off(rt, snap, answer.reason or Text("handoff.bot_error"), holding, answer.kind, answer)


async def _answer(rt: Runtime, snap: Snapshot, answer: model.Answer) -> str:
    async with rt.uow() as uow:
        return await actions.answer(uow, snap.tenant_id, snap.conversation_id, snap.last_id, answer)


async def _hand_off(
    rt: Runtime,
    snap: Snapshot,
    reason: str,
    message: str | None,
    outcome: str,
    answer: model.Answer | None,
) -> str:
    async with rt.uow() as uow:
        done = await actions.hand_off(
            uow,
            snap.tenant_id,
            snap.conversation_id,
            reason=reason,
            message=message,
            outcome=outcome,
            answer=answer,
        )
    if done != "dropped":
        log.info("bot handed conversation %s to a human: %s", snap.conversation_id, reason)
    return done


async def bot_job(rt: Runtime, job: Row[Any]) -> None:
    """The `bot` job's handler (handed to the jobs worker by the composition, inbox/app.py)."""
    await respond(rt, job.tenant_id, int(job.key))
