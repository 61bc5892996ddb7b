"""The seven triggers and their timing, and the words customers answer with. Pure: no database.

A trigger names the moment an automation counts from (`anchor`): a new lead's first message, an
appointment's creation, start or completion, a resolved conversation, a birthday (09:00 in the
tenant's zone), our last message without an answer. `offset_seconds` moves the due time from there
(before the start, for a reminder); business hours move it on to the next opening.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Trigger = Literal[
    "contact.created",
    "appointment.created",
    "appointment.reminder",
    "appointment.completed",
    "conversation.resolved",
    "contact.birthday",
    "lead.no_reply",
]


@dataclass(frozen=True)
class Spec:
    default_offset: int  # seconds
    before: bool = False  # the offset counts back from the anchor (a reminder)


TRIGGERS: dict[str, Spec] = {
    "contact.created": Spec(0),
    "appointment.created": Spec(0),
    "appointment.reminder": Spec(86_400, before=True),
    "appointment.completed": Spec(3_600),
    "conversation.resolved": Spec(0),
    "contact.birthday": Spec(0),
    "lead.no_reply": Spec(86_400),
}
APPOINTMENT_TRIGGERS = ("appointment.created", "appointment.reminder", "appointment.completed")
MAX_OFFSET = 90 * 86_400
BIRTHDAY_AT = time(9, 0)
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class BusinessHours(BaseModel):
    """When an automation may send, in the tenant's zone: weekdays (0 = Monday) and a daily span."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    days: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4), min_length=1)
    start: str = Field(default="08:00", pattern=_HHMM)
    end: str = Field(default="18:00", pattern=_HHMM)

    @field_validator("days")
    @classmethod
    def _days(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 0 or d > 6 for d in v):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return tuple(sorted(set(v)))

    def span(self) -> tuple[time, time]:
        start, end = (time.fromisoformat(x) for x in (self.start, self.end))
        if end <= start:
            raise ValueError("end must be after start")
        return start, end


def next_opening(at: datetime, hours: BusinessHours, zone: tzinfo) -> datetime:
    """`at` if it falls within business hours, else the next opening after it."""
    start, end = hours.span()
    local = at.astimezone(zone)
    for days_ahead in range(8):
        day = (local + timedelta(days=days_ahead)).date()
        if day.weekday() not in hours.days:
            continue
        opens = datetime.combine(day, start, zone)
        closes = datetime.combine(day, end, zone)
        if local < opens:
            return opens.astimezone(at.tzinfo)
        if local < closes:
            return at
    raise AssertionError("a week always has an opening")  # pragma: no cover: days is never empty


def due(trigger: str, anchor: datetime, offset_seconds: int | None) -> datetime:
    """When a run of `trigger` anchored at `anchor` is due (before hours are applied)."""
    spec = TRIGGERS[trigger]
    offset = timedelta(seconds=spec.default_offset if offset_seconds is None else offset_seconds)
    return anchor - offset if spec.before else anchor + offset


def birthday_anchor(birthday: date, year: int, zone: tzinfo) -> datetime:
    """09:00 on the birthday in `year`, in the tenant's zone (29 February: the 28th off leap years)."""
    try:
        day = birthday.replace(year=year)
    except ValueError:
        day = date(year, 2, 28)
    return datetime.combine(day, BIRTHDAY_AT, zone)


def hours_of(raw: Any) -> BusinessHours | None:
    """Stored business hours, or None (lenient: an unreadable value means any time)."""
    if not isinstance(raw, dict):
        return None
    try:
        hours = BusinessHours.model_validate(raw)
        hours.span()
    except ValueError:
        return None
    return hours


# -- what customers answer ---------------------------------------------------------------------------

_SCORE_WORDS = {
    "pessimo": 1, "horrivel": 1, "terrivel": 1, "muito ruim": 1, "awful": 1, "terrible": 1,
    "ruim": 2, "bad": 2, "poor": 2,
    "regular": 3, "mais ou menos": 3, "ok": 3, "okay": 3, "razoavel": 3,
    "bom": 4, "boa": 4, "good": 4, "gostei": 4,
    "otimo": 5, "otima": 5, "excelente": 5, "muito bom": 5, "perfeito": 5, "great": 5,
    "excellent": 5, "amei": 5, "adorei": 5,
}  # fmt: skip
_OPT_OUT = {"parar", "pare", "sair", "stop", "cancelar", "descadastrar", "unsubscribe"}
_STARS = re.compile(r"^(?:nota\s*)?([1-5])(?:\s*(?:/\s*5|estrelas?|stars?|⭐+))?$")
MAX_ANSWER = 40  # longer text is a message, not an answer


def _fold(text: str) -> str:
    """Lower case, no accents, no punctuation at the ends, single spaces."""
    # ASCII has no accents to drop: every webhook's text comes through here (is_answer_word).
    plain = (
        text
        if text.isascii()
        else "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    )
    return " ".join(plain.lower().strip(" \t\n.!?,;:-*\"'()").split())


def feedback_score(text: str | None) -> int | None:
    """A feedback answer's score (1-5): a digit ("5", "nota 4", "3/5", "⭐⭐⭐⭐⭐" counts stars) or a
    word ("ótimo", "ruim"); None when the text is not such an answer."""
    if not text or len(text) > MAX_ANSWER:
        return None
    stars = _star_emoji(text)
    return stars if stars is not None else _folded_score(_fold(text))


def _star_emoji(text: str) -> int | None:
    stripped = text.strip()
    return len(stripped) if stripped and set(stripped) == {"⭐"} and len(stripped) <= 5 else None


def _folded_score(folded: str) -> int | None:
    if match := _STARS.match(folded):
        return int(match.group(1))
    return _SCORE_WORDS.get(folded)


def opts_out(text: str | None) -> bool:
    """The customer asks for no more automated messages ("parar", "sair", "stop", ...)."""
    return bool(text) and len(text or "") <= MAX_ANSWER and _fold(text or "") in _OPT_OUT


def is_answer_word(text: str | None) -> bool:
    """A message ingest must read rather than only store: a feedback score or an opt-out (the text
    folded once: every customer message is asked this)."""
    if not text or len(text) > MAX_ANSWER:
        return False
    if _star_emoji(text) is not None:
        return True
    folded = _fold(text)
    return folded in _OPT_OUT or _folded_score(folded) is not None
