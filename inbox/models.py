"""The schema, as SQLAlchemy Core tables.

Owns table and index definitions only. Core (not ORM) because the hot paths build statements once and
never materialize per-message objects. Alembic's migrations must produce exactly this schema on SQLite
and PostgreSQL (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in storage (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _tenant() -> Column[int]:
    return Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _unique_where(name: str, *columns: str, where: str) -> Index:
    """Unique among the rows matching `where` (a partial index, the same on both databases)."""
    return Index(name, *columns, unique=True, sqlite_where=text(where), postgresql_where=text(where))


def _created() -> Column[datetime]:
    return Column("created_at", UTCDateTime, nullable=False, default=utcnow)


tenants = Table(
    "tenants",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    # The last event sequence handed out. Taken with UPDATE ... RETURNING as the last statement of a
    # transaction, so the row lock orders commits by sequence (see inbox/uow.py).
    Column("last_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("settings", JSON, nullable=False, default=dict),
    _created(),
)

queues = Table(
    "queues",
    metadata,
    _id(),
    _tenant(),
    Column("name", String(200), nullable=False),
    _created(),
    UniqueConstraint("tenant_id", "name"),
)

agents = Table(
    "agents",
    metadata,
    _id(),
    _tenant(),
    # Login is by email alone, so an email is unique across tenants.
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),  # agent | supervisor | admin
    Column("capacity", Integer, nullable=False, server_default=text("5")),
    Column("status", String(20), nullable=False, server_default=text("'offline'")),
    Column("status_changed_at", UTCDateTime, nullable=True),
    # The status the agent last chose (NULL: never chose; presence going offline is no choice).
    # Logging in restores online or away, and so does a socket opening after presence set the
    # agent offline (inbox/actions/presence.py): the agent lands where they left off, not invisible.
    Column("chosen_status", String(20), nullable=True),
    Column("last_assigned_at", UTCDateTime, nullable=True),
    Column("disabled_at", UTCDateTime, nullable=True),
    _created(),
)

queue_members = Table(
    "queue_members",
    metadata,
    Column("queue_id", Id, ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    _tenant(),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    _id(),
    _tenant(),
    Column("agent_id", Id, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the bearer token
    _created(),
    Column("expires_at", UTCDateTime, nullable=False),
)

channels = Table(
    "channels",
    metadata,
    _id(),
    _tenant(),
    Column("kind", String(20), nullable=False),  # whatsapp | instagram | messenger | telegram
    Column("provider", String(20), nullable=False),  # an adapter of channels/registry.py
    Column("name", String(200), nullable=False),
    Column("webhook_key", String(64), nullable=False, unique=True),
    # The account the channel speaks as at its provider (a page, a phone number, a Hub channel).
    # Not secret.
    Column("external_id", String(200), nullable=True),
    # Fernet token of a JSON object of the provider's secrets (tokens, app secret, verify token).
    Column("secrets", Text, nullable=False),
    Column("settings", JSON, nullable=False, default=dict),
    Column("bot_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("queue_id", Id, ForeignKey("queues.id", ondelete="SET NULL"), nullable=True),
    Column("disabled_at", UTCDateTime, nullable=True),
    _created(),
)

contacts = Table(
    "contacts",
    metadata,
    _id(),
    _tenant(),
    Column("name", String(300), nullable=True),
    Column("lead_status", String(30), nullable=False, server_default=text("'new'")),
    Column("attributes", JSON, nullable=False, default=dict),
    _created(),
    # The profile agents keep (issue 20): how to reach the customer besides the channels, when to
    # wish them a happy birthday, and whether they asked for no more automated messages.
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("birthday", Date, nullable=True),
    Column("opted_out_at", UTCDateTime, nullable=True),
    Index("ix_contacts_tenant_name", "tenant_id", "name"),
)

contact_identities = Table(
    "contact_identities",
    metadata,
    _id(),
    _tenant(),
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("external_id", String(200), nullable=False),
    UniqueConstraint("tenant_id", "kind", "external_id"),
    Index("ix_contact_identities_contact", "contact_id"),
)

# A conversation the bot took part in (ix_conversations_bot's predicate; a query spells it the same).
BOT_TOUCHED = "(handed_off_at IS NOT NULL OR status = 'bot' OR bot_turns > 0)"
# A conversation held by an agent (inbox.actions.assignments.HELD; ix_conversations_held's predicate).
HELD_NOW = "status IN ('assigned', 'snoozed')"
# A conversation whose first-response clock runs: open to humans, unanswered, not yet flagged
# (ix_conversations_sla_clock's predicate; the routing poll and pass spell it the same, as a literal:
# SQLite uses a partial index only when the query's terms imply the index's, term by term).
SLA_RUNNING = "status IN ('queued', 'assigned') AND first_response_at IS NULL AND sla_breached_at IS NULL"
# When the first-response clock started: the bot's handoff, else creation (inbox.actions.routing).
SLA_CLOCK = "coalesce(handed_off_at, created_at)"

conversations = Table(
    "conversations",
    metadata,
    _id(),
    _tenant(),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("queue_id", Id, ForeignKey("queues.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(20), nullable=False),  # bot | queued | assigned | snoozed | resolved
    Column("assignee_id", Id, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    _created(),
    Column("last_message_at", UTCDateTime, nullable=False),
    # A provider's messaging window is counted from the customer's last message.
    Column("last_inbound_at", UTCDateTime, nullable=True),
    Column("queued_at", UTCDateTime, nullable=True),  # wait time starts here
    Column("assigned_at", UTCDateTime, nullable=True),
    Column("first_response_at", UTCDateTime, nullable=True),  # first human reply
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("snoozed_until", UTCDateTime, nullable=True),
    Column("handoff_reason", Text, nullable=True),
    Column("bot_turns", Integer, nullable=False, server_default=text("0")),
    Column("unread_count", Integer, nullable=False, server_default=text("0")),
    Column("sla_breached_at", UTCDateTime, nullable=True),
    # When humans were first asked to answer (the bot's handoff); NULL = from creation. First-response
    # times count from here, since queued_at restarts whenever the conversation re-enters a queue.
    Column("handed_off_at", UTCDateTime, nullable=True),
    # Feedback (issue 20): when an automation asked the customer to rate it, and the answer (1-5).
    Column("csat_requested_at", UTCDateTime, nullable=True),
    Column("csat_score", Integer, nullable=True),
    # Reports' credit, written with the change they describe (issue 17): the agent whose reply was the
    # first response, the one who resolved (the actor, else the holder), and since when the current
    # holder holds it (the open interval of the assignment history). No foreign keys, as assignments.
    Column("first_responder_id", Id, nullable=True),
    Column("resolved_by_id", Id, nullable=True),
    Column("held_since", UTCDateTime, nullable=True),
    # One open conversation per contact and channel; ingest relies on it under concurrency.
    _unique_where("uq_conversations_open", "channel_id", "contact_id", where="status <> 'resolved'"),
    Index("ix_conversations_list", "tenant_id", "last_message_at", "id"),
    Index("ix_conversations_status", "tenant_id", "status", "queued_at"),
    Index("ix_conversations_assignee", "assignee_id", "status"),
    # The routing worker's poll (which tenants have open work) and "resolved today/in a period".
    Index("ix_conversations_waiting", "status", "tenant_id"),
    Index("ix_conversations_resolved", "tenant_id", "resolved_at"),
    # Reports' first responses of a period (issue 17; set once per conversation), and the conversations
    # the bot took part in (the period's handed-off and bot-only counts read only these).
    Index("ix_conversations_first_response", "tenant_id", "first_response_at"),
    Index(
        "ix_conversations_bot",
        "tenant_id",
        "created_at",
        sqlite_where=text(BOT_TOUCHED),
        postgresql_where=text(BOT_TOUCHED),
    ),
    # Who holds what since when (the reports' open holding intervals), covering: no table read.
    Index(
        "ix_conversations_held",
        "tenant_id",
        "assignee_id",
        "held_since",
        "assigned_at",
        sqlite_where=text(HELD_NOW),
        postgresql_where=text(HELD_NOW),
    ),
    # Reports count a period's SLA breaches (issue 17); partial: the rows without one (most, and every
    # new conversation) cost nothing.
    Index(
        "ix_conversations_sla_breached",
        "tenant_id",
        "sla_breached_at",
        sqlite_where=text("sla_breached_at IS NOT NULL"),
        postgresql_where=text("sla_breached_at IS NOT NULL"),
    ),
    # The running first-response clocks by tenant, oldest first: the routing poll's oldest clock per
    # tenant and a pass's breaches are probes here, whatever the number of answered open
    # conversations (50,000 read each second before; docs/benchmark.md, growth). Partial: answered
    # and flagged conversations, most of the open ones, are not in it.
    Index(
        "ix_conversations_sla_clock",
        "tenant_id",
        text(SLA_CLOCK),
        sqlite_where=text(SLA_RUNNING),
        postgresql_where=text(SLA_RUNNING),
    ),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    # The conversation's tenant and channel, copied for scoping and dedup; no foreign keys of their
    # own (the conversation has them, and its deletion cascades here): each one was a trigger per
    # webhook on the hottest table (migration 0002).
    Column("tenant_id", Id, nullable=False),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("sender_type", String(10), nullable=False),  # contact | agent | bot | system
    Column("sender_id", Id, nullable=True),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=True),
    Column("attachments", JSON, nullable=False, default=list),
    Column("status", String(10), nullable=False),
    Column("error", Text, nullable=True),
    Column("provider_message_id", String(300), nullable=True),
    Column("reply_to", String(300), nullable=True),  # the provider id of the quoted message
    Column("client_id", String(100), nullable=True),  # the client's idempotency key for a reply
    Column("deleted", Boolean, nullable=False, server_default=text("false")),
    Column("raw", JSON, nullable=True),  # kept for `unsupported` content only
    Column("provider_ts", UTCDateTime, nullable=True),
    _created(),
    # An approved provider template sent instead of `text` (the window was closed):
    # {"name", "language", "parameters": [...]}; NULL for every other message.
    Column("template", JSON, nullable=True),
    # A system message's text as {"code", "params"} (inbox/texts.py), which the browser renders in the
    # agent's language; `text` holds its English rendering. NULL for every other message.
    Column("text_code", JSON, nullable=True),
    # Dedup is the database's job: repeated deliveries hit this and insert nothing.
    UniqueConstraint("channel_id", "provider_message_id"),
    # An agent reply's idempotency key; customers' messages have none, so they skip this index.
    _unique_where("uq_messages_tenant_id_client_id", "tenant_id", "client_id", where="client_id IS NOT NULL"),
    Index("ix_messages_conversation", "conversation_id", "id"),
)

# Statuses that arrived before we knew which message they belong to (send answer not yet stored).
pending_statuses = Table(
    "pending_statuses",
    metadata,
    _id(),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("provider_message_id", String(300), nullable=False),
    Column("status", String(10), nullable=False),
    Column("error", Text, nullable=True),
    _created(),
    Index("ix_pending_statuses_key", "channel_id", "provider_message_id"),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    _tenant(),
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("conversation_id", Id, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # A worker owns a row until then; a crashed worker's rows become claimable again.
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    _created(),
    Index("ix_outbox_due", "next_attempt_at"),
    # Per-conversation order: only a conversation's oldest row may be claimed.
    Index("ix_outbox_conversation", "conversation_id", "id"),
)

# Deferred work other than sending: bot turns, snooze wake-ups. One row per (kind, key): a burst of
# customer messages keeps one bot job whose run_at moves forward.
jobs = Table(
    "jobs",
    metadata,
    _id(),
    _tenant(),
    Column("kind", String(30), nullable=False),
    Column("key", String(100), nullable=False),
    Column("run_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("payload", JSON, nullable=False, default=dict),
    _created(),
    UniqueConstraint("kind", "key"),
    Index("ix_jobs_due", "run_at"),
)

# The append-only log behind the websocket's `since` replay.
events = Table(
    "events",
    metadata,
    # No foreign key: an append per event, and tenants are never deleted (migration 0002).
    Column("tenant_id", Id, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(40), nullable=False),
    # Who may see it (see inbox/access.py): the conversation's assignee, the previous
    # assignee on a transfer, the conversation's queue. NULL conversation = tenant-wide.
    Column("conversation_id", Id, nullable=True),
    Column("assignee_id", Id, nullable=True),
    Column("prev_assignee_id", Id, nullable=True),
    Column("queue_id", Id, nullable=True),
    Column("frame", Text, nullable=False),  # the exact JSON text frame sent to sockets
    _created(),
)

# Which processes hold live websockets of an agent: presence across processes. A process
# re-asserts its rows every heartbeat; stale rows belong to a dead process (inbox/realtime/presence.py).
agent_sockets = Table(
    "agent_sockets",
    metadata,
    Column("agent_id", Id, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("process_id", String(32), primary_key=True),
    _tenant(),
    Column("seen_at", UTCDateTime, nullable=False),
)

# Bot answers: tokens and latency for the supervisor figures.
bot_turns = Table(
    "bot_turns",
    metadata,
    _id(),
    _tenant(),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("outcome", String(20), nullable=False),  # answered | handoff | error | timeout
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    _created(),
)

# Appointments of a contact (a clinic's consultation, a shop's pickup): what reminders key on.
appointments = Table(
    "appointments",
    metadata,
    _id(),
    _tenant(),
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=True),
    Column("status", String(20), nullable=False),  # scheduled | completed | cancelled
    Column("created_by", Id, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Index("ix_appointments_tenant_starts", "tenant_id", "starts_at"),
    Index("ix_appointments_contact", "contact_id"),
)

# Message templates with variables (inbox/templates.py renders them); `provider_template` names an
# approved WhatsApp template ({"name", "language"}) sent instead when the 24-hour window is closed.
templates = Table(
    "templates",
    metadata,
    _id(),
    _tenant(),
    Column("name", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("channel_kind", String(20), nullable=True),
    Column("provider_template", JSON, nullable=True),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("tenant_id", "name"),
)

# --- Agent productivity (issue 15): canned responses, labels, search -----------------------------

# Replies agents insert with `/short_code` in the reply box; the short code is unique per tenant.
canned_responses = Table(
    "canned_responses",
    metadata,
    _id(),
    _tenant(),
    Column("short_code", String(50), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_by", Id, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("tenant_id", "short_code"),
)

labels = Table(
    "labels",
    metadata,
    _id(),
    _tenant(),
    Column("name", String(50), nullable=False),
    Column("color", String(7), nullable=False),  # #rrggbb
    _created(),
    UniqueConstraint("tenant_id", "name"),
)

conversation_labels = Table(
    "conversation_labels",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", Id, ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True),
    _tenant(),
    Index("ix_conversation_labels_label", "label_id", "conversation_id"),
)

# Search structures that exist in one dialect only and so cannot be Core tables: SQLite's FTS5 table
# over messages.text (and the shadow tables FTS5 keeps) with its high-water mark `search_indexed`
# (migration 0016, inbox/search_index.py), PostgreSQL's trigram index. Migrations 0005 and 0016 own
# them; schema comparisons skip them (`schema_compared`).
SEARCH_OBJECTS = ("messages_fts", "search_indexed", "ix_search_")


def schema_compared(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's `include_name` hook: schema comparisons skip the search structures above."""
    return not (name and name.startswith(SEARCH_OBJECTS))


