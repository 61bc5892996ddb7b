"""Server texts that people read (system messages, handoff reasons): a stable code plus parameters.

Owns the registry of codes and their English templates. A `Text` *is* its English rendering (a str:
what `messages.text` and `handoff_reason` store, for search, exports and clients that know no codes)
and also carries `code` and `params`, which a system message stores beside its text so the browser
renders it in the agent's language (static/js/i18n.js, keys `sys.<code>`; a test checks that each
code has both an English and a Portuguese string there, with the same placeholders).
Every system message goes through `inbox.actions.conversations.system_message`, which takes a Text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, TypeAlias

# A parameter: a name, a number, a time (ISO 8601 in UTC, under a key listed in TIME_PARAMS, which
# the browser shows in its locale), or another Text (a handoff's reason inside "Handed to a human").
Param: TypeAlias = "str | int | Text"

# Parameters holding a time: the browser formats them in the chosen locale.
TIME_PARAMS = frozenset({"until", "since"})

TEMPLATES: dict[str, str] = {
    # conversation lifecycle (inbox/actions/conversations.py, transfer.py, routing.py)
    "conversation.assigned": "Assigned to {name}",
    "conversation.assigned_by": "Assigned to {name} by {by}",
    "conversation.assigned_auto": "Assigned to {name} automatically",
    "conversation.unassigned": "Returned to the queue by {by}",
    "conversation.requeued_inactive": "Returned to the queue: {name} is no longer active",
    "conversation.requeued_away": "Returned to the queue: {name} is away",
    "conversation.requeued_offline": "Returned to the queue: {name} is offline",
    "conversation.resolved": "Resolved by {by}",
    "conversation.reopened": "Reopened by {by}",
    "conversation.snoozed": "Snoozed until {until} by {by}",
    "conversation.snooze_ended": "Snooze ended",
    "conversation.handed_off": "Handed to a human: {reason}",
    "conversation.transferred": "Transferred to {target} by {by}",
    "conversation.transferred_note": "Transferred to {target} by {by}: {note}",
    "transfer.agent": "{name}",
    "transfer.queue": "queue {queue}",
    "transfer.agent_queue": "{name} and queue {queue}",
    # contacts (inbox/actions/merge.py, privacy.py)
    "contact.merged": "Contacts merged by {by}: this conversation continues in conversation {other}",
    "contact.erased": "Contact data erased by {by}",
    # handoff reasons: the conversation's `handoff_reason`, and {reason} above
    "handoff.taken_over": "taken over by {by}",
    "handoff.sent_to_queue": "sent to the queue by {by}",
    "handoff.transferred": "transferred by {by}",
    "handoff.requested": "requested by {by}",
    "handoff.agent_replied": "agent replied",
    "handoff.agent_spoke": "an agent replied in the conversation",
    "handoff.no_api_key": "bot unavailable: OPENAI_API_KEY is not set",
    "handoff.bot_off": "bot turned off for this channel",
    "handoff.outside_hours": "outside business hours",
    "handoff.asked_for_person": 'customer asked for a person ("{keyword}")',
    "handoff.turn_limit": "bot turn limit reached ({limit})",
    "handoff.model_asked": "the model asked for a human",
    "handoff.bot_error": "bot error",
    "handoff.bot_timeout": "bot error: timeout",
    "handoff.bot_unreachable": "bot error: model unreachable",
    "handoff.bot_http": "bot error: model answered HTTP {status}",
    "handoff.bot_filtered": "bot error: answer withheld by the content filter",
    "handoff.bot_empty": "bot error: empty answer",
    "handoff.bot_unusable": "bot error: unusable answer",
    "handoff.bot_no_choices": "bot error: unusable answer (no choices)",
    "handoff.bot_no_message": "bot error: unusable answer (no message)",
    # automation runs not sent: their reason (inbox/automations/execute.py, schedule.py, manage.py)
    "automation.disabled": "the automation was disabled",
    "automation.opted_out": "the contact asked for no automated messages (opt-out)",
    "automation.channel_disabled": "the conversation's channel is disabled",
    "automation.missing_value": "the template uses {variable}, which has no value here",
    "automation.appointment_gone": "the appointment no longer exists",
    "automation.appointment_cancelled": "the appointment was cancelled",
    "automation.appointment_done": "the appointment took place",
    "automation.appointment_started": "the appointment has already started",
    "automation.appointment_past": "the appointment moved into the past",
    "automation.no_conversation": "the contact has no conversation to write in",
    "automation.no_conversation_on_channel": (
        "the contact has no conversation on the automation's channel to write in"
    ),
    "automation.answered": "the customer answered",
    "automation.reopened": "the conversation was reopened",
    "automation.bot_answering": "the bot is answering this conversation",
    "automation.agent_wrote": "an agent has written to the customer since this was scheduled",
    "automation.provider_missing": "the channel's provider is not available",
    "automation.window_no_template": (
        "window closed: {refusal}; the template names no approved provider template"
    ),
    "automation.window_kind": "window closed: {refusal}; the template cannot be sent as one on {kind}",
    "automation.later_message": "a later message of ours waits for the answer instead",
    "automation.switched_off": "the automation was switched off",
    "automation.trigger_changed": "the automation's trigger changed",
    "automation.deleted": "the automation was deleted",
    "automation.contact_opted_out": "the contact asked for no automated messages",
    # outgoing webhooks: why a subscription stopped (inbox/actions/hooks.py)
    "webhook.disabled_by_admin": "disabled by an admin",
    "webhook.disabled_auto": (
        "disabled automatically: no delivery succeeded since {since} "
        "({failures} failed attempts; last: {error})"
    ),
}


def placeholders(template: str) -> set[str]:
    """The {names} a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Text(str):
    """The English rendering of `code` with `params`, knowing both. An unknown code or a missing
    parameter is a KeyError: a bug, found by the tests that write each message."""

    code: str
    params: Mapping[str, Param]

    def __new__(cls, code: str, **params: Param) -> Text:
        rendered = TEMPLATES[code].format_map({k: str(v) for k, v in params.items()})
        self = super().__new__(cls, rendered)
        self.code = code
        self.params = params
        return self

    def as_json(self) -> dict[str, Any]:
        """`{"code", "params"}`, nested Texts as the same shape: what a message's `text_code` holds."""
        return {
            "code": self.code,
            "params": {k: v.as_json() if isinstance(v, Text) else v for k, v in self.params.items()},
        }
