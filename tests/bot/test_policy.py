"""The bot's pure parts: keyword matching, business hours, rule order, settings layers, prompt, parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from bot.config import BotConfig, BusinessHours, effective, parse_layer
from bot.model import _read
from bot.policy import Turn, asked_for_person, before_model, fold, pending, within_hours
from bot.prompt import build_messages, turn_text
from inbox.errors import Invalid

KEYWORDS = ("atendente", "humano", "pessoa", "human", "agent")


def test_fold_drops_case_and_accents() -> None:
    assert fold("ATENDÊNTE Humâno Ação") == "atendente humano acao"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Quero falar com um atendente", "atendente"),
        ("ATENDENTE!!!", "atendente"),
        ("quero um humâno por favor", "humano"),
        ("Posso falar com uma pessoa?", "pessoa"),
        ("I want a human", "human"),
        ("agent, please", "agent"),
        ("Vou passar aí pessoalmente", None),  # whole words only
        ("Sou agente de viagens", None),
        ("as pessoas dizem que é bom", None),
        ("humanidade", None),
        ("", None),
    ],
)
def test_keywords_match_whole_words(text: str, expected: str | None) -> None:
    assert asked_for_person([text], KEYWORDS) == expected


def test_keyword_phrases_and_custom_lists() -> None:
    assert (
        asked_for_person(["Quero FALAR  com   o gerente"], ["falar com o gerente"]) == "falar com o gerente"
    )
    assert asked_for_person(["quero o gerente"], ["falar com o gerente"]) is None
    assert asked_for_person(["atendente"], []) is None
    assert asked_for_person(["oi", "quero um humano"], KEYWORDS) == "humano"


WEEKDAYS = BusinessHours.model_validate(
    {
        "tz": "America/Sao_Paulo",
        "days": {"mon": ["08:00", "18:00"], "sat": [["09:00", "12:00"], ["13:00", "15:00"]]},
    }
)


@pytest.mark.parametrize(
    ("utc", "open_"),
    [
        ("2026-11-30T11:00:00", True),  # Monday 08:00 in São Paulo (UTC-3)
        ("2026-11-30T10:59:00", False),  # Monday 07:59
        ("2026-11-30T20:59:00", True),  # Monday 17:59
        ("2026-11-30T21:00:00", False),  # Monday 18:00: closing time is outside
        ("2026-12-01T12:00:00", False),  # Tuesday: not listed, closed
        ("2026-12-05T15:30:00", False),  # Saturday 12:30: the lunch gap
        ("2026-12-05T16:30:00", True),  # Saturday 13:30
    ],
)
def test_business_hours_in_the_configured_zone(utc: str, open_: bool) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert within_hours(WEEKDAYS, now) is open_


def test_no_business_hours_means_always_open() -> None:
    assert within_hours(None, datetime(2026, 12, 6, 3, 0, tzinfo=UTC))
    all_day = BusinessHours.model_validate({"days": {"sun": ["00:00", "24:00"]}})
    assert within_hours(all_day, datetime(2026, 12, 7, 2, 59, tzinfo=UTC))  # Sunday 23:59 local


@pytest.mark.parametrize(
    "hours",
    [
        {"tz": "Mars/Olympus", "days": {}},
        {"days": {"monday": ["08:00", "18:00"]}},
        {"days": {"mon": ["18:00", "08:00"]}},
        {"days": {"mon": ["8h", "18h"]}},
        {"days": {"mon": [["08:00"]]}},
        {"days": {}, "holidays": []},
    ],
)
def test_invalid_business_hours_are_refused(hours: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        parse_layer({"business_hours": hours})


def test_pending_is_what_the_customer_said_since_the_last_reply() -> None:
    history = [
        Turn(1, "contact", "oi"),
        Turn(2, "bot", "Olá!"),
        Turn(3, "contact", "quero saber o preço"),
        Turn(4, "contact", "do plano anual"),
    ]
    assert [t.id for t in pending(history)] == [3, 4]
    assert pending([*history, Turn(5, "bot", "R$ 100")]) == []
    assert [t.id for t in pending([Turn(1, "agent", "oi"), Turn(2, "contact", "x")])] == [2]


def _decide(config: BotConfig | None = None, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "has_api_key": True,
        "channel_bot_enabled": True,
        "bot_turns": 0,
        "history": [Turn(1, "contact", "qual o preço?")],
        "agent_spoke": False,
        "now": datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    }
    args.update(overrides)
    return before_model(config or BotConfig(), **args)


def test_rules_before_the_model() -> None:
    assert _decide() is None
    assert _decide(agent_spoke=True).message is None  # a human is answering: hand off silently
    no_key = _decide(has_api_key=False)
    assert (no_key.outcome, no_key.message) == ("error", BotConfig().holding_message)
    assert "OPENAI_API_KEY" in no_key.reason
    assert _decide(channel_bot_enabled=False).reason == "bot turned off for this channel"
    assert _decide(bot_turns=8).reason == "bot turn limit reached (8)"
    assert _decide(bot_turns=7) is None
    asked = _decide(history=[Turn(1, "contact", "um humano, por favor")])
    assert asked.reason == 'customer asked for a person ("humano")'
    closed = BotConfig(business_hours=BusinessHours(days={}))
    out = _decide(closed, history=[Turn(1, "contact", "atendente")])
    assert (out.reason, out.message) == ("outside business hours", closed.out_of_hours_message)
    # A keyword said before the bot's last answer is old news.
    old = [Turn(1, "contact", "humano?"), Turn(2, "bot", "Posso ajudar?"), Turn(3, "contact", "ok")]
    assert _decide(history=old) is None


def test_settings_layers_merge_and_validate() -> None:
    cfg = effective(
        {"system_prompt": "Loja X", "max_turns": 3, "handoff_keywords": ["gerente"]},
        {"max_turns": 5, "knowledge": "Frete grátis"},
    )
    assert (cfg.system_prompt, cfg.max_turns, cfg.knowledge) == ("Loja X", 5, "Frete grátis")
    assert cfg.handoff_keywords == ("gerente",)
    assert cfg.reply_timeout_seconds == 20 and cfg.history_messages == 20
    assert cfg.holding_message == "Um momento, vou chamar um atendente."
    # A stored layer that no longer validates is ignored, not fatal.
    assert effective({"max_turns": "many"}, {"bogus": 1}) == BotConfig()
    with pytest.raises(Invalid, match="max_turns"):
        parse_layer({"max_turns": 0})
    with pytest.raises(Invalid, match="bogus"):
        parse_layer({"bogus": True})


def test_prompt_maps_roles_merges_and_bounds() -> None:
    config = BotConfig(system_prompt="Seja breve.", knowledge="Abrimos às 8h.", history_messages=4)
    history = [
        Turn(1, "contact", "primeira"),
        Turn(2, "bot", "resposta"),
        Turn(3, "contact", "a"),
        Turn(4, "contact", "b"),
        Turn(5, "agent", "eco do celular"),
        Turn(6, "contact", turn_text("image", "olha a foto")),
    ]
    messages = build_messages(config, history)
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith("Seja breve.") and "Abrimos às 8h." in messages[0]["content"]
    assert messages[1:] == [
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": "eco do celular"},
        {"role": "user", "content": "[imagem] olha a foto"},
    ]
    assert turn_text("sticker", None) == "[figurinha]"


def _completion(message: dict[str, Any], finish: str = "stop") -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        }
    )


def _tool(arguments: str, name: str = "handoff_to_human") -> dict[str, Any]:
    return {"id": "t1", "type": "function", "function": {"name": name, "arguments": arguments}}


def test_reading_the_models_answer() -> None:
    assert _read(_completion({"content": " Olá! "})).text == "Olá!"
    handoff = _read(_completion({"content": None, "tool_calls": [_tool('{"reason": "quer cancelar"}')]}))
    assert (handoff.kind, handoff.reason, handoff.text) == ("handoff", "quer cancelar", None)
    broken = _read(_completion({"content": None, "tool_calls": [_tool("{not json")]}))
    assert (broken.kind, broken.reason) == ("handoff", "the model asked for a human")
    essay = _read(_completion({"content": None, "tool_calls": [_tool(json.dumps({"reason": "x" * 900}))]}))
    assert essay.reason == "x" * 500
    other_tool = _read(_completion({"content": None, "tool_calls": [_tool("{}", name="lookup")]}))
    assert (other_tool.kind, other_tool.reason) == ("error", "bot error: empty answer")
    filtered = _read(_completion({"content": "x"}, finish="content_filter"))
    assert filtered.kind == "error"
    assert _read("<html>").reason == "bot error: unusable answer (no choices)"
    assert len(_read(_completion({"content": "x" * 5000})).text or "") == 4000
