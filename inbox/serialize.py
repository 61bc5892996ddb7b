"""Rows -> the contract's JSON shapes (Conversation, Message, Contact, Agent), typed.

Owns the public field names and their types (the TypedDicts below are what realtime events carry,
see inbox/actions/events.py). Must never emit secrets or password hashes. PostgreSQL's webhook batch
spells Message and Conversation again in SQL (inbox/actions/ingest/postgresql.py); a test compares
the two field by field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from channels.registry import window_closes_at

# Rows come in as SQLAlchemy `RowMapping`s, whose keys are typed `str | Column`: hence Mapping[Any, Any].


class SenderData(TypedDict):
    type: str  # contact | agent | bot | system
    id: int | None


class MessageData(TypedDict):
    id: int
    conversation_id: int
    direction: str  # in | out
    sender: SenderData
    kind: str
    text: str | None
    attachments: list[dict[str, Any]]
    status: str
    error: str | None
    provider_message_id: str | None
    reply_to: str | None
    client_id: str | None
    private: bool
    created_at: str | None
    text_code: dict[str, Any] | None  # a system message's {"code", "params"} (inbox/texts.py)
    deleted: NotRequired[bool]  # an unsent (or merged) message
    merged_into: NotRequired[int]  # a provider echo merged into our own row: clients drop it


class ChannelBrief(TypedDict):
    id: int
    kind: str
    name: str


class ContactBrief(TypedDict):
    id: int
    name: str | None


class ConversationData(TypedDict):
    id: int
    status: str
    channel: ChannelBrief
    contact: ContactBrief
    assignee_id: int | None
    queue_id: int | None
    created_at: str | None
    last_message_at: str | None
    queued_at: str | None
    first_response_at: str | None
    resolved_at: str | None
    snoozed_until: str | None
    handoff_reason: str | None
    unread_count: int
    window_closes_at: str | None
    sla_breached: bool
    last_message: NotRequired[MessageData | None]  # in the conversation list: its preview line
    labels: NotRequired[list[dict[str, Any]]]  # [{"id", "name", "color"}] (inbox/catalog.py)


class AgentData(TypedDict):
    id: int
    tenant_id: int
    email: str
    name: str
    role: str
    capacity: int
    status: str
    disabled: bool
    created_at: str | None
    open_conversations: NotRequired[int]


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text.replace("+00:00", "Z")


def message_json(row: Mapping[Any, Any]) -> MessageData:
    out: MessageData = {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "direction": row["direction"],
        "sender": {"type": row["sender_type"], "id": row["sender_id"]},
        "kind": row["kind"],
        "text": row["text"],
        "attachments": list(row["attachments"] or []),
        "status": row["status"],
        "error": row["error"],
        "provider_message_id": row["provider_message_id"],
        "reply_to": row["reply_to"],
        "client_id": row["client_id"],
        "private": row["status"] == "note",
        "created_at": iso(row["created_at"]),
        "text_code": row["text_code"],
    }
    if row["deleted"]:
        out["deleted"] = True
    return out


def conversation_json(row: Mapping[Any, Any]) -> ConversationData:
    """`row` joins the conversation with its channel (channel_kind, channel_name, channel_provider)
    and contact (contact_name)."""
    # The provider's free-form messaging window, where the inbox judges one (channels.registry).
    window_closes = iso(window_closes_at(row["channel_provider"], row["last_inbound_at"]))
    return {
        "id": row["id"],
        "status": row["status"],
        "channel": {"id": row["channel_id"], "kind": row["channel_kind"], "name": row["channel_name"]},
        "contact": {"id": row["contact_id"], "name": row["contact_name"]},
        "assignee_id": row["assignee_id"],
        "queue_id": row["queue_id"],
        "created_at": iso(row["created_at"]),
        "last_message_at": iso(row["last_message_at"]),
        "queued_at": iso(row["queued_at"]),
        "first_response_at": iso(row["first_response_at"]),
        "resolved_at": iso(row["resolved_at"]),
        "snoozed_until": iso(row["snoozed_until"]),
        "handoff_reason": row["handoff_reason"],
        "unread_count": row["unread_count"],
        "window_closes_at": window_closes,
        "sla_breached": row["sla_breached_at"] is not None,
    }


def contact_json(row: Mapping[Any, Any], identities: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    birthday = row["birthday"]
    return {
        "id": row["id"],
        "name": row["name"],
        "identities": [{"kind": i["kind"], "external_id": i["external_id"]} for i in identities],
        "lead_status": row["lead_status"],
        "email": row["email"],
        "phone": row["phone"],
        "birthday": birthday.isoformat() if birthday is not None else None,
        "attributes": dict(row["attributes"] or {}),
        "labels": [],
        "opted_out": row["opted_out_at"] is not None,
        "created_at": iso(row["created_at"]),
    }


def appointment_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "contact_id": row["contact_id"],
        "title": row["title"],
        "starts_at": iso(row["starts_at"]),
        "ends_at": iso(row["ends_at"]),
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def template_json(row: Mapping[Any, Any], variables: list[str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "body": row["body"],
        "variables": variables,
        "channel_kind": row["channel_kind"],
        "provider_template": row["provider_template"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def agent_json(row: Mapping[Any, Any], open_conversations: int | None = None) -> AgentData:
    out: AgentData = {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "email": row["email"],
        "name": row["name"],
        "role": row["role"],
        "capacity": row["capacity"],
        "status": row["status"],
        "disabled": row["disabled_at"] is not None,
        "created_at": iso(row["created_at"]),
    }
    if open_conversations is not None:
        out["open_conversations"] = open_conversations
    return out


def channel_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Never includes `secrets`; only which secret names are set."""
    provider = row["provider"]
    return {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "kind": row["kind"],
        "provider": provider,
        "name": row["name"],
        "external_id": row["external_id"],
        "webhook_path": f"/webhooks/{provider}/{row['webhook_key']}",
        "bot": bool(row["bot_enabled"]),
        "queue_id": row["queue_id"],
        "settings": dict(row["settings"] or {}),
        "disabled": row["disabled_at"] is not None,
        "created_at": iso(row["created_at"]),
    }
