"""When the bot must not answer and hands the conversation to a human instead.

Owns the rules decided before (or instead of) asking the model: missing API key, channel bot turned
off, an agent already speaking, turn limit, business hours, the keyword fast path. Pure functions:
no database, no network, so each rule is tested on plain values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import DAYS, BotConfig, BusinessHours
from inbox.texts import Text


@dataclass(frozen=True)
class Turn:
    """One message of the conversation as the bot sees it."""

    id: int
    sender_type: str  # contact | bot | agent | system
    text: str


@dataclass(frozen=True)
class Handoff:
    """Hand off without asking the model. `message` is what the customer is told first (None: nothing);
    `reason` is worded by inbox.texts, so agents read it in their language."""

    reason: Text
    message: str | None
    outcome: str = "handoff"


def fold(text: str) -> str:
    """Lower case without accents: "Atendênte" and "atendente" match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def asked_for_person(texts: Iterable[str], keywords: Sequence[str]) -> str | None:
    """The first keyword found as a whole word (or whole phrase) in any text, else None."""
    folded = [fold(t) for t in texts if t]
    for keyword in keywords:
        k = fold(keyword).strip()
        if not k:
            continue
        # \w-boundaries rather than \b: "pessoal" must not match "pessoa", "agente" not "agent".
        pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, k.split())) + r"(?!\w)")
        if any(pattern.search(t) for t in folded):
            return keyword
    return None


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def within_hours(hours: BusinessHours | None, now: datetime) -> bool:
    """True when `now` (aware) falls in one of the day's ranges in the configured zone; no hours = always."""
    if hours is None:
        return True
    local = now.astimezone(ZoneInfo(hours.tz))
    spans = hours.days.get(DAYS[local.weekday()], [])
    minute = local.hour * 60 + local.minute
    return any(_minutes(start) <= minute < _minutes(end) for start, end in spans)


def pending(history: Sequence[Turn]) -> list[Turn]:
    """The customer's messages since the bot (or a human) last spoke: what this turn must answer."""
    out: list[Turn] = []
    for turn in reversed(history):
        if turn.sender_type == "contact":
            out.append(turn)
        elif turn.sender_type in ("bot", "agent"):
            break
    out.reverse()
    return out


def before_model(
    config: BotConfig,
    *,
    has_api_key: bool,
    channel_bot_enabled: bool,
    bot_turns: int,
    history: Sequence[Turn],
    agent_spoke: bool,
    now: datetime,
) -> Handoff | None:
    """The first rule that hands off, in order of precedence; None means: ask the model."""
    if agent_spoke:
        # A person already answered here (from the inbox or the phone app): they own it now.
        return Handoff(Text("handoff.agent_spoke"), None)
    if not has_api_key:
        return Handoff(Text("handoff.no_api_key"), config.holding_message, "error")
    if not channel_bot_enabled:
        return Handoff(Text("handoff.bot_off"), config.holding_message)
    if not within_hours(config.business_hours, now):
        # Outside hours the customer learns when to expect a person; the conversation waits queued.
        return Handoff(Text("handoff.outside_hours"), config.out_of_hours_message)
    keyword = asked_for_person((t.text for t in pending(history)), config.handoff_keywords)
    if keyword is not None:
        return Handoff(Text("handoff.asked_for_person", keyword=keyword), config.holding_message)
    if bot_turns >= config.max_turns:
        return Handoff(Text("handoff.turn_limit", limit=config.max_turns), config.holding_message)
    return None
