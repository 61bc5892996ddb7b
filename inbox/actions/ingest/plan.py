"""The rules of ingest, pure: how a conversation opens, what a message row holds, how a customer's
message moves a conversation (a snoozed one wakes), which deliveries take the set-based path.

Shared by every path: one delivery at a time (single.py), the portable batch (sqlite.py), SQLite's
raw batch (embedded.py) and the
PostgreSQL statement (postgresql.py), which spells the same rules in SQL; tests run one scenario
through every path and compare (tests/inbox/actions/ingest/test_paths.py). No database, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case

from channels.base import ChannelConfig, InboundEvent, MessageReceived
from inbox.automations import triggers

# A burst of customer messages while the bot thinks gives one answer: the job waits this long.
BOT_DEBOUNCE = timedelta(milliseconds=400)

Key = tuple[int, str, str]  # (tenant, network, external id): one identity
Item = tuple[ChannelConfig, Sequence[InboundEvent]]  # one delivery: its channel and its events


def opening_status(channel: ChannelConfig, *, inbound: bool = True) -> str:
    """How a conversation opens: one the customer starts on a bot channel begins with the bot;
    otherwise (or opened by an echo of the business) it queues."""
    return "bot" if channel.bot_enabled and inbound else "queued"


def new_conversation(
    channel: ChannelConfig, contact_id: int, now: datetime, *, inbound: bool = True
) -> dict[str, Any]:
    """The conversations row a first message opens."""
    status = opening_status(channel, inbound=inbound)
    return {
        "tenant_id": channel.tenant_id,
        "channel_id": channel.id,
        "contact_id": contact_id,
        "queue_id": channel.queue_id,
        "status": status,
        "created_at": now,
        "last_message_at": now,
        "queued_at": now if status == "queued" else None,
        "bot_turns": 0,
        "unread_count": 0,
    }


def message_row(
    channel: ChannelConfig, conversation_id: int, contact_id: int, ev: MessageReceived, now: datetime
) -> dict[str, Any]:
    """The messages row for a received message or an echo (the batch path writes the same rows)."""
    inbound = ev.direction == "in"
    return {
        "tenant_id": channel.tenant_id,
        "conversation_id": conversation_id,
        "channel_id": channel.id,
        "direction": ev.direction,
        # An echo is the business speaking from elsewhere (phone app, Business Suite).
        "sender_type": "contact" if inbound else "agent",
        "sender_id": contact_id if inbound else None,
        "kind": ev.kind,
        "text": ev.text,
        "attachments": [asdict(a) for a in ev.attachments],
        "status": "received" if inbound else "sent",
        "provider_message_id": ev.provider_message_id,
        "reply_to": ev.reply_to,
        "deleted": False,
        "raw": dict(ev.raw) if ev.raw is not None else None,
        "provider_ts": ev.timestamp,
        "created_at": now,
    }


def written_at(ev: MessageReceived, now: datetime) -> datetime:
    """When the customer wrote, as the provider stamps it, never later than its receipt: a delivery
    the provider retries hours late must not reopen a whole messaging window (the window rules of the
    adapters count from `last_inbound_at`, which takes this, never moving back)."""
    return now if ev.timestamp is None or ev.timestamp > now else ev.timestamp


def later_inbound(column: Any, value: Any) -> Any:
    """SQL for `last_inbound_at` moving forward only: the later of `column` and `value`."""
    return case((and_(column.is_not(None), column > value), column), else_=value)


def woken(
    status: str, assignee_id: int | None, queued_at: datetime | None, now: datetime
) -> dict[str, Any] | None:
    """A customer's message wakes a snoozed conversation: back to its assignee, or into the queue
    (waiting from now). The values that change, or None when it was not snoozed."""
    if status != "snoozed":
        return None
    return {
        "status": "assigned" if assignee_id else "queued",
        "snoozed_until": None,
        "queued_at": queued_at if assignee_id else now,
    }


def plain(events: Sequence[InboundEvent]) -> bool:
    """A delivery the set-based path takes: customer messages only, none of them a short answer the
    inbox must read (a feedback score, an opt-out: inbox/automations/answers.py, on the per-delivery
    path)."""
    return bool(events) and all(
        isinstance(ev, MessageReceived) and ev.direction == "in" and not triggers.is_answer_word(ev.text)
        for ev in events
    )


def customer_messages(items: Sequence[Item]) -> list[tuple[ChannelConfig, MessageReceived]]:
    """The messages of the deliveries the set-based path takes, each (channel, provider id) once."""
    return split(items)[0]


def split(items: Sequence[Item]) -> tuple[list[tuple[ChannelConfig, MessageReceived]], list[Item]]:
    """`customer_messages(items)`, and the deliveries the per-delivery path takes (each judged once)."""
    todo: dict[tuple[int, str], tuple[ChannelConfig, MessageReceived]] = {}
    rest: list[Item] = []
    for ch, evs in items:
        if not plain(evs):
            rest.append((ch, evs))
            continue
        for ev in evs:
            assert isinstance(ev, MessageReceived)
            todo.setdefault((ch.id, ev.provider_message_id), (ch, ev))
    return list(todo.values()), rest


def identity_key(ch: ChannelConfig, ev: MessageReceived) -> Key:
    return (ch.tenant_id, ev.contact.kind, ev.contact.external_id)


def first_names(pairs: Sequence[tuple[ChannelConfig, MessageReceived]]) -> dict[Key, str | None]:
    """The name each identity comes with: the first one given in the batch."""
    names: dict[Key, str | None] = {}
    for ch, ev in pairs:
        key = identity_key(ch, ev)
        names[key] = names.get(key) or ev.contact.name
    return names