# --- Login protection (issue 19) -------------------------------------------------------------------
# One row per failed login, once keyed by the email tried and once by the remote address; counted
# over a sliding window (inbox/actions/lockouts.py). In the database so that every process sees the
# same counts. `tenant_id`: the tenant of the agent the email belongs to (NULL for unknown emails),
# which decides which admins see and may clear the lockout.
login_failures = Table(
    "login_failures",
    metadata,
    _id(),
    Column("scope", String(10), nullable=False),  # email | address
    Column("key", String(320), nullable=False),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    _created(),
    Index("ix_login_failures_key", "scope", "key", "created_at"),
    Index("ix_login_failures_created_at", "created_at"),  # the sweep of expired rows
)

# --- Account setup and audit (issue 14, issue 19 item 3) ----------------------------------------

# Who changed what, when, from where: one row per admin change, login and failed login. `details`
# never holds a secret (inbox/audit.py strips secret-looking keys before writing). A failed login
# for an unknown email belongs to no tenant (NULL): kept for operators, shown to no tenant's admin.
audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    # NULL: the system or the CLI.
    Column("actor_id", Id, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("action", String(60), nullable=False),  # "channel.created", "auth.login_failed", ...
    Column("target_type", String(30), nullable=True),
    Column("target_id", Id, nullable=True),
    Column("details", JSON, nullable=False, default=dict),
    Column("address", String(64), nullable=True),  # the client's IP address, when over HTTP
    _created(),
    Index("ix_audit_log_tenant", "tenant_id", "id"),
)

