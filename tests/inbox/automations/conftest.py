"""The end-to-end automations tests run their workers on a database of the module's own (workers
claim every due job and outbox row of their database)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.databases import migrated_database


@pytest.fixture(scope="module")
async def automations_db(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database(backend_name, tmp_path_factory.mktemp("automations")) as url:
        yield url
