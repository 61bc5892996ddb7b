"""Realtime events: closed, typed, encoded once.

Owns the event types agents receive, their typed payloads and their wire frame. An `Event` is created
by an action inside a unit of work (through the builders of inbox/actions/events.py); the unit of
work gives it a per-tenant sequence at commit and the frame text (`{"seq", "type", "data"}`) is
built once and shared by every socket and the replay log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from inbox.serialize import AgentData, ConversationData, MessageData

EventType = Literal[
    "message.created",
    "message.updated",
    "conversation.created",
    "conversation.updated",
    "agent.updated",
    "queue.updated",
    "sla.breached",
    "typing",
]


class SlaBreachData(TypedDict):
    conversation: ConversationData
    breached_at: str | None
    target_seconds: int


class QueueFiguresData(TypedDict):
    """GET /api/queues's figures (inbox/figures.py), pushed to supervisors when they move."""

    generated_at: str | None
    timezone: str
    auto_assign: bool
    queues: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    totals: dict[str, Any]
    sla: dict[str, Any]


# What each event type carries (`message.*`: a Message, `conversation.*`: a Conversation, ...).
# Events are built by inbox/actions/events.py, which pairs each type with its payload.
EventData = MessageData | ConversationData | AgentData | SlaBreachData | QueueFiguresData


@dataclass(frozen=True)
class Event:
    type: EventType
    data: EventData
    # Visibility (see inbox/access.py). No conversation: tenant-wide.
    conversation_id: int | None = None
    assignee_id: int | None = None
    prev_assignee_id: int | None = None
    queue_id: int | None = None
    # Events for supervisors only (queue figures, SLA breaches).
    supervisors_only: bool = False


@dataclass(frozen=True)
class EventRecord:
    """A committed event: what the log stores, the bus carries and sockets receive."""

    tenant_id: int
    seq: int
    type: str
    conversation_id: int | None
    assignee_id: int | None
    prev_assignee_id: int | None
    queue_id: int | None
    frame: str  # the exact text frame

    def to_wire(self) -> str:
        """Envelope for the cross-process bus: visibility fields plus the frame, one JSON string."""
        return json.dumps(
            [
                self.tenant_id,
                self.seq,
                self.type,
                self.conversation_id,
                self.assignee_id,
                self.prev_assignee_id,
                self.queue_id,
                self.frame,
            ],
            separators=(",", ":"),
        )

    @classmethod
    def from_wire(cls, text: str) -> EventRecord:
        t, s, ty, c, a, p, q, f = json.loads(text)
        return cls(t, s, ty, c, a, p, q, f)


def encode_frame(seq: int, event: Event) -> str:
    return join_frame(seq, frame_tail(event))


def frame_tail(event: Event) -> str:
    """The frame without its sequence number, encoded before the sequence is known."""
    return json.dumps({"type": event.type, "data": event.data}, separators=(",", ":"), default=str)


def join_frame(seq: int, tail: str) -> str:
    """`{"seq":N,` + the tail's members. PostgreSQL's event log append (inbox/uow.py) builds the same
    text in SQL; a test holds the two equal."""
    return f'{{"seq":{seq},{tail[1:]}'


# Supervisor-only event types travel with this marker in queue_id's place: no queue id is negative.
SUPERVISORS_ONLY = -1
