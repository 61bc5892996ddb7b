"""Notifica.me Hub: webhook parsing and sending (Zenvia v2 API shape).

Owns the translation between Notifica.me's JSON and the normalized events of `channels.base`; it
must not touch the database. Webhooks are not signed: the unguessable key in the webhook URL is the
credential, so `verify` accepts everything that reached this adapter.
Reference: the Zenvia v2 API (https://zenvia.github.io/zenvia-openapi-spec/v2/), which the Hub follows:
events `MESSAGE` (a message in either direction) and `MESSAGE_STATUS` (news about a message we sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Self, cast

import httpx

from channels import _notificame_account as account
from channels._common import (
    contacts_text,
    digest,
    from_iso,
    ident,
    is_transient_status,
    join_lines,
    json_or_none,
    kind_from_mime,
    load_object,
    location_text,
    mime_of,
    obj,
    objs,
    post_json,
    redact,
    text,
    transient_http_error,
)
from channels.base import (
    AccountChannel,
    Attachment,
    ChannelConfig,
    ChannelKind,
    ContactRef,
    ContentKind,
    DeliveryStatus,
    InboundEvent,
    InvalidPayload,
    MessageDeleted,
    MessageReceived,
    Option,
    Outgoing,
    SendError,
    SendResult,
    StatusUpdate,
    Subscribed,
    Window,
)

# The event's `channel` field names the network; Notifica.me calls Messenger "facebook".
_CONTACT_KIND: dict[str, ChannelKind] = {
    "whatsapp": "whatsapp",
    "instagram": "instagram",
    "facebook": "messenger",
    "messenger": "messenger",
    "telegram": "telegram",
}

# ...and the send path uses the same names: /channels/{whatsapp|instagram|facebook|telegram}/messages.
_SEND_PATH: dict[str, str] = {
    "whatsapp": "whatsapp",
    "instagram": "instagram",
    "messenger": "facebook",
    "telegram": "telegram",
}

# Zenvia v2 MESSAGE_STATUS `code` values (spec: events/message-status). VERIFIED means "delivered, and
# the app showed the sender as verified"; CLICKED means the user tapped a link or button in the
# message, which implies they saw it. DELETED concerns a message *the user* sent and is handled apart.
_STATUS: dict[str, DeliveryStatus] = {
    "SENT": "sent",
    "DELIVERED": "delivered",
    "VERIFIED": "delivered",
    "READ": "read",
    "CLICKED": "read",
    "REJECTED": "failed",
    "NOT_DELIVERED": "failed",
    "FAILED": "failed",
}


class NotificameAdapter:
    """The `notificame` provider. `api_url` is the Hub API base, e.g. https://hub.notificame.com.br/v1.

    Also an `AccountSetup`: one Hub token lists the account's channels and subscribes their webhooks
    (the Hub shapes assumed are written down in channels/_notificame_account.py).
    """

    provider: ClassVar[str] = "notificame"
    kinds: ClassVar[tuple[ChannelKind, ...]] = ("whatsapp", "instagram", "messenger", "telegram")
    options: ClassVar[tuple[Option, ...]] = (
        Option("--notificame-channel", "external_id", "external_id", "the Hub channel's UUID"),
        Option("--notificame-token", "secret", "notificame_token", "the Hub account's API token"),
    )
    account_option: ClassVar[Option] = options[1]
    env: ClassVar[Mapping[str, str]] = {"NOTIFICAME_API_URL": "https://hub.notificame.com.br/v1"}
    # The Hub applies each network's messaging window itself and answers a refused send with the
    # reason, which the agent sees: the inbox does not judge it up front.
    window: ClassVar[timedelta | None] = None
    template_kinds: ClassVar[frozenset[ChannelKind]] = frozenset({"whatsapp"})

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(api_url=env.get("NOTIFICAME_API_URL") or cls.env["NOTIFICAME_API_URL"])

    async def list_account_channels(self, http: httpx.AsyncClient, token: str) -> list[AccountChannel]:
        return await account.list_channels(http, self.api_url, token)

    async def subscribe(
        self, http: httpx.AsyncClient, token: str, channel: AccountChannel, url: str
    ) -> Subscribed:
        return await account.subscribe(http, self.api_url, token, channel, url)

    def window_rule(self, channel: ChannelConfig, last_inbound_at: datetime | None, now: datetime) -> Window:
        return Window()

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], raw: bytes) -> None:
        # No signature exists on Notifica.me webhooks; the secret webhook key in the path was checked
        # by the route when it found this channel.
        return None

    def handshake(self, channel: ChannelConfig, params: Mapping[str, str]) -> str | None:
        return None  # Notifica.me has no GET verification step.

    def parse(self, channel: ChannelConfig, raw: bytes) -> list[InboundEvent]:
        body = load_object(raw)
        event_type = body.get("type")
        if not isinstance(event_type, str):
            raise InvalidPayload("not a Notifica.me event: no `type`")
        if event_type == "MESSAGE":
            message = body.get("message")
            if not isinstance(message, dict):
                raise InvalidPayload("MESSAGE event without a `message` object")
            return _parse_message(channel, body, message)
        if event_type == "MESSAGE_STATUS":
            status = body.get("messageStatus")
            if not isinstance(status, dict):
                raise InvalidPayload("MESSAGE_STATUS event without a `messageStatus` object")
            return _parse_status(body, status)
        # Other subscriptions (conversation events and the like) carry no message: acknowledged, ignored.
        return []

    async def send(self, http: httpx.AsyncClient, channel: ChannelConfig, out: Outgoing) -> SendResult:
        token = channel.secrets.get("notificame_token")
        if not token:
            raise SendError("Notifica.me: the channel has no API token configured", permanent=True)
        if not channel.external_id:
            raise SendError(
                "Notifica.me: the channel has no Notifica.me channel id configured", permanent=True
            )
        contents = _contents(out)
        if not contents:
            raise SendError("Notifica.me: nothing to send (no text and no attachment)", permanent=True)
        url = f"{self.api_url}/channels/{_SEND_PATH.get(channel.kind, channel.kind)}/messages"
        body = {"from": channel.external_id, "to": out.to, "contents": contents}
        response = await post_json(http, url, headers={"X-API-Token": token}, body=body, label="Notifica.me")
        if response.is_success:
            message_id = ident(obj(json_or_none(response)).get("id"))
            if not message_id:
                # Accepted without an id we could match status events to: retry rather than guess.
                raise SendError("Notifica.me: accepted the message but returned no id", permanent=False)
            return SendResult(provider_message_id=message_id)
        reason = redact(_error_reason(response), [token])
        if is_transient_status(response.status_code):
            raise transient_http_error(response, reason)
        raise SendError(reason, permanent=True)


# ---------------------------------------------------------------------------------------------------
# Inbound


def _contact_kind(channel: ChannelConfig, *candidates: Any) -> ChannelKind:
    for candidate in candidates:
        name = text(candidate)
        if name and name.lower() in _CONTACT_KIND:
            return _CONTACT_KIND[name.lower()]
    return channel.kind


def _visitor_name(visitor: Any) -> str | None:
    """`visitor.name`, else first + last name, else the Instagram user name (Zenvia: message/visitor)."""
    v = obj(visitor)
    return (
        text(v.get("name"))
        or join_lines([text(v.get("firstName")), text(v.get("lastName"))], sep=" ")
        or text(v.get("userName"))
    )


@dataclass
class _Contents:
    """What a message's `contents` add up to."""

    texts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    kinds: list[ContentKind] = field(default_factory=list)  # non-text kinds, in order of appearance
    unknown: list[str] = field(default_factory=list)

    @property
    def understood(self) -> bool:
        return bool(self.texts or self.attachments or self.kinds)

    def kind(self) -> ContentKind:
        # The message kind follows its first non-text content (so a captioned image is an image).
        if self.kinds:
            return self.kinds[0]
        return "text"


