"""Pure parsing of Meta webhook entries into normalized events (private to `channels.meta`).

Owns the per-item rules for Messenger and Instagram (`entry[].messaging[]`) and for the WhatsApp
Cloud API (`entry[].changes[].value`). No I/O, no envelope checks (those are in `channels.meta`), and
no exceptions: an item it cannot read becomes a `MessageReceived(kind="unsupported", raw=item)`, and
one that names nobody to file it under is skipped.

References:
- Messenger webhook events: https://developers.facebook.com/docs/messenger-platform/webhooks
  (messages, message_echoes, message_deliveries, message_reads, messaging_postbacks, message_reactions)
- Instagram messaging webhooks: https://developers.facebook.com/docs/instagram-platform/webhooks/examples
- WhatsApp Cloud API webhooks: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from channels._common import (
    contacts_text,
    digest,
    from_unix,
    ident,
    join_lines,
    location_text,
    obj,
    objs,
    text,
)
from channels.base import (
    Attachment,
    ChannelKind,
    ContactRef,
    ContentKind,
    DeliveryStatus,
    InboundEvent,
    MessageDeleted,
    MessageReceived,
    StatusUpdate,
)

# WhatsApp media ids are not URLs: the file must be fetched with GET /{media-id} and the access token
# (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media). We keep the id in a
# synthetic URL so a media proxy can resolve it later; nothing is lost and no token leaks into URLs.
WHATSAPP_MEDIA_SCHEME = "whatsapp-media:"


# ---------------------------------------------------------------------------------------------------
# Graph errors (also used by `channels.meta` for send failures)

# Messenger: code 10 + subcode 2018278 "message sent outside of allowed window"; WhatsApp: 131047
# "Re-engagement message: more than 24 hours have passed since the recipient last replied".
_WINDOW_SUBCODES = {"2018278"}
_WINDOW_CODES = {"131047"}


def outside_window(error: dict[str, Any]) -> bool:
    code, subcode = ident(error.get("code")), ident(error.get("error_subcode"))
    if code in _WINDOW_CODES or subcode in _WINDOW_SUBCODES:
        return True
    # Instagram answers code 10 without a subcode for the same rule; code 10 alone otherwise means a
    # missing permission, so look at the wording before saying "window".
    message = (text(error.get("message")) or "").lower()
    return code == "10" and subcode is None and "window" in message


def describe_graph_error(error: dict[str, Any]) -> str:
    """A readable sentence from a Graph `error` object (or a WhatsApp `errors[]` item)."""
    seen: list[str] = []
    for part in (
        text(error.get("error_user_title")),
        text(error.get("title")),
        text(error.get("message")),
        text(error.get("error_user_msg")),
        text(obj(error.get("error_data")).get("details")),
    ):
        if part and part not in seen:
            seen.append(part)
    codes = join_lines(
        [
            f"code {c}" if (c := ident(error.get("code"))) else None,
            f"subcode {s}" if (s := ident(error.get("error_subcode"))) else None,
        ],
        sep=", ",
    )
    words = join_lines(seen, sep=": ") or "unknown error"
    if outside_window(error):
        words = (
            "Outside the 24-hour messaging window (the customer has not written in the last 24 hours; "
            f"only a message tag or an approved template can reach them). Meta: {words}"
        )
    elif ident(error.get("code")) == "190":
        words = f"The access token is invalid or expired. Meta: {words}"
    return f"{words} ({codes})" if codes else words


# ---------------------------------------------------------------------------------------------------
# Messenger and Instagram: entry[].messaging[] (and standby[], the same items received while another
# app holds the thread under the handover protocol).


@dataclass(frozen=True)
class _Part:
    """What one Messenger/Instagram attachment contributes to a message."""

    kind: ContentKind | None  # None: an attachment type we do not understand
    attachment: Attachment | None = None
    text: str | None = None


@dataclass(frozen=True)
class _Item:
    kind: ChannelKind
    page_id: str | None
    raw: dict[str, Any]
    sender: str | None
    recipient: str | None
    timestamp: datetime | None

    def party(self) -> tuple[ContactRef | None, Literal["in", "out"]]:
        """The customer and the direction, for items that carry no `is_echo` flag: whatever the page
        (or Instagram account) itself sent is ours, and the other side is the customer."""
        if self.page_id is not None and self.sender == self.page_id and self.recipient:
            return ContactRef(self.kind, self.recipient), "out"
        if self.sender:
            return ContactRef(self.kind, self.sender), "in"
        return None, "in"


def parse_messaging_entry(kind: ChannelKind, entry: dict[str, Any]) -> list[InboundEvent]:
    page_id = ident(entry.get("id"))
    events: list[InboundEvent] = []
    for raw in [*objs(entry.get("messaging")), *objs(entry.get("standby"))]:
        item = _Item(
            kind=kind,
            page_id=page_id,
            raw=raw,
            sender=ident(obj(raw.get("sender")).get("id")),
            recipient=ident(obj(raw.get("recipient")).get("id")),
            timestamp=from_unix(raw.get("timestamp"), millis=True),
        )
        events.extend(_messaging_item(item))
    return events


def _messaging_item(item: _Item) -> list[InboundEvent]:
    raw = item.raw
    if isinstance(raw.get("message"), dict):
        return _message(item, raw["message"])
    if isinstance(raw.get("reaction"), dict):
        return _reaction(item, raw["reaction"])
    if isinstance(raw.get("postback"), dict):
        return _postback(item, raw["postback"])
    if isinstance(raw.get("delivery"), dict):
        return _delivery(item, raw["delivery"])
    if isinstance(raw.get("read"), dict):
        return _read(item, raw["read"])
    # optins, referrals, message_edits, policy notices...: kept as unsupported so nothing is lost.
    contact, direction = item.party()
    if contact is None:
        return []
    return [_unsupported(contact, f"unsupported:{digest(raw)}", item.timestamp, direction, raw)]


def _unsupported(
    contact: ContactRef,
    provider_id: str,
    timestamp: datetime | None,
    direction: Literal["in", "out"],
    raw: dict[str, Any],
) -> MessageReceived:
    return MessageReceived(
        contact=contact,
        provider_message_id=provider_id,
        kind="unsupported",
        timestamp=timestamp,
        direction=direction,
        raw=raw,
    )


def _message(item: _Item, message: dict[str, Any]) -> list[InboundEvent]:
    # message_echoes: the page's own message (sent by us, Business Suite or the phone app): the
    # customer is the recipient.
    echo = message.get("is_echo") is True
    contact_id = item.recipient if echo else item.sender
    if not contact_id:
        return []
    contact = ContactRef(item.kind, contact_id)
    direction: Literal["in", "out"] = "out" if echo else "in"
    mid = ident(message.get("mid"))
    if message.get("is_deleted") is True:
        # Instagram unsend: the same mid as the original message, flagged is_deleted.
        return [MessageDeleted(provider_message_id=mid, contact=contact)] if mid else []
    provider_id = mid or f"message:{digest(item.raw)}"
    if message.get("is_unsupported") is True:
        # Instagram: the user sent something the API cannot deliver (e.g. a voice effect, a poll).
        return [_unsupported(contact, provider_id, item.timestamp, direction, item.raw)]

    reply_to = obj(message.get("reply_to"))
    texts = [text(message.get("text"))]
    if not texts[0]:
        # A quick reply always carries the button's title as text; the payload is a fallback only.
        texts[0] = text(obj(message.get("quick_reply")).get("payload"))
    story = obj(reply_to.get("story"))
    if story:
        # Instagram story reply: the story is not a message we hold, so say so in words.
        story_url = text(story.get("url"))
        texts.append(f"[In reply to your story: {story_url}]" if story_url else "[In reply to your story]")
    parts = [_attachment_part(a) for a in objs(message.get("attachments"))]
    texts.extend(p.text for p in parts if p.kind is not None)
    understood = [p for p in parts if p.kind is not None]
    unknown = [p for p in parts if p.kind is None]
    body = join_lines(texts)
    if not body and not understood:
        return [_unsupported(contact, provider_id, item.timestamp, direction, item.raw)]
    if unknown:
        body = join_lines([body, f"[{len(unknown)} unsupported attachment(s)]"])
    kinds: list[ContentKind] = [p.kind for p in understood if p.kind is not None and p.kind != "text"]
    return [
        MessageReceived(
            contact=contact,
            provider_message_id=provider_id,
            kind=kinds[0] if kinds else "text",
            text=body,
            attachments=tuple(p.attachment for p in understood if p.attachment is not None),
            reply_to=ident(reply_to.get("mid")),
            timestamp=item.timestamp,
            direction=direction,
        )
    ]


def _attachment_part(att: dict[str, Any]) -> _Part:
    atype = text(att.get("type")) or ""
    payload = obj(att.get("payload"))
    url = text(payload.get("url"))
    if atype == "image" and url:
        # Messenger sends stickers (and the "like" thumb) as images carrying a sticker_id.
        if payload.get("sticker_id") is not None:
            return _Part("sticker", Attachment("sticker", url))
        return _Part("image", Attachment("image", url))
    if atype == "audio" and url:
        return _Part("audio", Attachment("audio", url))
    if atype == "video" and url:
        return _Part("video", Attachment("video", url))
    if atype == "file" and url:
        return _Part("file", Attachment("file", url, name=text(payload.get("title"))))
    if atype == "location":
        coords = obj(payload.get("coordinates"))
        rendered = location_text(
            coords.get("lat"), coords.get("long"), att.get("title") or payload.get("title")
        )
        return _Part("location", text=rendered) if rendered else _Part(None)
    if atype == "fallback":
        # A link shared from outside Messenger: readable as text.
        link = text(att.get("url")) or url
        shown = join_lines([text(att.get("title")) or text(payload.get("title")), link])
        return _Part("text", text=shown) if shown else _Part(None)
    if atype == "template":
        return _Part("text", text=_template_text(payload))
    if atype == "story_mention" and url:
        # The story's media may be an image or a video, and its CDN URL expires with the story
        # (Instagram story-mention guide): a plain link, not an inline preview.
        return _Part("file", Attachment("file", url, name="Instagram story"), "Mentioned you in their story")
    if atype in ("share", "ig_post") and url:
        return _Part("text", text=join_lines(["Shared a post", text(payload.get("title")), url], sep=": "))
    if atype in ("ig_reel", "reel") and url:
        return _Part(
            "video",
            Attachment("video", url),
            join_lines(["Shared a reel", text(payload.get("title"))], sep=": "),
        )
    return _Part(None)


def _template_text(payload: dict[str, Any]) -> str:
    """Echoes of structured messages (button / generic templates) rendered as their visible text."""
    lines = [text(payload.get("text"))]
    for element in objs(payload.get("elements")):
        lines.append(join_lines([text(element.get("title")), text(element.get("subtitle"))], sep=" - "))
    lines.extend(text(b.get("title")) for b in objs(payload.get("buttons")))
    return join_lines(lines) or f"[{text(payload.get('template_type')) or 'template'} message]"


def _reaction(item: _Item, reaction: dict[str, Any]) -> list[InboundEvent]:
    contact, direction = item.party()
    target = ident(reaction.get("mid"))
    if contact is None or target is None:
        return []
    # A reaction has no mid of its own: derive one that is stable across redeliveries and distinct
    # for each (reacted message, person, moment).
    stamp = ident(item.raw.get("timestamp")) or digest(item.raw)
    removed = text(reaction.get("action")) == "unreact"
    return [
        MessageReceived(
            contact=contact,
            provider_message_id=f"reaction:{target}:{contact.external_id}:{stamp}",
            kind="reaction",
            # No text means "reaction removed". Instagram may name the reaction ("love") without emoji.
            text=None if removed else text(reaction.get("emoji")) or text(reaction.get("reaction")),
            reply_to=target,
            timestamp=item.timestamp,
            direction=direction,
        )
    ]


def _postback(item: _Item, postback: dict[str, Any]) -> list[InboundEvent]:
    contact, direction = item.party()
    if contact is None:
        return []
    # The title is what the customer saw on the button; the payload is for machines.
    label = text(postback.get("title")) or text(postback.get("payload"))
    stamp = ident(item.raw.get("timestamp")) or digest(item.raw)
    provider_id = ident(postback.get("mid")) or f"postback:{contact.external_id}:{stamp}"
    if not label:
        return [_unsupported(contact, provider_id, item.timestamp, direction, item.raw)]
    return [
        MessageReceived(
            contact=contact,
            provider_message_id=provider_id,
            kind="text",
            text=label,
            timestamp=item.timestamp,
            direction=direction,
        )
    ]


def _delivery(item: _Item, delivery: dict[str, Any]) -> list[InboundEvent]:
    # message_deliveries: `mids` may be absent; then `watermark` says everything before it arrived.
    contact = ContactRef(item.kind, item.sender) if item.sender else None
    raw_mids = delivery.get("mids")
    mids = [m for m in (ident(x) for x in raw_mids) if m] if isinstance(raw_mids, list) else []
    if mids:
        return [
            StatusUpdate("delivered", provider_message_id=m, timestamp=item.timestamp, contact=contact)
            for m in mids
        ]
    watermark = from_unix(delivery.get("watermark"), millis=True)
    if watermark is None or contact is None:
        return []
    return [StatusUpdate("delivered", timestamp=item.timestamp, watermark=watermark, contact=contact)]


def _read(item: _Item, read: dict[str, Any]) -> list[InboundEvent]:
    contact = ContactRef(item.kind, item.sender) if item.sender else None
    # Instagram names the message read (`read.mid`); Messenger sends a watermark.
    mid = ident(read.get("mid"))
    if mid:
        return [StatusUpdate("read", provider_message_id=mid, timestamp=item.timestamp, contact=contact)]
    watermark = from_unix(read.get("watermark"), millis=True)
    if watermark is None or contact is None:
        return []
    return [StatusUpdate("read", timestamp=item.timestamp, watermark=watermark, contact=contact)]


# ---------------------------------------------------------------------------------------------------
# WhatsApp Cloud API: entry[].changes[] with field "messages"; value.messages[] and value.statuses[].

_WA_STATUS: dict[str, DeliveryStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}
_WA_MEDIA: dict[str, Literal["image", "audio", "video", "file", "sticker"]] = {
    "image": "image",
    "audio": "audio",
    "video": "video",
    "document": "file",
    "sticker": "sticker",
}


def parse_whatsapp_entry(entry: dict[str, Any]) -> list[InboundEvent]:
    events: list[InboundEvent] = []
    for change in objs(entry.get("changes")):
        # Other fields (template status, account updates, ...) carry no conversation content.
        if change.get("field", "messages") != "messages":
            continue
        value = obj(change.get("value"))
        names = {
            wa_id: name
            for c in objs(value.get("contacts"))
            if (wa_id := ident(c.get("wa_id"))) and (name := text(obj(c.get("profile")).get("name")))
        }
        for message in objs(value.get("messages")):
            events.extend(_wa_message(message, names))
        for status in objs(value.get("statuses")):
            events.extend(_wa_status(status))
    return events


def _wa_message(message: dict[str, Any], names: dict[str, str]) -> list[InboundEvent]:
    sender = ident(message.get("from"))
    if not sender:
        return []
    contact = ContactRef("whatsapp", sender, names.get(sender))
    provider_id = ident(message.get("id")) or f"whatsapp:{digest(message)}"
    timestamp = from_unix(message.get("timestamp"))
    content = _wa_content(message)
    if content is None:
        return [_unsupported(contact, provider_id, timestamp, "in", message)]
    kind, body, attachment, reply_to = content
    return [
        MessageReceived(
            contact=contact,
            provider_message_id=provider_id,
            kind=kind,
            text=body,
            attachments=(attachment,) if attachment else (),
            reply_to=reply_to or ident(obj(message.get("context")).get("id")),
            timestamp=timestamp,
        )
    ]


def _wa_content(
    message: dict[str, Any],
) -> tuple[ContentKind, str | None, Attachment | None, str | None] | None:
    """(kind, text, attachment, reply_to) of one WhatsApp message, or None when not understood."""
    mtype = text(message.get("type")) or ""
    body = obj(message.get(mtype)) if mtype != "contacts" else {}
    if mtype == "text":
        return ("text", text(body.get("body")), None, None) if text(body.get("body")) else None
    if mtype in _WA_MEDIA:
        media_id = ident(body.get("id"))
        if not media_id:
            return None
        kind = _WA_MEDIA[mtype]
        attachment = Attachment(
            kind,
            f"{WHATSAPP_MEDIA_SCHEME}{media_id}",
            mime_type=text(body.get("mime_type")),
            name=text(body.get("filename")),
        )
        return (kind, text(body.get("caption")), attachment, None)
    if mtype == "location":
        rendered = location_text(
            body.get("latitude"), body.get("longitude"), body.get("name"), body.get("address")
        )
        return ("location", rendered, None, None) if rendered else None
    if mtype == "contacts":
        rendered = contacts_text(message.get("contacts"))
        return ("contacts", rendered, None, None) if rendered else None
    if mtype == "reaction":
        target = ident(body.get("message_id"))
        # An empty emoji means the customer removed their reaction.
        return ("reaction", text(body.get("emoji")), None, target) if target else None
    if mtype == "interactive":
        reply = obj(body.get(text(body.get("type")) or ""))
        title = text(reply.get("title"))
        return (
            ("text", title, None, None)
            if title and body.get("type") in ("button_reply", "list_reply")
            else None
        )
    if mtype == "button":
        # A quick-reply button of a template: `text` is its label.
        label = text(body.get("text")) or text(body.get("payload"))
        return ("text", label, None, None) if label else None
    return None  # "unsupported", "unknown", "order", "system", ...


def _wa_status(status: dict[str, Any]) -> list[InboundEvent]:
    message_id = ident(status.get("id"))
    mapped = _WA_STATUS.get(text(status.get("status")) or "")
    if not message_id or mapped is None:
        return []
    recipient = ident(status.get("recipient_id"))
    error = None
    if mapped == "failed":
        error = (
            join_lines([describe_graph_error(e) for e in objs(status.get("errors"))], sep="; ") or "Failed"
        )
    return [
        StatusUpdate(
            status=mapped,
            provider_message_id=message_id,
            error=error,
            timestamp=from_unix(status.get("timestamp")),
            contact=ContactRef("whatsapp", recipient) if recipient else None,
        )
    ]
