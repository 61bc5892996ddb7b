"""Fixtures of the outbox tests: a database of each module's own (workers claim every due row of
their database: no row of another test is ever sent) and a shared world for a module's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inbox.config import Settings
from tests.databases import migrated_database
from tests.inbox.workers.outbox_support import World, clear_outbox, world


@pytest.fixture(scope="module")
async def outbox_db(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database(backend_name, tmp_path_factory.mktemp("outbox")) as url:
        yield url


@pytest.fixture(scope="module")
async def shared_world(settings: Settings, outbox_db: str) -> AsyncIterator[World]:
    async with world(settings, outbox_db) as wd:
        yield wd


@pytest.fixture
async def w(shared_world: World) -> AsyncIterator[World]:
    """The module's world with fresh fakes. Each test waits for its messages to settle, so nothing of
    it is in flight when the next one starts; rows still due are dropped all the same."""
    shared_world.nm.reset()
    shared_world.graph.reset()
    shared_world.nm.sent_ids.clear()
    shared_world.graph.sent_ids.clear()
    yield shared_world
    await clear_outbox(shared_world.settings.database_url)


# --- helpers -----------------------------------------------------------------------------------------