def _read_contents(contents: Any) -> _Contents:
    result = _Contents()
    for content in objs(contents):
        ctype = (text(content.get("type")) or "").lower()
        if ctype == "text":
            if body := text(content.get("text")):
                result.texts.append(body)
            else:
                result.unknown.append("empty text")
        elif ctype == "file" and text(content.get("fileUrl")):
            mime = text(content.get("fileMimeType"))
            kind = cast(Literal["image", "audio", "video", "file"], kind_from_mime(mime))
            result.attachments.append(
                Attachment(
                    kind=kind,
                    url=text(content.get("fileUrl")),
                    mime_type=mime,
                    name=text(content.get("fileName")),
                )
            )
            result.kinds.append(kind)
            if caption := text(content.get("fileCaption")):
                result.texts.append(caption)
        elif ctype == "location" and (
            rendered := location_text(
                content.get("latitude"), content.get("longitude"), content.get("name"), content.get("address")
            )
        ):
            result.kinds.append("location")
            result.texts.append(rendered)
        elif ctype == "contacts" and (rendered := contacts_text(content.get("contacts"))):
            result.kinds.append("contacts")
            result.texts.append(rendered)
        else:
            result.unknown.append(ctype or "untyped")
    return result


def _parse_message(
    channel: ChannelConfig, body: dict[str, Any], message: dict[str, Any]
) -> list[InboundEvent]:
    direction_name = (text(message.get("direction")) or text(body.get("direction")) or "IN").upper()
    direction: Literal["in", "out"] = "out" if direction_name == "OUT" else "in"
    # An OUT event is the business's own message (sent from the Hub panel, a phone, or by us): the
    # customer is then its recipient.
    contact_id = ident(message.get("to") if direction == "out" else message.get("from"))
    if not contact_id:
        return []  # nobody to file it under
    contact = ContactRef(
        kind=_contact_kind(channel, message.get("channel"), body.get("channel")),
        external_id=contact_id,
        name=_visitor_name(message.get("visitor")),
    )
    provider_id = ident(message.get("id")) or ident(body.get("id")) or f"notificame:{digest(message)}"
    timestamp = from_iso(message.get("timestamp")) or from_iso(body.get("timestamp"))
    contents = _read_contents(message.get("contents"))
    if not contents.understood:
        return [
            MessageReceived(
                contact=contact,
                provider_message_id=provider_id,
                kind="unsupported",
                timestamp=timestamp,
                direction=direction,
                raw=message,
            )
        ]
    # Keep a trace of parts we could not read next to the ones we could, rather than drop them silently.
    notes = [f"[unsupported content: {name}]" for name in contents.unknown]
    return [
        MessageReceived(
            contact=contact,
            provider_message_id=provider_id,
            kind=contents.kind(),
            text=join_lines([*contents.texts, *notes]),
            attachments=tuple(contents.attachments),
            timestamp=timestamp,
            direction=direction,
        )
    ]


