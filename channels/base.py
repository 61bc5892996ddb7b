"""The seam between providers and the core.

Every provider module implements `Adapter`: `verify` (authenticity of a webhook), a pure `parse`
(raw bytes -> normalized, typed events; no database, no network) and `send` (network only).
Raw provider dicts never leave `channels/`: the core sees only the dataclasses below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

import httpx

ChannelKind = Literal["whatsapp", "instagram", "messenger", "telegram"]
ContentKind = Literal[
    "text", "image", "audio", "video", "file", "location", "sticker", "contacts", "reaction", "unsupported"
]
DeliveryStatus = Literal["sent", "delivered", "read", "failed"]


class InvalidPayload(ValueError):
    """The body is not JSON, or not the provider's envelope: the webhook answers 400."""


class Unauthorized(Exception):
    """Missing or bad signature: the webhook answers 401 and stores nothing."""


class SendError(Exception):
    """A send that did not succeed. `permanent` errors are not retried; the reason is shown to agents."""

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class ChannelConfig:
    """A channel as adapters see it, with its secrets decrypted (never logged: repr hides them)."""

    id: int
    tenant_id: int
    kind: ChannelKind
    provider: str
    name: str
    external_id: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    bot_enabled: bool = False
    queue_id: int | None = None


@dataclass(frozen=True)
class ContactRef:
    """Who the customer is on one network. `external_id` is the address we reply to."""

    kind: ChannelKind
    external_id: str
    name: str | None = None


@dataclass(frozen=True)
class Attachment:
    kind: Literal["image", "audio", "video", "file", "sticker"]
    url: str | None
    mime_type: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class MessageReceived:
    """A message in the conversation with `contact`.

    `direction="in"` is the customer's; `direction="out"` is an echo of the business's own message
    sent elsewhere (phone app, Business Suite, or by us: then the provider id matches ours).
    """

    contact: ContactRef
    provider_message_id: str
    kind: ContentKind
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    timestamp: datetime | None = None
    direction: Literal["in", "out"] = "in"
    # Only for kind == "unsupported": the provider's raw item, kept so nothing is lost.
    raw: Mapping[str, Any] | None = None
    type: ClassVar[Literal["message"]] = "message"


@dataclass(frozen=True)
class StatusUpdate:
    """Delivery news about a message the business sent.

    Either `provider_message_id` names the message, or `watermark` says every outgoing message to
    `contact` sent up to that time reached `status` (Messenger's delivery/read watermarks).
    """

    status: DeliveryStatus
    provider_message_id: str | None = None
    error: str | None = None
    timestamp: datetime | None = None
    watermark: datetime | None = None
    contact: ContactRef | None = None
    type: ClassVar[Literal["status"]] = "status"


@dataclass(frozen=True)
class MessageDeleted:
    """The customer unsent a message: its row stays, with text and attachments cleared."""

    provider_message_id: str
    contact: ContactRef | None = None
    type: ClassVar[Literal["deleted"]] = "deleted"


InboundEvent = MessageReceived | StatusUpdate | MessageDeleted