# Per-channel webhook health, written from in-memory counters at most once per few seconds per
# channel (inbox/health.py), never once per webhook. Send figures are counted from messages instead.
channel_health = Table(
    "channel_health",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    _tenant(),
    Column("last_event_at", UTCDateTime, nullable=True),  # last accepted (verified) delivery
    Column("last_handshake_at", UTCDateTime, nullable=True),  # last successful GET verification
    Column("signature_failures", Integer, nullable=False, server_default=text("0")),
    Column("last_signature_failure_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- Automations (issue 20) ------------------------------------------------------------------------

# A trigger (inbox/automations/triggers.py) that sends a template, optionally on one channel, offset
# from the moment the trigger names, optionally only within business hours.
automations = Table(
    "automations",
    metadata,
    _id(),
    _tenant(),
    Column("name", String(200), nullable=False),
    Column("trigger", String(40), nullable=False),
    Column("template_id", Id, ForeignKey("templates.id"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="SET NULL"), nullable=True),
    Column("offset_seconds", Integer, nullable=True),
    # {"days": [0..6], "start": "HH:MM", "end": "HH:MM"} in the tenant's zone; NULL: any time.
    Column("business_hours", JSON, nullable=True),
    # Send even while the channel's bot is answering the conversation.
    Column("while_bot", Boolean, nullable=False, server_default=text("false")),
    Column("enabled", Boolean, nullable=False, server_default=text("false")),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("tenant_id", "name"),
    Index("ix_automations_trigger", "tenant_id", "trigger"),
)

# One row per (automation, contact, occurrence), whatever repeats: the unique key is the
# exactly-once. `pending` rows wait for their due time in a `jobs` row (kind "automation"); the
# others say what happened: sent (handed to the outbox, `message_id`), skipped or cancelled (with
# `reason`). A sent message that later fails shows as failed with the provider's reason.
automation_runs = Table(
    "automation_runs",
    metadata,
    _id(),
    _tenant(),
    Column("automation_id", Id, ForeignKey("automations.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("occurrence", String(100), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(20), nullable=False),  # pending | sent | skipped | cancelled | failed
    Column("reason", Text, nullable=True),
    # The reason as {code, params} (inbox/texts.py), rendered in the admin's language; NULL before
    # migration 0012 (the English `reason` is shown as it is).
    Column("reason_code", JSON, nullable=True),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True),
    Column("appointment_id", Id, ForeignKey("appointments.id", ondelete="SET NULL"), nullable=True),
    Column("message_id", Id, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    _created(),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("automation_id", "contact_id", "occurrence"),
    Index("ix_automation_runs_automation", "automation_id", "id"),
    Index("ix_automation_runs_appointment", "appointment_id"),
)

# --- Outgoing webhooks for CRMs (issue 19 item 4) ------------------------------------------------
# A subscription reads the tenant's event log (`events`) from its cursor: `cursor` is the last
# sequence it has dealt with (delivered, or of a type it does not want). The worker
# (inbox/workers/hooks.py) leases a subscription (`locked_until`, `lease`: who holds it) and advances
# the cursor in the transaction that records each outcome, so an event is delivered once per
# subscription on our side. `secret` is a Fernet token (inbox/crypto.py); it is never read back out.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    _id(),
    _tenant(),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),  # the event types delivered, e.g. ["message.created"]
    Column("secret", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("disabled_reason", Text, nullable=True),  # shown to admins (auto-disable says why)
    Column("disabled_reason_code", JSON, nullable=True),  # the same as {code, params} (inbox/texts.py)
    Column("cursor", BigInteger, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("lease", String(32), nullable=True),
    # The head event's failures in a row, and since when deliveries fail (cleared by a success).
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("failing_since", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),  # the receiver's HTTP status; NULL: no answer
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("delivered", BigInteger, nullable=False, server_default=text("0")),
    # Events retention removed before this subscription read them (it was disabled meanwhile).
    Column("skipped", BigInteger, nullable=False, server_default=text("0")),
    Column("created_by", Id, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Index("ix_webhook_subscriptions_tenant", "tenant_id", "id"),
)

# Recent delivery attempts per subscription (the worker keeps the last few hundred). A delivered
# (subscription, event) is one row at most: the database holds exactly-once on our side.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    _tenant(),
    Column("subscription_id", Id, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(10), nullable=False),  # delivered | failed
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    _created(),
    _unique_where("uq_webhook_deliveries_delivered", "subscription_id", "seq", where="outcome = 'delivered'"),
    Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
)

# --- Composer attachments (issue 15 item 5) --------------------------------------------------------
# A file an agent uploaded to attach to a reply. The bytes live under the data dir
# (`uploads/<tenant>/<storage_key>`, inbox/uploads.py); the row says whose it is and what it is.
uploads = Table(
    "uploads",
    metadata,
    _id(),
    _tenant(),
    Column("agent_id", Id, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("storage_key", String(64), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("mime_type", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    _created(),
)

# A canned response's files (issue 15 item 1): uploads the canned response brings into the composer,
# in order. Both rows are the tenant's (inbox/actions/canned.py checks the upload's tenant); an upload
# is shared, never copied: a reply made from the canned response sends the same file.
canned_response_uploads = Table(
    "canned_response_uploads",
    metadata,
    Column(
        "canned_response_id",
        Id,
        ForeignKey("canned_responses.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("upload_id", Id, ForeignKey("uploads.id", ondelete="CASCADE"), nullable=False, index=True),
)

# --- Assignment history (issue 17) ----------------------------------------------------------------
# One row per change of hands: assignment, transfer, handoff, return to the queue, resolve (which
# closes the holder's interval) and reopen. Written in the transaction of the change, through
# inbox/actions/assignments.py only. A row with `from_agent_id` closes that agent's interval
# [held_since, at); the current holder's open interval is the conversation itself. Agent and queue
# ids carry no foreign key (as messages.sender_id): agents are disabled, not deleted, and a history
# must outlive a queue.
assignments = Table(
    "assignments",
    metadata,
    _id(),
    _tenant(),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # auto | manual | transfer | handoff | requeue | unassign | resolve | reopen | backfill
    Column("reason", String(12), nullable=False),
    Column("from_agent_id", Id, nullable=True),  # the holder before (NULL: the bot, a queue, nobody)
    Column("to_agent_id", Id, nullable=True),  # the holder after
    Column("actor_id", Id, nullable=True),  # who did it (NULL: routing, the bot, the system)
    Column("queue_id", Id, nullable=True),  # the conversation's queue after the change
    Column("channel_id", Id, nullable=True),  # the conversation's channel (reports group by it, no join)
    Column("held_since", UTCDateTime, nullable=True),  # when from_agent's interval began (NULL: unknown)
    Index("ix_assignments_conversation", "conversation_id", "at"),
    Index("ix_assignments_tenant_at", "tenant_id", "at"),
)

# --- Reports' hourly counts (issue 17) -------------------------------------------------------------
# Conversations started (`kind` "new", by channel and queue) and messages in and out (by channel, and
# by sending agent for agents' replies; 0: no agent, no queue) per UTC hour, folded by the rollup
# worker (inbox/report_rollup.py) once an hour is over; reports read these rows instead of messages.
report_hours = Table(
    "report_hours",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("hour", UTCDateTime, primary_key=True),
    Column("kind", String(3), primary_key=True),  # new | in | out
    Column("channel_id", Id, primary_key=True),
    Column("queue_id", Id, primary_key=True),
    Column("agent_id", Id, primary_key=True),
    Column("n", Integer, nullable=False),
)

# The same hours, one row each (a report's hourly series and heat map read these), with the hour's
# first responses and their exact median; folded with report_hours.
report_hour_totals = Table(
    "report_hour_totals",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("hour", UTCDateTime, primary_key=True),
    Column("conversations", Integer, nullable=False),
    Column("messages_in", Integer, nullable=False),
    Column("messages_out", Integer, nullable=False),
    Column("first_responses", Integer, nullable=False),
    Column("first_response_median", Float, nullable=True),
)

# --- Reports' running totals (issue 17) --------------------------------------------------------------
# Per tenant and `until` (one of the tenant's local midnights): every figure of a report summed over
# everything before `until` (inbox/report_cells.py). A period between two of them is their
# difference. `figure` names the figure and its grouping ("frt.agent"), `key` the group (0: all, no
# queue), `bucket` a duration's log-scale bucket (0 for sums); `n` counts, `total` sums seconds.
# figure "" is the mark that `until` was written (a period only uses marks it finds).
report_days = Table(
    "report_days",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("until", UTCDateTime, primary_key=True),
    Column("figure", String(16), primary_key=True),
    Column("key", Id, primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("n", Float, nullable=False),
    Column("total", Float, nullable=False),
)

# Per tenant, the hours before `folded_until` are in report_hours (and never folded again).
report_folds = Table(
    "report_folds",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("folded_until", UTCDateTime, nullable=False),
)
