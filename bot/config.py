"""The bot's configuration: defaults <- tenant (`tenants.settings["bot"]`) <- channel (its `settings["bot"]`).

Owns the field names, their defaults and validation, and the two writes that change them (used by the
admin API). Stored layers hold only what was set, so a changed default reaches everyone who did not
override it. A stored value that no longer validates is ignored (logged), never fatal to a bot turn.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select, update

from inbox import audit
from inbox import models as m
from inbox.actions import admin
from inbox.errors import NotFound, Unprocessable
from inbox.uow import UnitOfWork
from inbox.validation import TimeZoneName, validate

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "Você é o assistente virtual da empresa e atende clientes por mensagens (WhatsApp, Instagram, "
    "Messenger). Responda em português do Brasil, a menos que o cliente escreva em outro idioma; "
    "seja breve, cordial e objetivo. Use apenas as informações fornecidas; não invente preços, prazos "
    "ou políticas. Se não souber, se o cliente pedir uma pessoa, ou se o assunto exigir um humano "
    "(reclamação, pagamento, dados pessoais), chame a ferramenta handoff_to_human com o motivo."
)
DEFAULT_HOLDING_MESSAGE = "Um momento, vou chamar um atendente."
DEFAULT_OUT_OF_HOURS_MESSAGE = (
    "Olá! No momento estamos fora do horário de atendimento. Sua mensagem foi registrada e um "
    "atendente responderá assim que possível."
)
DEFAULT_KEYWORDS = ("atendente", "humano", "pessoa", "human", "agent")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class BusinessHours(BaseModel):
    """`{"tz": "America/Sao_Paulo", "days": {"mon": ["08:00", "18:00"], "sat": [["08:00", "12:00"]]}}`.
    A day may hold one range or a list of ranges; a day left out is closed."""

    model_config = ConfigDict(extra="forbid")
    tz: TimeZoneName = "America/Sao_Paulo"
    days: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)

    @field_validator("days", mode="before")
    @classmethod
    def _ranges(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for day, spans in value.items():
            if day not in DAYS:
                raise ValueError(f"days: {day!r} is not one of {', '.join(DAYS)}")
            # ["08:00", "18:00"] is shorthand for one range.
            if isinstance(spans, list) and len(spans) == 2 and all(isinstance(s, str) for s in spans):
                spans = [spans]
            for span in spans or []:
                if not (isinstance(span, list | tuple) and len(span) == 2):
                    raise ValueError(f'days.{day}: each range is ["HH:MM", "HH:MM"]')
                start, end = span
                if not (isinstance(start, str) and isinstance(end, str)):
                    raise ValueError(f'days.{day}: times are "HH:MM" strings')
                if not (_HHMM.match(start) and _HHMM.match(end)) or start >= end:
                    raise ValueError(f"days.{day}: {start!r}-{end!r} is not a valid HH:MM range")
            out[day] = spans or []
        return out


class BotSettings(BaseModel):
    """One stored layer (tenant or channel): every field optional, unknown fields refused."""

    model_config = ConfigDict(extra="forbid")
    system_prompt: str | None = Field(default=None, max_length=20_000)
    knowledge: str | None = Field(default=None, max_length=100_000)
    max_turns: int | None = Field(default=None, ge=1, le=100)
    # Below the jobs lease (60 s), so a slow model never lets a second worker take the same turn.
    reply_timeout_seconds: float | None = Field(default=None, gt=0, le=50)
    business_hours: BusinessHours | None = None
    handoff_keywords: list[str] | None = None
    holding_message: str | None = Field(default=None, min_length=1, max_length=1000)
    out_of_hours_message: str | None = Field(default=None, min_length=1, max_length=1000)
    history_messages: int | None = Field(default=None, ge=1, le=200)

    @field_validator("handoff_keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [k.strip() for k in value if k and k.strip()]


@dataclass(frozen=True)
class BotConfig:
    """The effective configuration for one channel."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    knowledge: str = ""
    max_turns: int = 8
    reply_timeout_seconds: float = 20.0
    business_hours: BusinessHours | None = None
    handoff_keywords: tuple[str, ...] = DEFAULT_KEYWORDS
    holding_message: str = DEFAULT_HOLDING_MESSAGE
    out_of_hours_message: str = DEFAULT_OUT_OF_HOURS_MESSAGE
    history_messages: int = 20

    def as_json(self) -> dict[str, Any]:
        return {
            "system_prompt": self.system_prompt,
            "knowledge": self.knowledge,
            "max_turns": self.max_turns,
            "reply_timeout_seconds": self.reply_timeout_seconds,
            "business_hours": self.business_hours.model_dump() if self.business_hours else None,
            "handoff_keywords": list(self.handoff_keywords),
            "holding_message": self.holding_message,
            "out_of_hours_message": self.out_of_hours_message,
            "history_messages": self.history_messages,
        }


