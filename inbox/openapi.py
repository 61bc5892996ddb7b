"""`GET /openapi.json`: an OpenAPI 3.1 description of every JSON route, generated from the pydantic
models the routes validate their bodies with and the response models of `inbox.api.schemas`.

Owns the table of operations of the core's routes (`OPERATIONS`); the bot's routes bring their own
(bot/api.py) and the composition hands both in. It describes and never changes a route; a test walks
the app's route table and fails on a JSON route the document misses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from inbox import reports
from inbox.actions import appointments, contacts, merge, privacy, templates
from inbox.api import (
    admin,
    canned,
    conversation_actions,
    hooks,
    labels,
    lockouts,
    queues,
    replies,
    sessions,
    setup,
    transfer,
)
from inbox.api import schemas as s
from inbox.automations import manage

ROLES = ("agent", "supervisor", "admin")
STAFF = ("supervisor", "admin")


@dataclass(frozen=True)
class Op:
    """One operation. `roles`: who may call it (empty: no login needed); `out`: the success body's
    model (None: no body); `query`: query parameters (name -> JSON schema)."""

    summary: str
    out: type[BaseModel] | None
    status: int = 200
    body: type[BaseModel] | None = None
    roles: tuple[str, ...] = ROLES
    query: Mapping[str, Mapping[str, Any]] | None = None
    also: Mapping[str, Mapping[str, Any]] | None = None  # other media types of the success answer
    raw: Mapping[str, Mapping[str, Any]] | None = None  # a request body that is not JSON, by media type


_str = {"type": "string"}
_int = {"type": "integer"}

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op("Storage answers and migrations are applied", s.Health, roles=()),
    ("GET", "/readyz"): Op("Also the event bus answers", s.Health, roles=()),
    ("GET", "/openapi.json"): Op("This document", None, roles=()),
    ("POST", "/api/auth/login"): Op(
        "Log in (429 with Retry-After while locked out)", s.LoginOut, body=sessions.Login, roles=()
    ),
    ("POST", "/api/auth/logout"): Op("Log out (the token stops working)", None, status=204),
    ("GET", "/api/auth/me"): Op("Who the token is", s.Me),
    ("GET", "/api/conversations"): Op(
        "Conversations, newest activity first",
        s.ConversationPage,
        query={"status": _str, "assignee": _str, "channel": _str, "cursor": _str, "limit": _int},
    ),
    ("GET", "/api/conversations/{id}"): Op("A conversation", s.Conversation),
    ("GET", "/api/conversations/{id}/messages"): Op("Its messages, oldest first", s.MessagePage),
    ("GET", "/api/conversations/{id}/assignments"): Op(
        "Its assignment history, oldest first", s.AssignmentList
    ),
    ("GET", "/api/contacts"): Op("Contacts matching `q`", s.ContactPage, query={"q": _str}),
    ("GET", "/api/contacts/{id}"): Op("A contact", s.Contact),
    ("POST", "/api/conversations/{id}/messages"): Op(
        "Reply (202 queued; 200 when the Idempotency-Key or client_id was seen)",
        s.Message,
        status=202,
        body=replies.ReplyIn,
    ),
    ("POST", "/api/conversations/{id}/messages/{message_id}/retry"): Op(
        "Send a failed reply again", s.Message, status=202
    ),
    ("POST", "/api/conversations/{id}/assign"): Op(
        "Assign (null: unassign)", s.Conversation, body=conversation_actions.AssignIn
    ),
    ("POST", "/api/conversations/{id}/resolve"): Op("Resolve", s.Conversation),
    ("POST", "/api/conversations/{id}/reopen"): Op("Reopen", s.Conversation),
    ("POST", "/api/conversations/{id}/snooze"): Op(
        "Snooze until a time", s.Conversation, body=conversation_actions.SnoozeIn
    ),
    ("POST", "/api/conversations/{id}/handoff"): Op(
        "Bot to human", s.Conversation, body=conversation_actions.HandoffIn
    ),
    ("POST", "/api/conversations/{id}/read"): Op("Mark read", s.Conversation),
    ("GET", "/api/queues"): Op("Live queue figures", s.Figures, roles=STAFF),
    ("GET", "/api/reports"): Op(
        "Report over a period (JSON, or CSV with format=csv)",
        s.Figures,
        roles=STAFF,
        query={
            "from": _str,
            "to": _str,
            "format": {"enum": ["json", "csv"]},
            "section": {"enum": list(reports.SECTIONS)},
        },
        also={"text/csv": {"schema": _str}},
    ),
    ("GET", "/api/agents"): Op("The tenant's agents with load and queues", s.AgentList),
    ("PUT", "/api/agents/me/status"): Op("Set my status", s.Agent, body=queues.StatusIn),
    ("GET", "/api/admin/routing"): Op("Routing settings", s.Figures, roles=STAFF),
    ("PATCH", "/api/admin/routing"): Op(
        "Change routing settings", s.Figures, body=admin.RoutingIn, roles=("admin",)
    ),
    ("GET", "/api/admin/queues"): Op("Queues and members", s.QueueList, roles=STAFF),
    ("POST", "/api/admin/queues"): Op(
        "Create a queue", s.Queue, status=201, body=admin.QueueIn, roles=("admin",)
    ),
    ("PUT", "/api/admin/queues/{id}/members"): Op(
        "Replace a queue's members", s.Queue, body=admin.MembersIn, roles=STAFF
    ),
    ("POST", "/api/admin/agents"): Op(
        "Create an agent", s.Agent, status=201, body=admin.AgentIn, roles=("admin",)
    ),
    ("PATCH", "/api/admin/agents/{id}"): Op(
        "Change capacity (or role: admins)", s.Agent, body=admin.AgentChange, roles=STAFF
    ),
    ("POST", "/api/admin/agents/{id}/disable"): Op("Disable an agent", s.Agent, roles=("admin",)),
    ("GET", "/api/admin/channels"): Op("Channels (never their secrets)", s.ChannelList, roles=STAFF),
    ("PATCH", "/api/admin/channels/{id}"): Op(
        "Rename, disable or enable a channel, or set its queue",
        s.Channel,
        body=admin.ChannelChange,
        roles=("admin",),
    ),
    ("GET", "/api/admin/lockouts"): Op(
        "Login lockouts involving the tenant's agents", s.LockoutList, roles=("admin",)
    ),
    ("POST", "/api/admin/lockouts/clear"): Op(
        "Lift a lockout", s.Cleared, body=lockouts.ClearIn, roles=("admin",)
    ),
    # Contacts' profiles, appointments, templates (issue 20)
    ("PATCH", "/api/contacts/{id}"): Op("Change a contact's profile", s.Contact, body=contacts.ContactChange),
    ("GET", "/api/settings/pipeline"): Op("The lead pipeline's stages", s.Pipeline),
    ("PUT", "/api/settings/pipeline"): Op(
        "Replace the pipeline's stages", s.Pipeline, body=contacts.PipelineIn, roles=("admin",)
    ),
    ("POST", "/api/contacts/{id}/appointments"): Op(
        "Schedule an appointment", s.Appointment, status=201, body=appointments.AppointmentIn
    ),
    ("GET", "/api/contacts/{id}/appointments"): Op("A contact's appointments", s.AppointmentList),
    ("GET", "/api/appointments"): Op(
        "Appointments starting in [from, to)", s.AppointmentList, query={"from": _str, "to": _str}
    ),
    ("PATCH", "/api/appointments/{id}"): Op(
        "Move, complete or cancel an appointment", s.Appointment, body=appointments.AppointmentChange
    ),
    ("GET", "/api/templates"): Op("Message templates", s.TemplateList),
    ("POST", "/api/templates"): Op(
        "Create a template (422: unknown variable)",
        s.Template,
        status=201,
        body=templates.TemplateIn,
        roles=STAFF,
    ),
    ("GET", "/api/templates/variables"): Op(
        "The variables a template may use, described in Portuguese and English", s.TemplateVariableList
    ),
    ("GET", "/api/templates/{id}"): Op("A template", s.Template),
    ("PUT", "/api/templates/{id}"): Op(
        "Replace a template", s.Template, body=templates.TemplateIn, roles=STAFF
    ),
    ("DELETE", "/api/templates/{id}"): Op("Delete a template", None, status=204, roles=STAFF),
    ("POST", "/api/templates/{id}/preview"): Op(
        "The template filled for a contact", s.Preview, body=templates.PreviewIn
    ),
    # Automations (issue 20)
    ("GET", "/api/automations"): Op(
        "Automations, with their runs counted by status", s.AutomationList, roles=STAFF
    ),
    ("POST", "/api/automations"): Op(
        "Create an automation", s.Automation, status=201, body=manage.AutomationIn, roles=STAFF
    ),
    ("POST", "/api/automations/presets"): Op(
        "Install the seven ready-made automations (disabled)", s.AutomationList, roles=("admin",)
    ),
    ("GET", "/api/automations/{id}"): Op("An automation", s.Automation, roles=STAFF),
    ("PUT", "/api/automations/{id}"): Op(
        "Replace an automation (switched off: its pending runs are cancelled)",
        s.Automation,
        body=manage.AutomationIn,
        roles=STAFF,
    ),
    ("DELETE", "/api/automations/{id}"): Op("Delete an automation", None, status=204, roles=STAFF),
    ("GET", "/api/automations/{id}/runs"): Op(
        "An automation's runs, newest first", s.AutomationRunPage, roles=STAFF, query={"cursor": _str}
    ),
    ("GET", "/api/reports/csat"): Op("Feedback (CSAT) over the last 30 days", s.Csat, roles=STAFF),
    # Account setup and the audit log (issue 14, issue 19 item 3)
    ("GET", "/api/admin/setup"): Op(
        "Providers, their channel options, the public URL", s.Figures, roles=("admin",)
    ),
    ("POST", "/api/admin/setup/check"): Op(
        "Try a provider account token; its channels", s.Figures, body=setup.CheckIn, roles=("admin",)
    ),
    ("POST", "/api/admin/setup/import"): Op(
        "Import the account's channels and subscribe their webhooks",
        s.Figures,
        body=setup.ImportIn,
        roles=("admin",),
    ),
    ("POST", "/api/admin/channels"): Op(
        "Create a channel (secrets go in, never out)",
        s.Channel,
        status=201,
        body=setup.ChannelIn,
        roles=("admin",),
    ),
    ("POST", "/api/admin/channels/{id}/test"): Op(
        "Send one test message; the provider's answer", s.Figures, body=setup.TestIn, roles=("admin",)
    ),
    ("POST", "/api/admin/channels/{id}/rotate-key"): Op(
        "A new webhook key (the old URL stops working)", s.Channel, roles=("admin",)
    ),
    ("GET", "/api/channels/health"): Op("Per channel: last event, sends, failures", s.Figures, roles=STAFF),
    ("GET", "/api/audit"): Op(
        "Who did what, newest first", s.Figures, roles=("admin",), query={"cursor": _str}
    ),
    # Agent productivity (issue 15)
    ("GET", "/api/canned-responses"): Op("Canned responses", s.CannedList, query={"q": _str}),
    ("POST", "/api/canned-responses"): Op(
        "Create a canned response", s.CannedResponse, status=201, body=canned.CannedIn, roles=STAFF
    ),
    ("PUT", "/api/canned-responses/{id}"): Op(
        "Change a canned response", s.CannedResponse, body=canned.CannedIn, roles=STAFF
    ),
    ("DELETE", "/api/canned-responses/{id}"): Op("Delete a canned response", None, status=204, roles=STAFF),
    ("GET", "/api/labels"): Op("Labels", s.LabelList),
    ("POST", "/api/labels"): Op("Create a label", s.Label, status=201, body=labels.LabelIn, roles=STAFF),
    ("PUT", "/api/labels/{id}"): Op("Change a label", s.Label, body=labels.LabelChange, roles=STAFF),
    ("DELETE", "/api/labels/{id}"): Op("Delete a label", None, status=204, roles=STAFF),
    ("POST", "/api/conversations/{id}/labels"): Op(
        "Replace a conversation's labels", s.Conversation, body=labels.ConversationLabelsIn
    ),
    ("POST", "/api/conversations/{id}/transfer"): Op(
        "Transfer to an agent or a queue", s.Conversation, body=transfer.TransferIn
    ),
    # Composer (issue 15 item 5)
    ("POST", "/api/uploads"): Op(
        "Upload a file to attach to a reply: the raw bytes, Content-Type its type, `name` its name "
        "(413 over INBOX_UPLOAD_MAX_MB, 415 a type not taken)",
        s.Upload,
        status=201,
        query={"name": _str},
        raw={t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/png", "application/pdf")},
    ),
    ("GET", "/api/conversations/{id}/window"): Op(
        "Whether a reply may go out now, and the refusal it would get if not", s.ReplyWindow
    ),
    ("GET", "/api/transfer-targets"): Op("Agents and queues to transfer to", s.TransferTargets),
    ("GET", "/api/search"): Op(
        "Messages and contacts matching `q`, newest first",
        s.SearchResults,
        query={"q": _str, "cursor": _str, "limit": _int},
    ),
    # LGPD/GDPR (issue 19 item 6)
    ("GET", "/api/contacts/{id}/export"): Op(
        "Everything kept about a contact, as one document (audited)", s.ContactExport, roles=("admin",)
    ),
    ("POST", "/api/contacts/{id}/erase"): Op(
        "Erase a contact's personal data; figures stay (audited)",
        s.Erasure,
        body=privacy.EraseIn,
        roles=("admin",),
    ),
    # Outgoing webhooks (issue 19 item 4)
    ("GET", "/api/admin/webhooks"): Op(
        "Webhook subscriptions (never their secrets)", s.WebhookList, roles=("admin",)
    ),
    ("POST", "/api/admin/webhooks"): Op(
        "Subscribe a URL to event types; the secret is answered this once (422: bad URL or type)",
        s.WebhookCreated,
        status=201,
        body=hooks.HookIn,
        roles=("admin",),
    ),
    ("GET", "/api/admin/webhooks/{id}"): Op(
        "A subscription and its delivery state", s.Webhook, roles=("admin",)
    ),
    ("PUT", "/api/admin/webhooks/{id}"): Op(
        "Change URL or events, enable (resets failures) or disable",
        s.Webhook,
        body=hooks.HookChange,
        roles=("admin",),
    ),
    ("DELETE", "/api/admin/webhooks/{id}"): Op("Delete a subscription", None, status=204, roles=("admin",)),
    ("GET", "/api/admin/webhooks/{id}/deliveries"): Op(
        "Recent delivery attempts, newest first", s.WebhookDeliveryList, roles=("admin",)
    ),
    ("POST", "/api/admin/webhooks/{id}/test"): Op(
        "POST a signed `ping` to the subscription's URL now and answer what came back (not retried)",
        s.WebhookTest,
        roles=("admin",),
    ),
    # Contact panel: a contact's conversations across channels, merge (issue 15 item 6)
    ("GET", "/api/contacts/{id}/conversations"): Op(
        "The contact's conversations on every channel, newest activity first",
        s.ConversationPage,
        query={"status": _str, "cursor": _str},
    ),
    ("GET", "/api/contacts/{id}/merge-candidates"): Op(
        "Contacts that may be the same person (same email or phone; or matching `q`)",
        s.ContactPage,
        query={"q": _str},
    ),
    ("POST", "/api/contacts/{id}/merge"): Op(
        "Merge contact `other_id` into this one (audited; 422: the same contact)",
        s.Merge,
        body=merge.MergeIn,
    ),
}

# Routes that answer something other than JSON: not described (the files: inbox/api/uploads.py).
NOT_JSON = {"/metrics", "/webhooks/{provider}/{key}", "/api/uploads/{id}", "/media/{id}/{token}"}


def json_operations(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every JSON route in a route table."""
    out: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Route) and route.path not in NOT_JSON:
            out.extend((method, route.path) for method in sorted((route.methods or set()) - {"HEAD"}))
    return out


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A reference to `model` in components, its nested models added beside it."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(method: str, path: str, op: Op, components: dict[str, Any]) -> dict[str, Any]:
    error = {
        "description": "a readable reason",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    ok: dict[str, Any] = {"description": op.summary}
    if op.out is not None:
        ok["content"] = {"application/json": {"schema": _schema(op.out, components)}, **(op.also or {})}
    elif path == "/openapi.json":
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, Any] = {str(op.status): ok, "4XX": error}
    if path.startswith("/api/"):
        responses["503"] = {**error, "description": "storage unavailable"}
    out: dict[str, Any] = {
        "operationId": f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}",
        "summary": op.summary,
        "responses": responses,
    }
    if op.roles:
        out["security"] = [{"bearer": []}]
        if op.roles != ROLES:
            out["description"] = f"Roles: {', '.join(op.roles)} (others get 403)."
    else:
        out["security"] = []
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _int} for name in _path_params(path)
    ]
    params += [
        {"name": k, "in": "query", "required": False, "schema": dict(v)} for k, v in (op.query or {}).items()
    ]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(op.body, components)}},
        }
    elif op.raw is not None:
        out["requestBody"] = {"required": True, "content": {k: dict(v) for k, v in op.raw.items()}}
    return out


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def document(routes: Iterable[BaseRoute], operations: Mapping[tuple[str, str], Op]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`; raises KeyError naming a JSON route with no operation."""
    components: dict[str, Any] = {}
    _schema(s.Error, components)
    paths: dict[str, dict[str, Any]] = {}
    for method, path in json_operations(routes):
        op = operations.get((method, path))
        if op is None:
            raise KeyError(f"{method} {path} has no OpenAPI operation")
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "inbox", "version": "1", "description": "The agent API of inbox (CONTRACT.md)."},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def endpoint(operations: Mapping[tuple[str, str], Op]) -> Any:
    """The `/openapi.json` handler over the serving app's own route table (built on first call)."""
    built: dict[str, Any] = {}

    async def openapi_json(request: Request) -> Response:
        if "doc" not in built:
            built["doc"] = document(request.app.routes, operations)
        return JSONResponse(built["doc"])

    return openapi_json