@dataclass(frozen=True)
class TemplateSend:
    """An approved provider template (WhatsApp's message templates): its name (Notifica.me: the
    template's id), language code, and the values of its body placeholders `{{1}}`, `{{2}}`, ... in
    order."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outgoing:
    """A message to send. `message_id` is ours: adapters pass it as an idempotency reference where
    the provider accepts one. With a `template`, the approved template is sent instead of `text`
    (which holds the same words, rendered, for the timeline)."""

    message_id: int
    to: str
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # Meta message tag for replies outside the 24-hour window (e.g. "HUMAN_AGENT").
    tag: str | None = None
    template: TemplateSend | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


@dataclass(frozen=True)
class Option:
    """A setting a provider's channels take at creation (a CLI flag, an admin form field).

    `target` says where the value goes: the channel's `external_id` (the account the channel speaks
    as), one of its sealed `secrets`, or one of its `settings` (a flag: `--flag` sets it true).
    """

    flag: str  # "--notificame-token"
    target: Literal["external_id", "secret", "setting"]
    name: str  # the secret's or setting's key; "external_id" for that target
    help: str
    required: bool = True
    # Shown to the admin once, when the channel is created, to paste in the provider's panel.
    paste: bool = False

    @property
    def dest(self) -> str:
        """The argparse destination (and form field name): the flag without dashes, snake_case."""
        return self.flag.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class Window:
    """What a provider allows for a free-form message now: `refusal` (why not, readable by the agent)
    or an optional message `tag` that makes it allowed."""

    tag: str | None = None
    refusal: str | None = None


class Adapter(Protocol):
    """One provider. Class attributes describe it to the core (every list of providers, kinds and
    options is derived from them by `channels.registry`); methods do its work."""

    provider: ClassVar[str]
    # The networks its channels speak on.
    kinds: ClassVar[tuple[ChannelKind, ...]]
    # What a channel of this provider is created with.
    options: ClassVar[tuple[Option, ...]]
    # Environment variables the adapter is configured by, with their defaults (API base URLs).
    env: ClassVar[Mapping[str, str]]
    # The free-form messaging window after the customer's last message, shown to agents; None when
    # the provider enforces its own rules and the inbox does not judge.
    window: ClassVar[timedelta | None]
    # The kinds on which the provider sends approved templates (`Outgoing.template`), which its window
    # rule allows when free-form messages are refused.
    template_kinds: ClassVar[frozenset[ChannelKind]]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """The adapter configured by `env` (its `env` names; missing ones take their defaults)."""

    def window_rule(self, channel: ChannelConfig, last_inbound_at: datetime | None, now: datetime) -> Window:
        """Whether a free-form message may go to this channel's customer now."""

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], raw: bytes) -> None:
        """Raise `Unauthorized` unless the body is authentic. Runs on the raw bytes, before parsing."""

    def handshake(self, channel: ChannelConfig, params: Mapping[str, str]) -> str | None:
        """Answer a GET verification (Meta's hub.challenge); None means refuse (403)."""

    def parse(self, channel: ChannelConfig, raw: bytes) -> list[InboundEvent]:
        """Pure: bytes -> events. Raises only `InvalidPayload`. Unknown content -> kind `unsupported`."""

    async def send(self, http: httpx.AsyncClient, channel: ChannelConfig, out: Outgoing) -> SendResult:
        """Network only. Raises `SendError` (permanent or not) on failure."""


# WhatsApp's customer-service window: outside it a business may only send approved templates, whichever
# provider carries the channel (a provider that does not judge the window still refuses late).
TEMPLATE_WINDOW = timedelta(hours=24)


def free_form_refusal(
    adapter: Adapter, channel: ChannelConfig, last_inbound_at: datetime | None, now: datetime
) -> str | None:
    """Why a message the business starts (an automation) may not be free-form now, or None: the
    adapter's window rule, and on template kinds the network's 24 hours even where the provider
    leaves the judging to itself."""
    rule = adapter.window_rule(channel, last_inbound_at, now)
    if rule.refusal:
        return rule.refusal
    if channel.kind in adapter.template_kinds and (
        last_inbound_at is None or now - last_inbound_at >= TEMPLATE_WINDOW
    ):
        return (
            "the 24-hour customer-service window is closed (the customer's last message is older, or "
            "there is none); outside it only an approved template may be sent"
        )
    return None


# ---------------------------------------------------------------------------------------------------
# Optional capability: connecting a whole provider account at once (issue 14).


class SetupError(Exception):
    """An account call that did not work, as one readable line (never a secret, never a traceback).

    `cause`: "unauthorized" (bad token), "unavailable" (down, slow, 5xx) or "unexpected" (an answer
    we do not understand)."""

    def __init__(self, reason: str, *, cause: Literal["unauthorized", "unavailable", "unexpected"]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


@dataclass(frozen=True)
class AccountChannel:
    """One channel of a provider account. `kind` is None for a network the inbox does not serve."""

    external_id: str
    kind: ChannelKind | None
    name: str
    network: str  # the provider's own name of the network ("facebook")


@dataclass(frozen=True)
class Subscribed:
    """What subscribing a channel's webhooks did, per event type: "created", "existing" (already
    there) or "replaced" (a stale one of ours, pointing elsewhere, was removed first)."""

    outcomes: Mapping[str, str]


@runtime_checkable
class AccountSetup(Protocol):
    """A provider whose whole account can be listed and wired with one token (an adapter may
    implement it besides `Adapter`; `channels.registry.account_setups` finds the ones that do)."""

    # The channel option that holds the account token (also the `channel import` flag).
    account_option: ClassVar[Option]

    async def list_account_channels(self, http: httpx.AsyncClient, token: str) -> list[AccountChannel]:
        """The account's channels. Raises `SetupError` (callers bound the time with `asyncio.timeout`)."""

    async def subscribe(
        self, http: httpx.AsyncClient, token: str, channel: AccountChannel, url: str
    ) -> Subscribed:
        """Make the provider deliver `channel`'s events to `url`, idempotently. Raises `SetupError`."""
