"""The bot's writes, each in the caller's unit of work: an answer, a handoff, the turn's record.

Owns the re-check under the conversation's lock that the bot still owns the conversation (an agent
who took over while the model was thinking wins, and the answer is dropped) and that no newer
customer message arrived (the job runs again for it). Replies go through `create_reply` and the outbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from inbox import models as m
from inbox.actions import conversations
from inbox.actions.replies import create_reply
from inbox.texts import Text
from inbox.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.model import Answer

cv, msg = m.conversations.c, m.messages.c

# What the model may see: the customer, the bot, and humans' sent replies (never notes or system lines).
# A reaction (a thumbs-up to an answer) asks for nothing: it neither triggers nor interrupts an answer.
VISIBLE = (
    msg.sender_type.in_(("contact", "bot", "agent")),
    msg.status != "note",
    msg.deleted.is_(False),
    msg.kind != "reaction",
)


async def _lock_if_bot(uow: UnitOfWork, tenant_id: int, conversation_id: int) -> bool:
    """Take the conversation's row lock (PostgreSQL) or the write lock (SQLite) as the transaction's
    first statement, and tell whether the bot still owns the conversation."""
    result = await uow.conn.execute(
        update(m.conversations)
        .where(cv.id == conversation_id, cv.tenant_id == tenant_id, cv.status == "bot")
        .values(bot_turns=cv.bot_turns)
    )
    return result.rowcount > 0


async def _newer(uow: UnitOfWork, conversation_id: int, last_id: int) -> Any:
    """The newest visible message written after `last_id` (customer or human), if any."""
    q = (
        select(msg.id, msg.sender_type)
        .where(msg.conversation_id == conversation_id, msg.id > last_id, *VISIBLE)
        .where(msg.sender_type != "bot")
        .order_by(msg.id.desc())
        .limit(1)
    )
    return (await uow.conn.execute(q)).first()


async def answer(uow: UnitOfWork, tenant_id: int, conversation_id: int, last_id: int, reply: Answer) -> str:
    """Send the model's answer to a history that ended at message `last_id`; returns the outcome
    (`answered`, or `dropped` when the bot no longer owns the conversation or something newer came)."""
    outcome = "dropped"
    if await _lock_if_bot(uow, tenant_id, conversation_id):
        newer = await _newer(uow, conversation_id, last_id)
        if newer is None:
            assert reply.text
            await create_reply(
                uow, tenant_id, conversation_id, text=reply.text, sender_type="bot", sender_id=None
            )
            await uow.conn.execute(
                update(m.conversations).where(cv.id == conversation_id).values(bot_turns=cv.bot_turns + 1)
            )
            outcome = "answered"
        elif newer.sender_type == "agent":
            # A human replied while the model was thinking: they own the conversation now.
            await conversations.handoff(uow, tenant_id, conversation_id, reason=Text("handoff.agent_spoke"))
        # else the customer wrote again: the job runs again with the full context.
    await record_turn(uow, tenant_id, conversation_id, outcome, reply)
    return outcome


async def hand_off(
    uow: UnitOfWork,
    tenant_id: int,
    conversation_id: int,
    *,
    reason: str,
    message: str | None,
    outcome: str,
    answer: Answer | None,
) -> str:
    """Hand the conversation to a human (after `message` to the customer, if any); returns `outcome`,
    or `dropped` when the bot no longer owns the conversation."""
    if not await _lock_if_bot(uow, tenant_id, conversation_id):
        await record_turn(uow, tenant_id, conversation_id, "dropped", answer)
        return "dropped"
    if message:
        await create_reply(uow, tenant_id, conversation_id, text=message, sender_type="bot", sender_id=None)
    await conversations.handoff(uow, tenant_id, conversation_id, reason=reason)
    await record_turn(uow, tenant_id, conversation_id, outcome, answer)
    return outcome


async def record_turn(
    uow: UnitOfWork, tenant_id: int, conversation_id: int, outcome: str, answer: Answer | None
) -> None:
    """One `bot_turns` row per turn: the supervisor figures count outcomes, tokens and latency."""
    latency = answer.latency_ms if answer else None
    uow.after_commit(lambda: uow.runtime.metrics.bot_turn(outcome, latency))
    await uow.conn.execute(
        insert(m.bot_turns).values(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            outcome=outcome,
            prompt_tokens=answer.prompt_tokens if answer else None,
            completion_tokens=answer.completion_tokens if answer else None,
            latency_ms=answer.latency_ms if answer else None,
            created_at=m.utcnow(),
        )
    )
