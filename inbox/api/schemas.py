"""Response models of the JSON API, for the OpenAPI description (inbox/openapi.py) only: they state
the shapes `inbox.serialize` and the routes already produce (CONTRACT.md) and never build an answer.
Extra fields are allowed, so that a field added to an answer never breaks a client's schema check.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Id = int
Time = str  # ISO 8601 in UTC


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(Open):
    """`error`: the English reason; `code`: stable (inbox.errors.CODES), for clients to translate."""

    error: str
    code: str
    params: dict[str, Any] | None = None


class Health(Open):
    status: Literal["ok", "unavailable"]
    reason: str | None = None


class ChannelRef(Open):
    id: Id
    kind: str
    name: str


class ContactRef(Open):
    id: Id
    name: str | None


class Conversation(Open):
    id: Id
    status: Literal["bot", "queued", "assigned", "snoozed", "resolved"]
    channel: ChannelRef
    contact: ContactRef
    assignee_id: Id | None
    queue_id: Id | None
    created_at: Time
    last_message_at: Time | None
    queued_at: Time | None
    first_response_at: Time | None
    resolved_at: Time | None
    snoozed_until: Time | None
    handoff_reason: str | None
    unread_count: int
    window_closes_at: Time | None
    sla_breached: bool


class ConversationPage(Open):
    items: list[Conversation]
    next_cursor: str | None


class Sender(Open):
    type: Literal["contact", "agent", "bot", "system"]
    id: Id | None


class Attachment(Open):
    kind: str | None = None
    url: str | None = None
    mime_type: str | None = None
    name: str | None = None
    upload_id: Id | None = None  # a file uploaded here (POST /api/uploads)
    size: int | None = None


class Upload(Open):
    id: Id
    kind: Literal["image", "audio", "video", "file"]
    url: str
    mime_type: str
    name: str
    size: int
    upload_id: Id
    created_at: Time


class ReplyWindow(Open):
    open: bool
    closes_at: Time | None
    refusal: str | None
    tag: str | None


class TextCode(Open):
    """A system message's text as a code and parameters (inbox.texts); a parameter may itself be
    `{"code", "params"}`."""

    code: str
    params: dict[str, Any]


class Message(Open):
    id: Id
    conversation_id: Id
    direction: Literal["in", "out"]
    sender: Sender
    kind: str
    text: str | None
    attachments: list[Attachment]
    status: Literal["received", "queued", "sent", "delivered", "read", "failed", "note"]
    error: str | None
    provider_message_id: str | None
    created_at: Time
    deleted: bool | None = None
    text_code: TextCode | None = None


class MessagePage(Open):
    items: list[Message]


class Identity(Open):
    kind: str
    external_id: str


class Contact(Open):
    id: Id
    name: str | None
    identities: list[Identity]
    lead_status: str | None
    created_at: Time


class ContactPage(Open):
    items: list[Contact]


class Agent(Open):
    id: Id
    tenant_id: Id
    email: str
    name: str
    role: Literal["agent", "supervisor", "admin"]
    capacity: int
    status: str
    disabled: bool
    created_at: Time
    open_conversations: int | None = None


class AgentList(Open):
    items: list[Agent]


class Me(Open):
    id: Id
    tenant_id: Id
    name: str
    email: str
    role: Literal["agent", "supervisor", "admin"]


class LoginOut(Open):
    token: str
    agent: Agent


class Channel(Open):
    id: Id
    kind: str
    provider: str
    name: str
    webhook_path: str
    bot: bool
    queue_id: Id | None
    disabled: bool
    created_at: Time


class ChannelList(Open):
    items: list[Channel]


class Queue(Open):
    id: Id
    name: str
    agent_ids: list[Id]


class QueueList(Open):
    items: list[Queue]


class Lockout(Open):
    scope: Literal["email", "address"]
    key: str
    failures: int
    last_failure_at: Time
    locked_until: Time


class LockoutList(Open):
    items: list[Lockout]


class Cleared(Open):
    cleared: int


class Figures(Open):
    """Figures whose fields are documented in docs/routing.md (queues, reports, routing and bot
    settings, bot usage): an object."""


# --- Contacts' profiles, appointments, templates (issue 20) ------------------------------------


class Appointment(Open):
    id: Id
    contact_id: Id
    title: str
    starts_at: Time
    ends_at: Time | None
    status: Literal["scheduled", "completed", "cancelled"]


class AppointmentList(Open):
    items: list[Appointment]


class Template(Open):
    id: Id
    name: str
    body: str
    variables: list[str]
    channel_kind: str | None
    provider_template: dict[str, str] | None


class TemplateList(Open):
    items: list[Template]


class TemplateVariable(Open):
    name: str
    description: dict[Literal["pt-BR", "en"], str]


class TemplateVariableList(Open):
    items: list[TemplateVariable]


class Automation(Open):
    id: Id
    name: str
    trigger: str
    template_id: Id
    channel_id: Id | None
    offset_seconds: int | None
    business_hours: dict[str, object] | None
    while_bot: bool
    enabled: bool


class AutomationList(Open):
    items: list[Automation]


class AutomationRun(Open):
    id: Id
    automation_id: Id
    contact_id: Id
    contact_name: str | None
    occurrence: str
    due_at: Time
    status: Literal["pending", "sent", "skipped", "cancelled", "failed"]
    reason: str | None
    reason_code: TextCode | None = None  # the reason by code (inbox.texts), for the reader's language
    conversation_id: Id | None
    message_id: Id | None


class AutomationRunPage(Open):
    items: list[AutomationRun]
    next_cursor: str | None


class CsatAgent(Open):
    agent_id: Id
    name: str
    responses: int
    average: float | None


class Csat(Open):
    days: int
    requests: int
    responses: int
    average: float | None
    scores: dict[str, int]
    agents: list[CsatAgent]


class Pipeline(Open):
    stages: list[str]


class Preview(Open):
    text: str
    variables: list[str]


# --- Agent productivity (issue 15) ----------------------------------------------------------------


class CannedResponse(Open):
    id: Id
    short_code: str
    body: str
    attachments: list[Attachment]  # uploads (`upload_id`), in the order they are sent


class CannedList(Open):
    items: list[CannedResponse]


class Label(Open):
    id: Id
    name: str
    color: str


class LabelList(Open):
    items: list[Label]


class SearchResults(Open):
    contacts: list[Contact]
    messages: list[Message]
    next_cursor: str | None


class TransferTargets(Open):
    agents: list[dict[str, object]]
    queues: list[dict[str, object]]


# --- LGPD/GDPR (issue 19 item 6) -------------------------------------------------------------------


class ExportedConversation(Conversation):
    labels: list[Label]
    messages: list[Message]


class ContactExport(Open):
    exported_at: Time
    contact: Contact
    conversations: list[ExportedConversation]
    appointments: list[Appointment]
    bot_turns: int


class Erased(Open):
    """How many rows the erasure cleared (conversations are kept, resolved)."""

    conversations: int
    messages: int
    identities: int
    appointments: int
    events: int


class Erasure(Open):
    contact: Contact
    erased: Erased


# --- Outgoing webhooks (issue 19 item 4) ----------------------------------------------------------


class Webhook(Open):
    """A subscription; never its secret, but for the create answer (`WebhookCreated`)."""

    id: Id
    url: str
    events: list[str]
    enabled: bool
    disabled_at: Time | None
    disabled_reason: str | None
    disabled_reason_code: TextCode | None = None  # the same by code (inbox.texts)
    last_status: int | None
    last_error: str | None
    last_attempt_at: Time | None
    last_success_at: Time | None
    consecutive_failures: int
    failing_since: Time | None
    next_attempt_at: Time | None
    delivered: int
    skipped: int
    cursor: int
    created_at: Time
    updated_at: Time


class WebhookCreated(Webhook):
    secret: str


class WebhookList(Open):
    items: list[Webhook]
    event_types: list[str]


class WebhookDelivery(Open):
    id: Id
    delivery_id: str
    seq: int
    type: str
    attempt: int
    outcome: Literal["delivered", "failed"]
    status_code: int | None
    error: str | None
    duration_ms: int | None
    created_at: Time


class WebhookDeliveryList(Open):
    items: list[WebhookDelivery]


class WebhookTest(Open):
    ok: bool
    delivery_id: str
    status_code: int | None
    error: str | None
    duration_ms: int


# --- Contact merge (issue 15 item 6) ---------------------------------------------------------------


class Merged(Open):
    """What moved to the kept contact; `resolved_conversations`: open ones that met an open one of the
    kept contact on their channel, resolved (they stay, as every conversation does)."""

    conversations: int
    identities: int
    appointments: int
    resolved_conversations: list[Id]


class Merge(Open):
    contact: Contact
    merged: Merged


# --- Assignment history (issue 17) -----------------------------------------------------------------


class Assignment(Open):
    """One change of hands; `from_agent_id` held it since `held_since` (null: unknown or nobody)."""

    id: Id
    at: Time
    reason: Literal[
        "auto", "manual", "transfer", "handoff", "requeue", "unassign", "resolve", "reopen", "backfill"
    ]
    from_agent_id: Id | None
    to_agent_id: Id | None
    actor_id: Id | None
    queue_id: Id | None
    held_since: Time | None


class AssignmentList(Open):
    items: list[Assignment]
