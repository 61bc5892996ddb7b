"""Notifica.me Hub account calls behind `NotificameAdapter`'s `AccountSetup` methods: list the account's
channels, and subscribe a channel's `MESSAGE` and `MESSAGE_STATUS` webhooks at a URL.

Network only, no database. Every failure becomes one `SetupError` line (the token is never in it).
Shapes assumed (Zenvia v2, which the Hub follows; https://zenvia.github.io/zenvia-openapi-spec/v2/):

- `GET {api}/channels` (header `X-API-Token`) -> a JSON list of channels, or an object holding it
  under `channels`, `data` or `items`. A channel: `id` (the UUID sends use as `from`), the network in
  `channel`, `type` or `kind` (`whatsapp`, `instagram`, `facebook` = Messenger, `telegram`), and a
  display `name` (or `title`).
- `GET {api}/subscriptions` -> a list (or the same wrappers) of `{"id", "eventType", "webhook": {"url"},
  "criteria": {"channel"}}`; `POST {api}/subscriptions` `{"eventType": "MESSAGE"|"MESSAGE_STATUS",
  "webhook": {"url"}, "criteria": {"channel": HUB_CHANNEL_ID}}` -> 2xx, or 409 when that one exists;
  `DELETE {api}/subscriptions/{id}` -> 2xx (404: already gone).
  Zenvia's own criteria name the network; the Hub scopes a subscription to one of its channels by id,
  which is what we send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from channels._common import ident, json_or_none, obj, text
from channels.base import AccountChannel, ChannelKind, SetupError, Subscribed

EVENT_TYPES = ("MESSAGE", "MESSAGE_STATUS")
# Our webhook URLs all have this path shape; a subscription of the same channel and event type whose
# URL has it but points elsewhere (an old host, a rotated key) is ours and stale. Anything else is
# someone else's integration (a CRM) and is left alone.
_OUR_PATH = "/webhooks/notificame/"

_KINDS: dict[str, ChannelKind] = {
    "whatsapp": "whatsapp",
    "instagram": "instagram",
    "facebook": "messenger",
    "messenger": "messenger",
    "telegram": "telegram",
}


def _listing(body: Any) -> list[Any] | None:
    if isinstance(body, list):
        return body
    for key in ("channels", "data", "items", "subscriptions"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return list(body[key])
    return None


async def _call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    token: str,
    *,
    body: Mapping[str, Any] | None = None,
) -> httpx.Response:
    # A header carries printable ASCII only: anything else is no Hub token (and httpx would raise).
    if not token or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise SetupError("Notifica.me refused the token (not a token: it has spaces or other characters)",
                         cause="unauthorized")  # fmt: skip
    try:
        return await http.request(method, url, headers={"X-API-Token": token}, json=body)
    except httpx.TimeoutException as exc:
        raise SetupError("Notifica.me did not answer in time", cause="unavailable") from exc
    except httpx.TransportError as exc:
        raise SetupError(f"cannot reach Notifica.me ({type(exc).__name__})", cause="unavailable") from exc


def _refusal(response: httpx.Response, what: str) -> SetupError:
    status = response.status_code
    if status in (401, 403):
        return SetupError(f"Notifica.me refused the token (HTTP {status})", cause="unauthorized")
    if status >= 500 or status == 429:
        return SetupError(f"Notifica.me is unavailable (HTTP {status}) while {what}", cause="unavailable")
    return SetupError(f"Notifica.me answered HTTP {status} while {what}", cause="unexpected")


async def list_channels(http: httpx.AsyncClient, api_url: str, token: str) -> list[AccountChannel]:
    response = await _call(http, "GET", f"{api_url}/channels", token)
    if not response.is_success:
        raise _refusal(response, "listing channels")
    items = _listing(json_or_none(response))
    if items is None:
        raise SetupError("Notifica.me answered with something that is not a channel list", cause="unexpected")
    found: list[AccountChannel] = []
    for item in items:
        entry = obj(item)
        channel_id = ident(entry.get("id")) or ident(entry.get("channelId"))
        network = (
            text(entry.get("channel")) or text(entry.get("type")) or text(entry.get("kind")) or ""
        ).lower()
        if not channel_id or not network:
            raise SetupError("Notifica.me listed a channel without an id or a network", cause="unexpected")
        name = text(entry.get("name")) or text(entry.get("title")) or f"{network} {channel_id[:8]}"
        found.append(
            AccountChannel(external_id=channel_id, kind=_KINDS.get(network), name=name, network=network)
        )
    return found


async def _subscriptions(http: httpx.AsyncClient, api_url: str, token: str) -> list[dict[str, Any]]:
    response = await _call(http, "GET", f"{api_url}/subscriptions", token)
    if not response.is_success:
        raise _refusal(response, "listing subscriptions")
    items = _listing(json_or_none(response))
    if items is None:
        raise SetupError(
            "Notifica.me answered with something that is not a subscription list", cause="unexpected"
        )
    return [obj(i) for i in items]


def _is_stale(sub: Mapping[str, Any], channel_id: str, event_type: str, url: str) -> bool:
    theirs = text(obj(sub.get("webhook")).get("url")) or ""
    return (
        ident(obj(sub.get("criteria")).get("channel")) == channel_id
        and text(sub.get("eventType")) == event_type
        and theirs != url
        and _OUR_PATH in urlsplit(theirs).path
    )


async def subscribe(
    http: httpx.AsyncClient, api_url: str, token: str, channel: AccountChannel, url: str
) -> Subscribed:
    outcomes: dict[str, str] = {}
    existing = await _subscriptions(http, api_url, token)
    for event_type in EVENT_TYPES:
        replaced = False
        for sub in existing:
            sub_id = ident(sub.get("id"))
            if sub_id and _is_stale(sub, channel.external_id, event_type, url):
                response = await _call(http, "DELETE", f"{api_url}/subscriptions/{sub_id}", token)
                if not response.is_success and response.status_code != 404:
                    raise _refusal(response, "removing a stale subscription")
                replaced = True
        body = {
            "eventType": event_type,
            "webhook": {"url": url},
            "criteria": {"channel": channel.external_id},
        }
        response = await _call(http, "POST", f"{api_url}/subscriptions", token, body=body)
        if response.status_code == 409:
            outcomes[event_type] = "existing"
        elif response.is_success:
            outcomes[event_type] = "replaced" if replaced else "created"
        else:
            raise _refusal(response, f"subscribing {event_type}")
    return Subscribed(outcomes=outcomes)
