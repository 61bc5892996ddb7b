"""The realtime events actions emit, built from rows: each type paired with its typed payload.

Owns which visibility fields an event carries (conversation, assignee, previous assignee, queue; see
inbox/access.py) and the payload's shape (inbox/serialize.py). The types and the wire frame are
inbox/events.py. Pure: no database, no publishing (a unit of work publishes after commit).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from inbox.events import Event, QueueFiguresData, SlaBreachData
from inbox.serialize import AgentData, ConversationData, conversation_json, iso, message_json


class ChannelView(Protocol):
    """The channel fields a Conversation shows (a `ChannelConfig` is one)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def provider(self) -> str: ...


class ChannelFields:
    """A `ChannelView` from a joined row's `channel_kind`, `channel_name`, `channel_provider`."""

    def __init__(self, kind: str, name: str, provider: str) -> None:
        self.kind, self.name, self.provider = kind, name, provider


def conversation_data(
    row: Mapping[Any, Any], channel: ChannelView, contact_name: str | None
) -> ConversationData:
    data = dict(row)
    data.update(
        channel_kind=channel.kind,
        channel_name=channel.name,
        channel_provider=channel.provider,
        contact_name=contact_name,
    )
    return conversation_json(data)


def conversation_event(
    type_: Literal["conversation.created", "conversation.updated"],
    row: Mapping[Any, Any],
    channel: ChannelView,
    contact_name: str | None,
    prev: int | None = None,
) -> Event:
    """`row` is a conversations row; `prev` the assignee before the change (told it is gone)."""
    return Event(
        type_,
        conversation_data(row, channel, contact_name),
        conversation_id=row["id"],
        assignee_id=row["assignee_id"],
        prev_assignee_id=prev,
        queue_id=row["queue_id"],
    )


def updated_event(row: Any, prev_assignee_id: int | None = None) -> Event:
    """`conversation.updated` from a row of `inbox.queries.conversations_select` (channel and contact
    joined in)."""
    channel = ChannelFields(row.channel_kind, row.channel_name, row.channel_provider)
    prev = prev_assignee_id if prev_assignee_id != row.assignee_id else None
    return conversation_event("conversation.updated", row._mapping, channel, row.contact_name, prev)


def message_event(
    type_: Literal["message.created", "message.updated"],
    row: Mapping[Any, Any],
    conv: Mapping[Any, Any],
    *,
    merged_into: int | None = None,
) -> Event:
    """`row` is a messages row, `conv` its conversation (whose assignee and queue may see it);
    `merged_into`: the row was a provider echo of that message of ours, and is gone."""
    data = message_json(row)
    if merged_into is not None:
        data["merged_into"] = merged_into
    return Event(
        type_,
        data,
        conversation_id=row["conversation_id"],
        assignee_id=conv["assignee_id"],
        queue_id=conv["queue_id"],
    )


def agent_event(data: AgentData) -> Event:
    return Event("agent.updated", data)


def sla_breached_event(row: Any, at: datetime, target_seconds: int) -> Event:
    """For supervisors: the conversation (a row as for `updated_event`) passed its first-response
    target at `at`."""
    channel = ChannelFields(row.channel_kind, row.channel_name, row.channel_provider)
    data: SlaBreachData = {
        "conversation": conversation_data(row._mapping, channel, row.contact_name),
        "breached_at": iso(at),
        "target_seconds": target_seconds,
    }
    return Event("sla.breached", data, conversation_id=row.id, supervisors_only=True)


def queue_event(data: QueueFiguresData) -> Event:
    return Event("queue.updated", data, supervisors_only=True)
