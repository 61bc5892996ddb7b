"""Normalized events -> values every database accepts, before they reach a transaction.

Owns the storage limits of provider-supplied values: PostgreSQL refuses NUL characters in text and
non-finite numbers in JSON (Python's parser reads `NaN`, `-Infinity` and `1e999`), neither database
can store a lone UTF-16 surrogate (a JSON body may escape one: "\\ud800"), and identifiers have
column sizes. A value that cannot be stored as it came would fail the whole batch, and a provider
would retry it forever; so NULs are dropped, lone surrogates become U+FFFD, non-finite numbers become
null and over-long identifiers are shortened deterministically (a repeated delivery shortens to the
same id, so dedup still holds).
An event that needs none of this is returned as it is (the common case costs no copy).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from channels.base import Attachment, ContactRef, InboundEvent, MessageDeleted, MessageReceived, StatusUpdate

ID_MAX = 200  # contact_identities.external_id; provider ids allow 300, 200 keeps one rule for both
NAME_MAX = 300  # contacts.name
T = TypeVar("T")


def text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): not storable
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def ident(value: str | None) -> str | None:
    """An identifier that fits its column; longer ones keep a prefix plus a digest of the whole."""
    value = text(value)
    if value is None or len(value) <= ID_MAX:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{value[: ID_MAX - 41]}~{digest}"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {text(str(k)): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _replace(obj: T, **values: Any) -> T:
    """`obj` itself when no value changes, else a copy with `values`."""
    if all(getattr(obj, k) == v for k, v in values.items()):
        return obj
    return dataclasses.replace(obj, **values)  # type: ignore[type-var]


def _contact(c: ContactRef | None) -> ContactRef | None:
    if c is None:
        return None
    name = text(c.name)
    return _replace(c, external_id=ident(c.external_id) or "", name=name[:NAME_MAX] if name else name)


def _attachment(a: Attachment) -> Attachment:
    return _replace(a, url=text(a.url), mime_type=text(a.mime_type), name=text(a.name))


def clean(event: InboundEvent) -> InboundEvent:
    if isinstance(event, MessageReceived):
        return _replace(
            event,
            contact=_contact(event.contact),
            provider_message_id=ident(event.provider_message_id) or "",
            text=text(event.text),
            attachments=tuple(_attachment(a) for a in event.attachments),
            reply_to=ident(event.reply_to),
            raw=_json(event.raw) if event.raw is not None else None,
        )
    if isinstance(event, StatusUpdate):
        return _replace(
            event,
            provider_message_id=ident(event.provider_message_id),
            error=text(event.error),
            contact=_contact(event.contact),
        )
    if isinstance(event, MessageDeleted):
        return _replace(
            event, provider_message_id=ident(event.provider_message_id) or "", contact=_contact(event.contact)
        )
    return event


def clean_all(events: list[InboundEvent]) -> list[InboundEvent]:
    return [clean(e) for e in events]
