"""A running app with workers on, talking to a fake OpenAI-compatible server and a fake Notifica.me.

One app per backend for the module, on its own database: the bot's jobs worker must not pick up other
tests' leftover jobs (nor their requests reach these fakes). Each test makes its own tenant and starts
with the fakes reset.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from inbox import models as m
from inbox.config import Settings
from inbox.db import create_engine
from inbox.migrate import migrate
from tests.conftest import create_pg_database, drop_pg_database
from tests.fakes.notificame import FakeNotificame, notificame_app
from tests.fakes.openai_server import FakeOpenAI, openai_app
from tests.fakes.serve import serve
from tests.support import App, Channel, notificame_message, running_app

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


@pytest.fixture(scope="module")
async def bot_env(
    backend_name: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotEnv]:
    if backend_name == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('bot')) / 'bot.db'}"
    else:
        url = await create_pg_database()
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    model_app, model = openai_app()
    provider_app, provider = notificame_app()
    try:
        async with serve(model_app) as model_url, serve(provider_app) as provider_url:
            bot_settings = settings.but(
                database_url=url,
                workers=True,
                openai_api_key="test",
                openai_base_url=model_url + "/v1",
                provider_env={"NOTIFICAME_API_URL": provider_url + "/v1"},
            )
            async with running_app(bot_settings) as app:
                yield BotEnv(app, model, provider)
    finally:
        if backend_name == "postgresql":
            await drop_pg_database(url)


@pytest.fixture
async def env(bot_env: BotEnv) -> BotEnv:
    bot_env.model.reset()
    bot_env.provider.reset()
    return bot_env