def parse_layer(raw: Any) -> BotSettings:
    """Validate a layer for writing; raises Invalid with a readable reason."""
    if raw is None:
        return BotSettings()
    return validate(BotSettings, raw, what="settings")


def _lenient_layer(raw: Any, where: str) -> BotSettings:
    try:
        return BotSettings.model_validate(raw or {})
    except ValidationError as exc:
        log.warning("ignoring invalid bot settings of %s: %s", where, exc.errors()[0]["msg"])
        return BotSettings()


def effective(tenant_layer: Any, channel_layer: Any = None, *, where: str = "") -> BotConfig:
    """Defaults, then the tenant's values, then the channel's; `None` means "not set"."""
    values: dict[str, Any] = {}
    for layer in (_lenient_layer(tenant_layer, f"tenant {where}"), _lenient_layer(channel_layer, where)):
        for name, value in layer.model_dump(exclude_none=True).items():
            values[name] = getattr(layer, name)  # keep BusinessHours as a model, not a dict
            if name == "handoff_keywords":
                values[name] = tuple(value)
    return BotConfig(**values)


def bot_layer(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    raw = (settings or {}).get("bot")
    return dict(raw) if isinstance(raw, Mapping) else {}


# ---- writes (the admin API) ----


async def _tenant_settings(uow: UnitOfWork, tenant_id: int, *, lock: bool = False) -> dict[str, Any]:
    q = select(m.tenants.c.settings).where(m.tenants.c.id == tenant_id)
    if lock and uow.dialect == "postgresql":
        q = q.with_for_update()
    row = (await uow.conn.execute(q)).first()
    if row is None:
        raise NotFound("tenant not found")
    return dict(row.settings or {})


async def tenant_bot_settings(uow: UnitOfWork, tenant_id: int) -> dict[str, Any]:
    stored = bot_layer(await _tenant_settings(uow, tenant_id))
    return {"settings": stored, "effective": effective(stored, where=str(tenant_id)).as_json()}


async def set_tenant_bot_settings(uow: UnitOfWork, tenant_id: int, raw: Any) -> dict[str, Any]:
    """Replace the tenant's bot layer (fields left out fall back to the defaults)."""
    layer = parse_layer(raw).model_dump(exclude_none=True, mode="json")
    settings = await _tenant_settings(uow, tenant_id, lock=True)
    settings["bot"] = layer
    await uow.conn.execute(update(m.tenants).where(m.tenants.c.id == tenant_id).values(settings=settings))
    await audit.record(
        uow, tenant_id, "settings.bot_updated", target_type="tenant", target_id=tenant_id, details=layer
    )
    return {"settings": layer, "effective": effective(layer, where=str(tenant_id)).as_json()}


async def _channel(uow: UnitOfWork, tenant_id: int, channel_id: int) -> Any:
    ch = m.channels.c
    q = select(ch.id, ch.settings, ch.bot_enabled).where(ch.id == channel_id, ch.tenant_id == tenant_id)
    row = (await uow.conn.execute(q)).first()
    if row is None:
        raise NotFound("channel not found")
    return row


async def channel_bot_settings(uow: UnitOfWork, tenant_id: int, channel_id: int) -> dict[str, Any]:
    row = await _channel(uow, tenant_id, channel_id)
    tenant_layer = bot_layer(await _tenant_settings(uow, tenant_id))
    stored = bot_layer(row.settings)
    return {
        "channel_id": row.id,
        "enabled": bool(row.bot_enabled),
        "settings": stored,
        "effective": effective(tenant_layer, stored, where=f"channel {row.id}").as_json(),
    }


async def set_channel_bot(
    uow: UnitOfWork,
    tenant_id: int,
    channel_id: int,
    *,
    enabled: bool | None = None,
    raw: Any = None,
    replace_settings: bool = False,
    has_api_key: bool,
) -> dict[str, Any]:
    """Turn a channel's bot on/off and/or replace its override layer. Turning it on without an API key
    is refused: the bot would only ever hand off."""
    if enabled and not has_api_key:
        raise Unprocessable(
            "the bot needs OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI server)",
            code="bot_needs_api_key",
        )
    row = await _channel(uow, tenant_id, channel_id)
    values: dict[str, Any] = {}
    if enabled is not None:
        values["bot_enabled"] = enabled
    if replace_settings:
        settings = dict(row.settings or {})
        settings["bot"] = parse_layer(raw).model_dump(exclude_none=True, mode="json")
        values["settings"] = settings
    if values:
        await admin.update_channel(uow, tenant_id, channel_id, **values)
    return await channel_bot_settings(uow, tenant_id, channel_id)
