"""Meta (Graph API): Messenger, Instagram and WhatsApp Cloud webhooks and sending.

Owns signature checks (`X-Hub-Signature-256`), the GET verification handshake, the webhook envelope
and the Send API calls; the per-item parsing rules live in `channels._meta_parse`. Pure except for
`send`; never touches the database.
References: https://developers.facebook.com/docs/graph-api/webhooks/getting-started (signature,
handshake), https://developers.facebook.com/docs/messenger-platform/reference/send-api,
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

import httpx

from channels._common import (
    ident,
    is_transient_status,
    json_or_none,
    load_object,
    obj,
    objs,
    post_json,
    redact,
    transient_http_error,
)
from channels._meta_parse import describe_graph_error, parse_messaging_entry, parse_whatsapp_entry
from channels.base import (
    Attachment,
    ChannelConfig,
    ChannelKind,
    InboundEvent,
    InvalidPayload,
    Option,
    Outgoing,
    SendError,
    SendResult,
    TemplateSend,
    Unauthorized,
    Window,
)

# The webhook `object` names the product, and so the network of every contact inside.
_OBJECT_KIND: dict[str, ChannelKind] = {
    "page": "messenger",
    "instagram": "instagram",
    "whatsapp_business_account": "whatsapp",
}

# Graph errors worth retrying even when answered with HTTP 400: unknown / temporary errors (1, 2),
# app, user and page rate limits (4, 17, 32, 613), WhatsApp rate and throughput limits (80007,
# 130429, 131056) and "service unavailable" (131016).
# https://developers.facebook.com/docs/graph-api/guides/error-handling
# https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
_TRANSIENT_GRAPH_CODES = {"1", "2", "4", "17", "32", "613", "80007", "130429", "131016", "131056"}

# Messenger / Instagram attachment types of the Send API. Stickers cannot be sent as such: an image.
_MESSENGER_ATTACHMENT = {
    "image": "image",
    "audio": "audio",
    "video": "video",
    "file": "file",
    "sticker": "image",
}
# WhatsApp media message types; captions exist on image, video and document only.
_WHATSAPP_MEDIA = {
    "image": "image",
    "audio": "audio",
    "video": "video",
    "file": "document",
    "sticker": "sticker",
}
_WHATSAPP_CAPTIONED = {"image", "video", "document"}

_SIGNATURE_HEADER = "x-hub-signature-256"

# Free-form messages only within 24 hours of the customer's last message. Messenger / Instagram: the
# HUMAN_AGENT tag stretches it to 7 days for human replies.
# https://developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window
# https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags
WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"


class MetaAdapter:
    """The `meta` provider. `graph_url` is the versioned Graph base, e.g. https://graph.facebook.com/v21.0."""

    provider: ClassVar[str] = "meta"
    kinds: ClassVar[tuple[ChannelKind, ...]] = ("whatsapp", "instagram", "messenger")
    options: ClassVar[tuple[Option, ...]] = (
        Option("--external-id", "external_id", "external_id", "the page, Instagram or phone number id"),
        Option("--app-secret", "secret", "app_secret", "the app secret that signs webhooks"),
        Option(
            "--verify-token", "secret", "verify_token", "the token Meta's webhook handshake sends", paste=True
        ),
        Option("--access-token", "secret", "access_token", "the token the Send API is called with"),
        Option(
            "--human-agent-tag",
            "setting",
            "human_agent_tag",
            "allow HUMAN_AGENT replies up to 7 days after the customer wrote (needs Meta's approval)",
            required=False,
        ),
    )
    env: ClassVar[Mapping[str, str]] = {"META_GRAPH_URL": "https://graph.facebook.com/v21.0"}
    window: ClassVar[timedelta | None] = WINDOW
    template_kinds: ClassVar[frozenset[ChannelKind]] = frozenset({"whatsapp"})

    def __init__(self, graph_url: str) -> None:
        self.graph_url = graph_url.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(graph_url=env.get("META_GRAPH_URL") or cls.env["META_GRAPH_URL"])

    def window_rule(self, channel: ChannelConfig, last_inbound_at: datetime | None, now: datetime) -> Window:
        """Meta's customer-service window for free-form messages.

        WhatsApp: 24 hours after the customer's last message, then only approved templates.
        Messenger / Instagram: 24 hours, then up to 7 days with the HUMAN_AGENT tag when the channel
        enables it (`settings.human_agent_tag`), since that tag needs Meta's approval of the app.
        """
        if last_inbound_at is not None and now - last_inbound_at < WINDOW:
            return Window()
        since = (
            f"the customer's last message was at {_iso(last_inbound_at)}"
            if last_inbound_at is not None
            else "the customer has not written on this conversation"
        )
        if channel.kind == "whatsapp":
            return Window(
                refusal=(
                    f"WhatsApp's 24-hour customer-service window is closed ({since}). Outside it WhatsApp "
                    "only accepts an approved template message (a template of this inbox may name one, "
                    "and automations send it). The window opens again when the customer writes."
                )
            )
        enabled = bool(channel.settings.get("human_agent_tag"))
        if enabled and last_inbound_at is not None and now - last_inbound_at < HUMAN_AGENT_WINDOW:
            return Window(tag=HUMAN_AGENT_TAG)
        network = "Instagram" if channel.kind == "instagram" else "Messenger"
        if enabled:
            allowed = "the HUMAN_AGENT tag allows human replies only within 7 days of it"
        else:
            allowed = (
                "within 7 days a human reply may carry the HUMAN_AGENT tag, but this channel does not "
                'enable it (channel setting "human_agent_tag")'
            )
        return Window(refusal=f"{network}'s 24-hour messaging window is closed ({since}); {allowed}.")

    # -- webhooks ------------------------------------------------------------------------------------

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], raw: bytes) -> None:
        """`X-Hub-Signature-256: sha256=<hex>` is the HMAC-SHA256 of the raw body with the app secret.

        Computed over the bytes as received: Meta signs its own escaped JSON (e.g. `\\u00e9`), which a
        re-serialization would not reproduce.
        """
        app_secret = channel.secrets.get("app_secret")
        if not app_secret:
            raise Unauthorized("the channel has no app secret to check signatures with")
        # Starlette's Headers are case-insensitive, a plain dict is not: normalise.
        lowered = {str(k).lower(): v for k, v in headers.items()}
        header = lowered.get(_SIGNATURE_HEADER)
        if not isinstance(header, str) or not header.startswith("sha256="):
            raise Unauthorized("missing or malformed X-Hub-Signature-256")
        given = header.removeprefix("sha256=").strip().lower()
        expected = hmac.new(app_secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
            raise Unauthorized("bad X-Hub-Signature-256")

    def handshake(self, channel: ChannelConfig, params: Mapping[str, str]) -> str | None:
        """Answer Meta's subscription check: echo `hub.challenge` when the verify token matches."""
        expected = channel.secrets.get("verify_token")
        given = params.get("hub.verify_token")
        challenge = params.get("hub.challenge")
        if params.get("hub.mode") != "subscribe" or not expected or given is None or challenge is None:
            return None
        if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "replace")):
            return None
        return challenge

    def parse(self, channel: ChannelConfig, raw: bytes) -> list[InboundEvent]:
        body = load_object(raw)
        object_name = body.get("object")
        kind = _OBJECT_KIND.get(object_name) if isinstance(object_name, str) else None
        if kind is None:
            raise InvalidPayload("not a Meta messaging webhook: unknown `object`")
        entries = body.get("entry")
        if not isinstance(entries, list):
            raise InvalidPayload("Meta webhook without an `entry` list")
        events: list[InboundEvent] = []
        for entry in objs(entries):
            if kind == "whatsapp":
                events.extend(parse_whatsapp_entry(entry))
            else:
                events.extend(parse_messaging_entry(kind, entry))
        return events

    # -- sending -------------------------------------------------------------------------------------

    async def send(self, http: httpx.AsyncClient, channel: ChannelConfig, out: Outgoing) -> SendResult:
        """Send `out`. Messenger and Instagram take one text or one attachment per call, so a message
        with several parts is sent as several calls and the first part's id is returned; a failure
        after the first part raises, and a retry would resend the parts already delivered."""
        token = channel.secrets.get("access_token")
        if not token:
            raise SendError("Meta: the channel has no access token configured", permanent=True)
        if not channel.external_id:
            raise SendError(
                "Meta: the channel has no page / account / phone number id configured", permanent=True
            )
        bodies = _whatsapp_bodies(out) if channel.kind == "whatsapp" else _messenger_bodies(out)
        if not bodies:
            raise SendError("Meta: nothing to send (no text and no attachment)", permanent=True)
        url = f"{self.graph_url}/{channel.external_id}/messages"
        headers = {"Authorization": f"Bearer {token}"}
        first: str | None = None
        for body in bodies:
            message_id = await self._post(
                http, url, headers, body, token, whatsapp=channel.kind == "whatsapp"
            )
            first = first or message_id
        assert first is not None
        return SendResult(provider_message_id=first)

    async def _post(
        self,
        http: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        token: str,
        *,
        whatsapp: bool,
    ) -> str:
        response = await post_json(http, url, headers=headers, body=body, label="Meta")
        payload = json_or_none(response)
        if response.is_success:
            # Messenger/Instagram: {"recipient_id", "message_id"}; WhatsApp: {"messages": [{"id"}]}.
            if whatsapp:
                message_id = ident(next(iter(objs(obj(payload).get("messages"))), {}).get("id"))
            else:
                message_id = ident(obj(payload).get("message_id"))
            if not message_id:
                raise SendError("Meta: accepted the message but returned no message id", permanent=False)
            return message_id
        error = obj(obj(payload).get("error"))
        reason = redact(
            f"Meta: {describe_graph_error(error)}" if error else f"Meta: HTTP {response.status_code}", [token]
        )
        if is_transient_status(response.status_code) or ident(error.get("code")) in _TRANSIENT_GRAPH_CODES:
            raise transient_http_error(response, reason)
        raise SendError(reason, permanent=True)


