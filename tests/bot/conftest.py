"""A running app with workers on, talking to a fake OpenAI-compatible server and a fake Notifica.me.

One app per backend for the module, on its own database: the bot's jobs worker must not pick up other
tests' leftover jobs (nor their requests reach these fakes). Each test makes its own tenant and starts
with the fakes reset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inbox.config import Settings
from tests.bot.support import BotEnv
from tests.databases import migrated_database
from tests.fakes.notificame import notificame_app
from tests.fakes.openai_server import openai_app
from tests.fakes.serve import serve
from tests.support import running_app


@pytest.fixture(scope="module")
async def bot_env(
    backend_name: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotEnv]:
    model_app, model = openai_app()
    provider_app, provider = notificame_app()
    async with (
        migrated_database(backend_name, tmp_path_factory.mktemp("bot")) as url,
        serve(model_app) as model_url,
        serve(provider_app) as provider_url,
    ):
        bot_settings = settings.but(
            database_url=url,
            workers=True,
            openai_api_key="test",
            openai_base_url=model_url + "/v1",
            provider_env={"NOTIFICAME_API_URL": provider_url + "/v1"},
        )
        async with running_app(bot_settings) as app:
            yield BotEnv(app, model, provider)


@pytest.fixture
async def env(bot_env: BotEnv) -> BotEnv:
    bot_env.model.reset()
    bot_env.provider.reset()
    return bot_env