def _cause_text(cause: dict[str, Any]) -> str | None:
    """One Zenvia error cause (spec: events/error-cause): reason, details, channel error code."""
    reason, details = text(cause.get("reason")), text(cause.get("details"))
    words = join_lines([reason, details if details != reason else None], sep=" - ")
    code = ident(cause.get("channelErrorCode"))
    if code:
        words = f"{words} (code {code})" if words else f"code {code}"
    return words


def _status_error(code: str, status: dict[str, Any]) -> str:
    description = text(status.get("description"))
    causes = join_lines([_cause_text(c) for c in objs(status.get("causes"))], sep="; ")
    if description and causes:
        return f"{description}: {causes}"
    return description or causes or code.replace("_", " ").capitalize()


def _parse_status(body: dict[str, Any], status: dict[str, Any]) -> list[InboundEvent]:
    message_id = ident(body.get("messageId"))
    code = (text(status.get("code")) or "").upper()
    if not message_id:
        return []
    if code == "DELETED":
        # Zenvia: "the message sent by the user was deleted by the user" - an unsend.
        return [MessageDeleted(provider_message_id=message_id)]
    mapped = _STATUS.get(code)
    if mapped is None:
        return []  # a status we do not track
    return [
        StatusUpdate(
            status=mapped,
            provider_message_id=message_id,
            error=_status_error(code, status) if mapped == "failed" else None,
            timestamp=from_iso(status.get("timestamp")) or from_iso(body.get("timestamp")),
        )
    ]


# ---------------------------------------------------------------------------------------------------
# Outbound


def _file_content(attachment: Attachment, caption: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"type": "file", "fileUrl": attachment.url, "fileMimeType": mime_of(attachment)}
    if caption:
        content["fileCaption"] = caption
    return content


def _contents(out: Outgoing) -> list[dict[str, Any]]:
    """Zenvia `contents`: an approved template alone (`templateId` and its `fields`, named "1", "2",
    ... after the placeholders it fills); else a lone attachment carries the text as its caption;
    otherwise the text goes first as its own content, then the files."""
    if out.template is not None:
        fields = {str(n): value for n, value in enumerate(out.template.parameters, start=1)}
        return [{"type": "template", "templateId": out.template.name, "fields": fields}]
    files = [a for a in out.attachments if a.url]
    if len(files) == 1 and out.text:
        return [_file_content(files[0], out.text)]
    contents: list[dict[str, Any]] = [{"type": "text", "text": out.text}] if out.text else []
    contents.extend(_file_content(a, None) for a in files)
    return contents


def _error_reason(response: httpx.Response) -> str:
    """A readable reason from a Zenvia-style error body `{code, message, details: [{path, message}]}`."""
    body = json_or_none(response)
    if isinstance(body, dict):
        error = body.get("error")
        message = (
            text(body.get("message"))
            or text(body.get("description"))
            or text(error)
            or text(obj(error).get("message"))
        )
        code = ident(body.get("code"))
        details = body.get("details")
        if isinstance(details, list):
            detail_text = join_lines(
                [
                    join_lines([text(d.get("path")), text(d.get("message"))], sep=": ")
                    if isinstance(d, dict)
                    else text(d)
                    for d in details
                ],
                sep="; ",
            )
        else:
            detail_text = text(details)
        summary = join_lines([message, detail_text], sep=": ")
        if summary:
            suffix = f" ({code}, HTTP {response.status_code})" if code else f" (HTTP {response.status_code})"
            return f"Notifica.me: {summary}{suffix}"
    elif (plain := response.text.strip()) and len(plain) <= 300 and not plain.startswith("<"):
        return f"Notifica.me: {plain} (HTTP {response.status_code})"
    return f"Notifica.me: HTTP {response.status_code}"
