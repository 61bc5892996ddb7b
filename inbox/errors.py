"""Errors that actions raise and the HTTP layer and CLI turn into answers (status, one-line reason).

Each error also has a stable `code` (and optional `params`): the API answers
`{"error": <the English reason>, "code": ..., "params"?: {...}}` and the browser shows its own
translation of the code (static/js/i18n.js, keys `err.<code>`), falling back to `error`. Each class
has a default code; raise sites the agents actually meet name a specific one. `CODES` is the
registry: a test checks that every code used in the source is in it and that the browser has an
English and a Portuguese string for each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CODES: dict[str, str] = {
    # class defaults
    "invalid": "a bad request (400)",
    "unauthenticated": "no valid session (401)",
    "forbidden": "not allowed for this agent or role (403)",
    "not_found": "no such object, or another tenant's (404)",
    "method_not_allowed": "the route does not take this method (405)",
    "conflict": "clashes with the current state (409)",
    "unprocessable": "well-formed but refused by a rule (422)",
    "internal": "a bug on the server (500)",
    "login_locked": "too many failed logins: wait (429, Retry-After)",
    "upload_too_large": "the file is over the upload limit (413); params: max_bytes",
    "upload_type": "a file type that cannot be attached (415)",
    "provider_failed": "the provider refused, failed or was too slow (422, 502, 504)",
    "backup_failed": "a backup or restore could not be done (CLI)",
    # validation
    "body_not_json": "the body is not JSON",
    "invalid_field": "a field of the body is missing or wrong; params: field, detail",
    # sessions and access
    "login_failed": "wrong email or password",
    "session_invalid": "the session token is missing, wrong or expired",
    "role_forbidden": "this role may not do this",
    "conversation_forbidden": "the conversation is assigned to another agent",
    # conversations
    "conversation_not_found": "no such conversation",
    "conversation_resolved": "resolved: reopen it before assigning or transferring",
    "conversation_open_elsewhere": "the contact already has an open conversation on this channel",
    "snooze_past": "a snooze must end in the future",
    "snooze_refused": "a bot or resolved conversation cannot be snoozed; params: status",
    "agent_disabled": "the chosen agent is disabled",
    "transfer_no_target": "a transfer needs an agent or a queue",
    # replies
    "window_closed": "the provider's messaging window is closed for free-form replies",
    "message_empty": "a message needs text or attachments",
    "public_url_missing": "an uploaded file needs INBOX_PUBLIC_URL to be sent",
    "upload_missing": "an attached upload no longer exists",
    "upload_empty": "the uploaded file is empty",
    "retry_not_failed": "only a failed outgoing message can be sent again",
    "idempotency_conflict": "the idempotency key was used in another conversation",
    # setup, templates, automations, labels, contacts
    "name_taken": "the name is already used; params: field",
    "email_taken": "an agent with this email already exists",
    "password_short": "a password needs at least 8 characters",
    "capacity_negative": "capacity must be zero or more",
    "template_unknown_variable": "a template uses an unknown variable; params: names",
    "template_empty": "a template needs text",
    "template_in_use": "automations use this template",
    "label_unknown": "no label with that name",
    "appointment_cancelled": "a cancelled appointment cannot change",
    "merge_same_contact": "a contact cannot be merged into itself",
    "erase_unconfirmed": "erasing a contact needs confirm: true",
    "search_empty": "give something to search for",
    "bot_needs_api_key": "the bot needs OPENAI_API_KEY",
}


# "field: what is wrong", the house's way of naming the field in a 4xx (a dotted path for nested ones).
_FIELD_REASON = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.+)$", re.S)


class ActionError(Exception):
    status = 400
    code = "invalid"
    # Bad input: a reason worded "field: detail" without a code of its own answers `invalid_field`
    # with those params, so every such refusal is shown by the browser's one translation.
    names_fields = False

    def __init__(
        self, message: str, *, code: str | None = None, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is None and params is None and self.names_fields:
            if named := _FIELD_REASON.match(message):
                code, params = "invalid_field", {"field": named.group(1), "detail": named.group(2)}
        if code is not None:
            self.code = code
        self.params = dict(params) if params else None

    def answer(self) -> dict[str, Any]:
        """The API's error body."""
        out: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.params:
            out["params"] = self.params
        return out


class Invalid(ActionError):
    status = 400
    code = "invalid"
    names_fields = True


class Unauthenticated(ActionError):
    status = 401
    code = "unauthenticated"


class Forbidden(ActionError):
    status = 403
    code = "forbidden"


class NotFound(ActionError):
    """Also for another tenant's objects: their existence is never revealed."""

    status = 404
    code = "not_found"


class Conflict(ActionError):
    status = 409
    code = "conflict"


class Unprocessable(ActionError):
    """Well-formed but refused by a rule (e.g. outside a provider's messaging window)."""

    status = 422
    code = "unprocessable"
    names_fields = True
