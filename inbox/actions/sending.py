"""What send outcomes do to replies: sent (with the provider's id), failed (with the reason), tried
again later, handed back, or dropped. The outbox worker (inbox/workers/outbox.py) records the
outcomes of many sends in one unit of work (`record`): a handful of statements for the whole batch.

Owns the merge of a provider echo that was stored before the send answer, and the statuses that beat
it (parked in `pending_statuses`). Locks in one order everywhere: the messages (by id), then their
outbox rows (as the retry action in inbox/actions/replies.py does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select, update

from inbox import models as m
from inbox.actions.events import message_event
from inbox.actions.ingest.statuses import STATUS_RANK, apply_pending_statuses, set_message_status
from inbox.uow import UnitOfWork

ob, msg, cv, ps = m.outbox.c, m.messages.c, m.conversations.c, m.pending_statuses.c

Kind = Literal["sent", "failed", "retry", "drop", "hand_back"]


@dataclass(frozen=True)
class Outcome:
    """One claimed outbox row's result. `sent`: the provider accepted it (`provider_message_id`);
    `failed`: for good (`reason`, shown to the agent); `retry`: again at `due` (`reason` kept as the
    row's last error); `drop`: nothing to send any more; `hand_back`: released now instead of when its
    lease lapses (shutting down), not counting the attempt when it was never `tried`."""

    outbox_id: int
    message_id: int
    kind: Kind
    provider_message_id: str | None = None
    reason: str | None = None
    due: datetime | None = None
    tried: bool = True


_reschedule = (
    update(m.outbox)
    .where(ob.id == bindparam("oid"))
    .values(locked_until=None, next_attempt_at=bindparam("due"), last_error=bindparam("reason"))
)
_set_sent = (
    update(m.messages)
    .where(msg.id == bindparam("mid"))
    .values(provider_message_id=bindparam("pid"), status=bindparam("st"), error=bindparam("err"))
)


async def record(uow: UnitOfWork, outcomes: Sequence[Outcome]) -> None:
    """Apply `outcomes` (each of a different row) in this unit of work."""
    of: dict[str, list[Outcome]] = {k: [] for k in ("sent", "failed", "retry", "drop", "hand_back")}
    for o in outcomes:
        of[o.kind].append(o)
    settled = of["sent"] + of["failed"]
    current = await _locked_messages(uow, [o.message_id for o in settled])
    gone = [o.outbox_id for o in settled + of["drop"]]
    if gone:
        await uow.conn.execute(delete(m.outbox).where(ob.id.in_(gone)))
    if of["retry"]:
        params = [{"oid": o.outbox_id, "due": o.due, "reason": (o.reason or "")[:2000]} for o in of["retry"]]
        await uow.conn.execute(_reschedule, params)
    for tried in (True, False):
        ids = [o.outbox_id for o in of["hand_back"] if o.tried is tried]
        if ids:
            values: dict[str, Any] = {"locked_until": None}
            if not tried:
                values["attempts"] = ob.attempts - 1
            await uow.conn.execute(update(m.outbox).where(ob.id.in_(ids)).values(**values))
    for o in of["failed"]:
        cur = current.get(o.message_id)
        if cur is not None and cur.status == "queued":
            await set_message_status(uow, cur._mapping, "failed", o.reason)
    await _record_sent(uow, [(o, current[o.message_id]) for o in of["sent"] if o.message_id in current])


async def _locked_messages(uow: UnitOfWork, ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    q = select(m.messages).where(msg.id.in_(ids)).order_by(msg.id)
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    return {r.id: r for r in await uow.conn.execute(q)}


async def _record_sent(uow: UnitOfWork, sent: list[tuple[Outcome, Any]]) -> None:
    """The provider accepted these messages: each becomes `sent` (or better) with the provider's id."""
    if not sent:
        return
    conn = uow.conn
    convs = await _by_id(uow, m.conversations, {cur.conversation_id for _, cur in sent})
    pids = {str(o.provider_message_id) for o, _ in sent}
    # The provider's echo of one of these very messages may have been stored first as a row of its
    # own (ingest could not match it to us): ours is the one that stays, with the better status.
    wanted = {(cur.channel_id, o.provider_message_id): cur.id for o, cur in sent}
    found = await conn.execute(
        select(m.messages).where(
            msg.provider_message_id.in_(pids), msg.channel_id.in_({cur.channel_id for _, cur in sent})
        )
    )
    echoes = {
        ours: echo
        for echo in found
        if (ours := wanted.get((echo.channel_id, echo.provider_message_id))) is not None and echo.id != ours
    }
    if echoes:
        await conn.execute(delete(m.messages).where(msg.id.in_([e.id for e in echoes.values()])))
    rows: list[dict[str, Any]] = []
    for o, cur in sent:
        status = cur.status
        conv = convs[cur.conversation_id]._mapping
        echo = echoes.get(cur.id)
        if echo is not None:
            gone = {**echo._mapping, "deleted": True}
            # Clients drop the duplicate they were shown.
            uow.emit(cur.tenant_id, message_event("message.updated", gone, conv, merged_into=cur.id))
            if echo.status != "failed" and STATUS_RANK.get(echo.status, 0) > STATUS_RANK.get(status, 0):
                status = echo.status
        if STATUS_RANK.get(status, 0) < STATUS_RANK["sent"]:
            status = "sent"
        error = cur.error if status == "failed" else None
        rows.append({"mid": cur.id, "pid": o.provider_message_id, "st": status, "err": error})
        # The row as the UPDATE below leaves it (it is locked, and nothing else changes on update).
        new = {**cur._mapping, "provider_message_id": o.provider_message_id, "status": status, "error": error}
        uow.emit(cur.tenant_id, message_event("message.updated", new, conv))
    await conn.execute(_set_sent, rows)
    # Statuses that beat the send answer were parked; now they have a message to move.
    parked = await conn.execute(
        select(ps.channel_id, ps.provider_message_id).where(ps.provider_message_id.in_(pids)).distinct()
    )
    for channel_id, pid in parked:
        if (channel_id, pid) in wanted:
            await apply_pending_statuses(uow, channel_id, pid)


async def _by_id(uow: UnitOfWork, table: Any, ids: Iterable[int]) -> dict[int, Any]:
    return {r.id: r for r in await uow.conn.execute(select(table).where(table.c.id.in_(list(ids))))}
