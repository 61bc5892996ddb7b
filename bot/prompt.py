"""What the model is sent: the system prompt with the knowledge text, a bounded history, one tool.

Owns the mapping of conversation messages to chat roles (customer -> user; bot and human replies ->
assistant). System messages and private notes never reach the model: they are internal to the team.
Consecutive messages of one role are merged, since some compatible servers (chat templates of local
models) insist that roles alternate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import BotConfig
from bot.policy import Turn

HANDOFF_TOOL = "handoff_to_human"

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": HANDOFF_TOOL,
            "description": (
                "Transfer the conversation to a human agent. Use it when the customer asks for a person, "
                "when you cannot answer from the information you were given, or when the matter needs a "
                "human (complaints, payments, personal data). After calling it, do not answer further."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {
                        "type": "string",
                        "description": "A short reason for the agent who takes over (one sentence).",
                    }
                },
                "required": ["reason"],
            },
        },
    }
]

_PLACEHOLDER = {
    "image": "[imagem]",
    "audio": "[áudio]",
    "video": "[vídeo]",
    "file": "[arquivo]",
    "location": "[localização]",
    "sticker": "[figurinha]",
    "contacts": "[contato]",
    "reaction": "[reação]",
    "unsupported": "[mensagem não suportada]",
}


def turn_text(kind: str, text: str | None) -> str:
    """A message as text for the model: its text, or a placeholder (plus caption) for media."""
    text = (text or "").strip()
    if kind == "text":
        return text
    placeholder = _PLACEHOLDER.get(kind, f"[{kind}]")
    return f"{placeholder} {text}".strip()


def system_text(config: BotConfig) -> str:
    text = config.system_prompt.strip()
    if config.knowledge.strip():
        text += (
            "\n\nInformações da empresa que você pode citar (use somente estas):\n" + config.knowledge.strip()
        )
    return text


def build_messages(config: BotConfig, history: Sequence[Turn]) -> list[dict[str, Any]]:
    """System prompt + the last `history_messages` customer/bot/agent messages, oldest first."""
    chat: list[dict[str, Any]] = []
    for turn in history[-config.history_messages :]:
        if turn.sender_type == "contact":
            role = "user"
        elif turn.sender_type in ("bot", "agent"):
            role = "assistant"
        else:
            continue
        if not turn.text:
            continue
        if chat and chat[-1]["role"] == role:
            chat[-1]["content"] += "\n" + turn.text
        else:
            chat.append({"role": role, "content": turn.text})
    return [{"role": "system", "content": system_text(config)}, *chat]
