"""Helpers of the bot tests: the environment (an app with workers on, a fake model, a fake
Notifica.me), polling with a deadline, a fresh customer address."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select

from inbox import models as m
from tests.fakes.notificame import FakeNotificame
from tests.fakes.openai_server import FakeOpenAI
from tests.support import App, Channel, notificame_message

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], within: float = 10.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy (bounded; never a bare sleep-and-hope)."""
    try:
        async with asyncio.timeout(within):
            while True:
                value = await check()
                if value:
                    return value
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for {what}") from None


@dataclass
class BotEnv:
    app: App
    model: FakeOpenAI
    provider: FakeNotificame

    async def rows(self, table: Any, *where: Any) -> list[Any]:
        async with self.app.runtime.engine.connect() as conn:
            order = table.c.id if "id" in table.c else table.c.seq
            return list((await conn.execute(select(table).where(*where).order_by(order))).all())

    async def conversation(self, conversation_id: int) -> Any:
        async with self.app.runtime.engine.connect() as conn:
            q = select(m.conversations).where(m.conversations.c.id == conversation_id)
            return (await conn.execute(q)).one()

    async def messages(self, conversation_id: int, sender_type: str | None = None) -> list[Any]:
        c = m.messages.c
        where = [c.conversation_id == conversation_id]
        if sender_type:
            where.append(c.sender_type == sender_type)
        return await self.rows(m.messages, *where)

    async def turns(self, conversation_id: int) -> list[Any]:
        return await self.rows(m.bot_turns, m.bot_turns.c.conversation_id == conversation_id)

    async def pending_job(self, conversation_id: int) -> bool:
        j = m.jobs.c
        return bool(await self.rows(m.jobs, j.kind == "bot", j.key == str(conversation_id)))

    async def say(self, channel: Channel, text: str, sender: str) -> int:
        """A customer message through the real webhook; returns its conversation id."""
        r = await self.app.post_webhook(channel, notificame_message(channel, text=text, sender=sender))
        assert r.status_code == 200, r.text
        c = m.messages.c
        rows = await self.rows(m.messages, c.channel_id == channel.id, c.text == text)
        return int(rows[-1].conversation_id)

    async def bot_said(self, conversation_id: int, count: int = 1) -> list[Any]:
        async def check() -> list[Any]:
            said = await self.messages(conversation_id, "bot")
            return said if len(said) >= count else []

        return await eventually(check, what=f"{count} bot message(s) in conversation {conversation_id}")

    async def settled(self, conversation_id: int, count: int = 1) -> list[Any]:
        """Wait until `count` bot turns are recorded for the conversation and no bot job is left."""

        async def check() -> list[Any]:
            turns = await self.turns(conversation_id)
            if len(turns) >= count and not await self.pending_job(conversation_id):
                return turns
            return []

        return await eventually(check, what=f"{count} bot turn(s) in conversation {conversation_id}")


def sender() -> str:
    return f"55119{secrets.randbelow(10**8):08d}"
