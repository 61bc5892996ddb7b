"""What a customer's short answer does: a feedback score lands on the conversation that asked for it,
and an opt-out stops automations to the contact. Called by ingest's per-delivery path, which takes
every message that reads like such an answer (`triggers.is_answer_word`; the set-based paths leave
them to it), in the transaction that stores the message.

A feedback answer is stored in the resolved conversation that asked for it and does not reopen it:
it is not a new question for the bot or the queue. Only a request of the last `FEEDBACK_WINDOW`
still waiting for its answer takes one, and only while the customer has no open conversation on the
channel (an answer there is part of that conversation).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Row

from inbox import models as m
from inbox.automations import schedule, triggers
from inbox.texts import Text
from inbox.uow import UnitOfWork

cv, ct, rn = m.conversations.c, m.contacts.c, m.automation_runs.c
FEEDBACK_WINDOW = timedelta(days=7)


async def feedback_target(
    uow: UnitOfWork, channel_id: int, contact_id: int, text: str | None
) -> Row[Any] | None:
    """The resolved conversation on this channel that waits for this answer, or None."""
    if triggers.feedback_score(text) is None:
        return None
    other = m.conversations.alias("other")
    q = (
        select(m.conversations)
        .where(
            cv.channel_id == channel_id,
            cv.contact_id == contact_id,
            cv.status == "resolved",
            cv.csat_requested_at >= m.utcnow() - FEEDBACK_WINDOW,
            cv.csat_score.is_(None),
            ~exists().where(
                other.c.channel_id == channel_id,
                other.c.contact_id == contact_id,
                other.c.status != "resolved",
            ),
        )
        .order_by(cv.csat_requested_at.desc())
        .limit(1)
    )
    return (await uow.conn.execute(q)).first()


def score_values(text: str | None) -> dict[str, Any]:
    return {"csat_score": triggers.feedback_score(text)}


async def opt_out(uow: UnitOfWork, contact_id: int, text: str | None) -> bool:
    """The customer asked to stop: the contact is marked (agents see it on the contact) and every
    pending run to them is cancelled. True when this message did it."""
    if not triggers.opts_out(text):
        return False
    marked = await uow.conn.execute(
        update(m.contacts)
        .where(ct.id == contact_id, ct.opted_out_at.is_(None))
        .values(opted_out_at=m.utcnow())
    )
    await schedule.cancel(uow, rn.contact_id == contact_id, Text("automation.contact_opted_out"))
    return bool(marked.rowcount)