# ---------------------------------------------------------------------------------------------------
# Request bodies


def _messenger_bodies(out: Outgoing) -> list[dict[str, Any]]:
    """Send API bodies: text first, then one call per attachment.

    Outside the 24-hour window a reply needs `messaging_type: MESSAGE_TAG` and a tag such as
    HUMAN_AGENT (https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags).
    """
    envelope: dict[str, Any] = {"recipient": {"id": out.to}}
    if out.tag:
        envelope.update(messaging_type="MESSAGE_TAG", tag=out.tag)
    else:
        envelope["messaging_type"] = "RESPONSE"
    messages: list[dict[str, Any]] = [{"text": out.text}] if out.text else []
    for attachment in out.attachments:
        if attachment.url:
            payload = {"url": attachment.url, "is_reusable": True}
            messages.append(
                {"attachment": {"type": _MESSENGER_ATTACHMENT[attachment.kind], "payload": payload}}
            )
    return [{**envelope, "message": message} for message in messages]


def _whatsapp_media(attachment: Attachment, caption: str | None) -> dict[str, Any]:
    mtype = _WHATSAPP_MEDIA[attachment.kind]
    media: dict[str, Any] = {"link": attachment.url}
    if caption and mtype in _WHATSAPP_CAPTIONED:
        media["caption"] = caption
    if mtype == "document" and attachment.name:
        media["filename"] = attachment.name
    return {"type": mtype, mtype: media}


def _whatsapp_bodies(out: Outgoing) -> list[dict[str, Any]]:
    """Cloud API bodies: an approved template alone; else a lone captionable attachment carries the
    text as caption; otherwise the text goes first as its own message."""
    envelope = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": out.to}
    if out.template is not None:
        return [{**envelope, "type": "template", "template": _whatsapp_template(out.template)}]
    files = [a for a in out.attachments if a.url]
    if len(files) == 1 and out.text and _WHATSAPP_MEDIA[files[0].kind] in _WHATSAPP_CAPTIONED:
        return [{**envelope, **_whatsapp_media(files[0], out.text)}]
    bodies: list[dict[str, Any]] = []
    if out.text:
        bodies.append({**envelope, "type": "text", "text": {"body": out.text, "preview_url": False}})
    bodies.extend({**envelope, **_whatsapp_media(a, None)} for a in files)
    return bodies


def _whatsapp_template(template: TemplateSend) -> dict[str, Any]:
    """https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates: the body
    placeholders {{1}}, {{2}}, ... take the parameters in order."""
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        parameters = [{"type": "text", "text": value} for value in template.parameters]
        body["components"] = [{"type": "body", "parameters": parameters}]
    return body


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
