"""Small pure helpers shared by the provider adapters (private to `channels/`).

Owns: defensive reading of untrusted JSON, timestamp conversion, readable text for locations and
contact cards, and the HTTP-answer -> `SendError` plumbing common to every provider. It must not know
any provider's envelope: that lives in the adapter modules.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from channels.base import Attachment, InvalidPayload, SendError

# ---------------------------------------------------------------------------------------------------
# Reading untrusted JSON. Webhook bodies come from the internet: every field may be missing or of the
# wrong type, so nothing below assumes a shape (the fuzz tests hold us to it).


def load_object(raw: bytes) -> dict[str, Any]:
    """Decode a webhook body that must be a JSON object, else `InvalidPayload`."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidPayload("body is not JSON") from exc
    if not isinstance(body, dict):
        raise InvalidPayload("body is not a JSON object")
    return body


def obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objs(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (other items skipped); [] when `value` is not an array."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def ident(value: Any) -> str | None:
    """An identifier: providers send strings, but tolerate integers (never booleans)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def digest(item: Any) -> str:
    """A stable short fingerprint of a JSON value, for provider ids of items that carry none.

    Deterministic across deliveries, so a retried webhook is still deduplicated by the core.
    """
    try:
        canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    except (ValueError, RecursionError):
        canonical = repr(item)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def join_lines(parts: Iterable[str | None], sep: str = "\n") -> str | None:
    kept = [p for p in parts if p]
    return sep.join(kept) if kept else None


# ---------------------------------------------------------------------------------------------------
# Time


def from_unix(value: Any, *, millis: bool = False) -> datetime | None:
    """Unix seconds (WhatsApp: a string) or milliseconds (Messenger, Instagram) -> aware UTC."""
    seconds = number(value)
    if seconds is None:
        return None
    if millis:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def from_iso(value: Any) -> datetime | None:
    """ISO 8601 (Zenvia-style `2024-05-01T12:00:00.000Z`) -> aware UTC; naive values are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------
# Readable renderings, so an agent can act on structured content without a special widget.


def _coord(value: float) -> str:
    # Six decimals is ~10 cm; `:g` would keep only six significant digits (~10 m at -23.5614).
    return format(value, ".6f").rstrip("0").rstrip(".")


def maps_url(lat: float, long: float) -> str:
    return f"https://maps.google.com/?q={_coord(lat)},{_coord(long)}"


def location_text(lat: Any, long: Any, *names: Any) -> str | None:
    """`name`, `address` (when given), then `lat,long` and a maps link."""
    la, lo = number(lat), number(long)
    coords = f"{_coord(la)},{_coord(lo)}" if la is not None and lo is not None else None
    link = maps_url(la, lo) if la is not None and lo is not None else None
    return join_lines([*(text(n) for n in names), coords, link])


def contact_card_text(card: Mapping[str, Any]) -> str | None:
    """One line per shared contact card: name, phones, e-mails, company.

    WhatsApp Cloud uses snake_case (`formatted_name`, `first_name`); Zenvia v2 camelCase
    (`formattedName`, `firstName`): both are read.
    """
    name = obj(card.get("name"))
    display = (
        text(name.get("formatted_name"))
        or text(name.get("formattedName"))
        or join_lines(
            [
                text(name.get("first_name")) or text(name.get("firstName")),
                text(name.get("last_name")) or text(name.get("lastName")),
            ],
            sep=" ",
        )
    )
    phones = [
        text(p.get("phone")) or text(p.get("wa_id")) or text(p.get("waId")) for p in objs(card.get("phones"))
    ]
    emails = [text(e.get("email")) for e in objs(card.get("emails"))]
    company = text(obj(card.get("org")).get("company"))
    return join_lines([display, *phones, *emails, company], sep=", ")


def contacts_text(cards: Any) -> str | None:
    lines = [contact_card_text(card) for card in objs(cards)]
    return join_lines(["Contact: " + line for line in lines if line])


def kind_from_mime(mime: str | None) -> str:
    """Attachment kind from a MIME type: image/*, audio/*, video/*, else file."""
    major = (mime or "").split("/", 1)[0].strip().lower()
    return major if major in ("image", "audio", "video") else "file"


def mime_of(attachment: Attachment) -> str:
    """The attachment's MIME type, guessed from its name or URL when missing."""
    if attachment.mime_type:
        return attachment.mime_type
    for candidate in (attachment.name, attachment.url):
        if candidate:
            guessed, _ = mimetypes.guess_type(candidate.split("?", 1)[0])
            if guessed:
                return guessed
    return {
        "image": "image/jpeg",
        "audio": "audio/mpeg",
        "video": "video/mp4",
        "sticker": "image/webp",
    }.get(attachment.kind, "application/octet-stream")


# ---------------------------------------------------------------------------------------------------
# Sending: one place turns transport failures and HTTP answers into SendError.


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def redact(reason: str, secrets: Iterable[str | None]) -> str:
    """Strip credentials from text shown to agents: an error body may echo what it was sent."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            reason = reason.replace(secret, "***")
    return reason


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


async def post_json(
    http: httpx.AsyncClient, url: str, *, headers: Mapping[str, str], body: Mapping[str, Any], label: str
) -> httpx.Response:
    """POST, turning transport failures (timeouts included) into a retryable `SendError`.

    `label` names the provider in the reason; the URL is left out since it may carry ids only.
    """
    try:
        return await http.post(url, headers=dict(headers), json=body)
    except httpx.TimeoutException as exc:
        raise SendError(f"{label}: timed out ({type(exc).__name__})", permanent=False) from exc
    except httpx.TransportError as exc:
        raise SendError(f"{label}: network error ({type(exc).__name__})", permanent=False) from exc


def transient_http_error(response: httpx.Response, reason: str) -> SendError:
    return SendError(reason, permanent=False, retry_after=retry_after(response.headers.get("retry-after")))


def is_transient_status(status: int) -> bool:
    """429 and 5xx are worth retrying; any other 4xx will fail the same way again."""
    return status == 429 or status >= 500
